"""Matplotlib figures of the reproductions (headless: the Agg backend, PNG files).

Every function takes plain arrays/dicts (no models) and writes one PNG to ``path``,
returning the path.
"""

from __future__ import annotations

import os
import pathlib

import matplotlib

from repsim_jax.errors import InputError

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = [
    "metric_bars",
    "metric_by_size",
    "decision_regions",
    "bound_curves",
    "bound_pairs",
    "theorem_f1",
    "spirals",
    "curves",
    "model_zoo",
]

_LOWER_IS_BETTER = ("kl_divergence", "logit_distance", "rep_dissimilarity", "procrustes_distance")


def _save(fig, path) -> pathlib.Path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _grid(count: int, columns: int = 4):
    rows = max(1, -(-count // columns))
    fig, axes = plt.subplots(rows, min(count, columns), figsize=(3.2 * min(count, columns), 2.8 * rows), squeeze=False)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, axes.flat


def metric_bars(summary: dict, path) -> pathlib.Path:
    """One panel per metric: a bar per loss at the mean, error bar ± std, dots = seeds.

    ``summary``: ``{loss: {metric: {"mean", "std", "values"}}}`` (scalar metrics).
    """
    losses = list(summary)
    names = list(dict.fromkeys(k for loss in losses for k in summary[loss]))
    if not names:
        raise InputError("metric_bars needs at least one metric")
    fig, axes = _grid(len(names))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, name in zip(axes, names):
        for i, loss in enumerate(losses):
            stats = summary[loss].get(name)
            if stats is None:
                continue
            ax.bar(i, stats["mean"], yerr=stats["std"], color=colours[i % len(colours)], alpha=0.7, capsize=4)
            ax.plot(np.full(len(stats["values"]), i), stats["values"], "k.", ms=4)
        ax.set_xticks(range(len(losses)), losses)
        arrow = "↓" if name.removeprefix("ood_") in _LOWER_IS_BETTER else "↑"
        ax.set_title(f"{name} {arrow}", fontsize=9)
    return _save(fig, path)


def metric_by_size(summary: dict, losses, sizes, metrics, path) -> pathlib.Path:
    """One panel per metric: its mean ± std over seeds against the training-set size N,
    one line per loss. ``summary["<loss> N=<N>"][metric]`` = ``{"mean", "std", ...}``."""
    shown = [m for m in metrics if all(m in summary[f"{loss} N={n}"] for loss in losses for n in sizes)]
    if not shown:
        raise InputError(f"metric_by_size: none of {list(metrics)} is in every cell")
    fig, axes = _grid(len(shown), columns=3)
    for ax, name in zip(axes, shown):
        for loss, marker in zip(losses, "os^vDx"):
            cells = [summary[f"{loss} N={n}"][name] for n in sizes]
            mean, std = np.array([c["mean"] for c in cells]), np.array([c["std"] for c in cells])
            ax.plot(sizes, mean, f"{marker}-", ms=3, label=loss)
            ax.fill_between(sizes, mean - std, mean + std, alpha=0.2)
        arrow = "↓" if name in _LOWER_IS_BETTER else "↑"
        ax.set_title(f"{name} {arrow}", fontsize=9)
        ax.set_xlabel("training points N")
        ax.legend(fontsize=7)
    return _save(fig, path)


def decision_regions(axis, labels: dict, x, y, path) -> pathlib.Path:
    """Predicted label of each model over a grid (``labels[name]`` of shape (G, G) on
    ``axis × axis``) with the points ``x`` (n, 2) coloured by their label ``y``."""
    fig, axes = _grid(len(labels))
    extent = (axis[0], axis[-1], axis[0], axis[-1])
    num_labels = int(max(np.max(y), *(np.max(v) for v in labels.values()))) + 1
    for ax, (name, grid) in zip(axes, labels.items()):
        ax.imshow(
            grid, origin="lower", extent=extent, cmap="tab10", vmin=0, vmax=9, alpha=0.35, interpolation="nearest"
        )
        ax.scatter(x[:, 0], x[:, 1], c=y, cmap="tab10", vmin=0, vmax=9, s=1.5)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(f"decision regions ({num_labels} labels); students: seed 0", fontsize=9, y=1.02)
    return _save(fig, path)


def bound_curves(curves: dict, path) -> pathlib.Path:
    """Per loss: both sides of the CCA–logit bound over epochs, mean ± std over seeds.

    ``curves[loss]``: ``{"epochs": (E,), "lhs": (S, E), "rhs": (S, E)}``; the lower
    curve is ``Σᵢ(1 − ρᵢ²)λᵢ``, the upper ``d²_logit`` (arXiv 2602.15438, Thm F.1).
    """
    fig, axes = _grid(len(curves), columns=len(curves))
    for ax, (loss, curve) in zip(axes, curves.items()):
        for side, label in (("rhs", "d²_logit (rhs)"), ("lhs", "Σ(1−ρ²)λ (lhs)")):
            mean, std = curve[side].mean(0), curve[side].std(0)
            ax.plot(curve["epochs"], mean, marker="o", ms=3, label=label)
            ax.fill_between(curve["epochs"], np.maximum(mean - std, 1e-12), mean + std, alpha=0.25)
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_title(f"{loss} student", fontsize=9)
        ax.legend(fontsize=7)
    return _save(fig, path)


def bound_pairs(rows: list[dict], names, path) -> pathlib.Path:
    """One log-log panel per bound in ``names``: rhs against lhs for every row
    (``row[name] = {"lhs", "rhs", ...}``) with the line y = x; pairs with lhs = 0 or an
    infinite rhs are counted in the panel, not drawn."""
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4), squeeze=False)
    for ax, name in zip(axes.flat, names):
        checked = [(r[name]["lhs"], r[name]["rhs"]) for r in rows if name in r]
        points = [p for p in checked if all(isinstance(v, float) and 0 < v < np.inf for v in p)]
        if len(points) < len(checked):
            ax.text(
                0.5,
                0.5,
                f"{len(checked) - len(points)} pairs not drawn:\nlhs = 0 or rhs = inf",
                transform=ax.transAxes,
                ha="center",
                va="center",
            )
        if points:
            lhs, rhs = np.array(points).T
            ax.loglog(lhs, rhs, "o", ms=4)
            low, high = min(lhs.min(), rhs.min()), max(lhs.max(), rhs.max())
            ax.loglog([low, high], [low, high], "k--", lw=1, label="y = x")
            ax.legend()
        ax.set_title(f"{name} ({len(points)} of {len(checked)} pairs drawn)")
        ax.set_xlabel("lhs")
        ax.set_ylabel("rhs")
    return _save(fig, path)


def theorem_f1(curves: dict, path) -> pathlib.Path:
    """Theorem F.1 of arXiv 2602.15438 over training, one panel per form, one colour per
    student seed: the right side (dashed) and the left side (solid) at each epoch.

    ``curves``: ``{"epochs": (E,), "seeds", "centred": {"lhs", "rhs"}, "raw": {"lhs",
    "rhs"}}`` with (S, E) arrays (:func:`repsim_jax.reproduce.theorem_f1.theorem_f1_curves`).
    Centred: ``Σᵢ(1 − ρᵢ²)λᵢ ≤ d²_logit`` (λ: covariance of the label-centred teacher
    logits). Raw, the authors' figure's quantities: ``Σᵢ(1 − ρᵢ²)μᵢ`` against
    ``(1/n)Σ‖z_t − z_s‖²`` (μ: eigenvalues of the raw teacher logits' second moment
    ``Z_tᵀZ_t/n``). λ and μ are sorted descending against descending ρ; the authors'
    figure sorts nothing.
    """
    forms = [("centred", "centred: Σ(1−ρ²)λ ≤ d²_logit"), ("raw", "raw logits: Σ(1−ρ²)μ vs (1/n)Σ‖z_t−z_s‖²")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (form, title) in zip(axes.flat, forms):
        for i, seed in enumerate(curves["seeds"]):
            colour = colours[i % len(colours)]
            ax.plot(curves["epochs"], curves[form]["rhs"][i], "--o", color=colour, ms=3)
            ax.plot(curves["epochs"], curves[form]["lhs"][i], "-o", color=colour, ms=3, label=f"seed {seed}")
        ax.plot([], [], "k--", label="rhs")
        ax.plot([], [], "k-", label="lhs")
        ax.set_xlabel("epoch")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    return _save(fig, path)


def spirals(
    x, y, path, *, min_radius: float | None = None, max_radius: float | None = None, title: str = "spirals"
) -> pathlib.Path:
    """Points ``x`` (n, 2) coloured by label ``y``, with the held-out ring's radii dashed."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or x.shape[1] != 2 or y.shape != (x.shape[0],):
        raise InputError(f"need x (n, 2) and y (n,), got {x.shape} and {y.shape}")
    fig, ax = plt.subplots(figsize=(5, 5))
    points = ax.scatter(x[:, 0], x[:, 1], c=y, cmap="tab10", s=2, vmin=0, vmax=9)
    fig.colorbar(points, ax=ax, label="label")
    angle = np.linspace(0, 2 * np.pi, 256)
    for radius in (r for r in (min_radius, max_radius) if r is not None):
        ax.plot(radius * np.cos(angle), radius * np.sin(angle), "k--", lw=0.8)
    ax.set_aspect("equal")
    ax.set_title(title)
    return _save(fig, path)


def curves(x, series: dict, path, xlabel: str, title: str) -> pathlib.Path:
    """One marked line per ``series[label]`` (values at ``x``)."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for (label, values), marker in zip(series.items(), "os^vDx"):
        ax.plot(x, values, f"{marker}-", label=label)
    ax.set_xlabel(xlabel)
    ax.legend()
    ax.set_title(title)
    return _save(fig, path)


def model_zoo(rows: list[dict], path, metrics=("logit_distance", "mean_cca", "rep_dissimilarity")) -> pathlib.Path:
    """Heatmaps of each metric over ordered model pairs (row a against column b), and a
    scatter of d_logit against m_CCA with each pair's CCA–logit floor
    ``sqrt(Σᵢ(1 − ρᵢ²)λᵢ)`` (d_logit can never fall below it).

    ``rows``: ``{"a", "b", <metric>: value, "cca_logit_floor"}`` per ordered pair."""
    names = list(dict.fromkeys([r["a"] for r in rows] + [r["b"] for r in rows]))
    index = {name: i for i, name in enumerate(names)}
    root = os.path.commonpath(names) if len(names) > 1 else os.path.dirname(names[0])
    labels = [os.path.relpath(name, root) for name in names]  # e.g. "kl/seed0", not "seed0"
    fig, axes = plt.subplots(1, len(metrics) + 1, figsize=(4.4 * (len(metrics) + 1), 4), squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        grid = np.full((len(names), len(names)), np.nan)
        for r in rows:
            grid[index[r["a"]], index[r["b"]]] = r.get(metric, np.nan)
        image = ax.imshow(grid, cmap="viridis")
        fig.colorbar(image, ax=ax, fraction=0.046)
        ax.set_xticks(range(len(names)), labels, rotation=90, fontsize=6)
        ax.set_yticks(range(len(names)), labels, fontsize=6)
        ax.set_title(metric, fontsize=9)
    ax = axes.flat[-1]
    pairs = [r for r in rows if r.get("logit_distance") is not None and r.get("mean_cca") is not None]
    ax.plot([r["mean_cca"] for r in pairs], [r["logit_distance"] for r in pairs], "o", ms=4, label="d_logit")
    floors = [r for r in pairs if r.get("cca_logit_floor") is not None]
    ax.plot(
        [r["mean_cca"] for r in floors], [r["cca_logit_floor"] for r in floors], "k_", ms=8, label="CCA–logit floor"
    )
    ax.set_xlabel("m_CCA")
    ax.set_ylabel("d_logit")
    ax.legend(fontsize=7)
    return _save(fig, path)
