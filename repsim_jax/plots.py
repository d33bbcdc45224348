"""Matplotlib figures of the reproductions, written as PNG files.

Every function takes plain arrays/dicts (no models) and writes one PNG to ``path``,
returning the path. Figures are drawn with matplotlib's object API on an Agg canvas
(:class:`matplotlib.figure.Figure` with :class:`FigureCanvasAgg`): nothing here imports
pyplot or selects a backend, so importing this module or saving a figure leaves the
user's backend (a notebook's inline one, say) as it was, and saving works headless.
"""

from __future__ import annotations

import os
import pathlib

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from repsim_jax.errors import InputError

__all__ = [
    "metric_bars",
    "metric_by_size",
    "decision_regions",
    "bound_curves",
    "bound_pairs",
    "theorem_f1",
    "spirals",
    "curves",
    "layer_grid",
    "model_zoo",
    "soft_confusion",
    "training_curves",
    "steering_transfer",
]

_LOWER_IS_BETTER = ("kl_divergence", "logit_distance", "rep_dissimilarity", "procrustes_distance")
_SMALL = 8  # the smallest font size used (tick labels, legends): readable at the saved 110 dpi


def _figure(rows: int, columns: int, width: float, height: float):
    """A ``rows × columns`` grid of axes on a new Agg-backed figure (constrained layout)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, columns, squeeze=False)


def _save(fig, path) -> pathlib.Path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def _grid(count: int, columns: int = 4, width: float = 3.2, height: float = 2.8):
    """A figure with ``count`` panels, ``columns`` per row; the spare panels hidden."""
    columns = min(count, columns)
    rows = max(1, -(-count // columns))
    fig, axes = _figure(rows, columns, width * columns, height * rows)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:count])


def _colours() -> list:
    return matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]


def _arrow(name: str) -> str:
    return "↓" if name.removeprefix("ood_") in _LOWER_IS_BETTER else "↑"


def _spread(stats: dict) -> str:
    """What the ± of a summary cell is (:func:`repsim_jax.report.summarise_seeds` or
    :func:`~repsim_jax.report.summarise_teachers`)."""
    if "teacher_means" in stats:
        return f"± standard error of the weighted mean over {len(stats['teacher_means'])} teachers"
    return f"± std over {len(stats['values'])} student seeds"


def metric_bars(summary: dict, path) -> pathlib.Path:
    """One panel per metric: a bar per loss at the mean, error bar ± std over seeds (or
    the standard error of the weighted mean over teachers), dots = every student.

    ``summary``: ``{loss: {metric: {"mean", "std", "values"}}}`` (scalar metrics).
    """
    losses = list(summary)
    names = list(dict.fromkeys(k for loss in losses for k in summary[loss]))
    if not names:
        raise InputError("metric_bars needs at least one metric")
    fig, axes = _grid(len(names))
    colours = _colours()
    crowded = sum(len(loss) for loss in losses) > 14
    for ax, name in zip(axes, names):
        for i, loss in enumerate(losses):
            stats = summary[loss].get(name)
            if stats is None:
                continue
            ax.bar(i, stats["mean"], yerr=stats["std"], color=colours[i % len(colours)], alpha=0.7, capsize=4)
            ax.plot(np.full(len(stats["values"]), i), stats["values"], "k.", ms=4)
        ax.set_xticks(range(len(losses)), losses, rotation=30 if crowded else 0, ha="right" if crowded else "center")
        ax.tick_params(labelsize=_SMALL)
        ax.set_title(f"{name} {_arrow(name)}", fontsize=9)
    stats = next(s for loss in losses for s in summary[loss].values())
    fig.suptitle(f"bar: mean; error bar: {_spread(stats)}; dots: students", fontsize=9)
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
        ax.set_title(f"{name} {_arrow(name)}", fontsize=9)
        ax.set_xlabel("training points N")
        ax.tick_params(labelsize=_SMALL)
    spread = _spread(summary[f"{losses[0]} N={sizes[0]}"][shown[0]])
    fig.suptitle(f"line: mean over students; shaded band: {spread}", fontsize=9)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize=_SMALL, title="loss")
    return _save(fig, path)


def decision_regions(axis, labels: dict, x, y, path) -> pathlib.Path:
    """Predicted label of each model over a grid (``labels[name]`` of shape (G, G) on
    ``axis × axis``, the shading) with the points ``x`` (n, 2) coloured by their label
    ``y``; one colour per label, named in the legend."""
    fig, axes = _grid(len(labels), columns=4, width=2.9, height=3.0)
    extent = (axis[0], axis[-1], axis[0], axis[-1])
    num_labels = int(max(np.max(y), *(np.max(v) for v in labels.values()))) + 1
    palette = matplotlib.colormaps["tab10" if num_labels <= 10 else "tab20"]
    colours = ListedColormap([palette(k % palette.N) for k in range(num_labels)])
    scale = {"cmap": colours, "vmin": -0.5, "vmax": num_labels - 0.5}
    for ax, (name, grid) in zip(axes, labels.items()):
        ax.imshow(grid, origin="lower", extent=extent, alpha=0.35, interpolation="nearest", **scale)
        ax.scatter(x[:, 0], x[:, 1], c=y, s=1.5, **scale)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    handles = [Patch(color=colours(k), label=str(k)) for k in range(num_labels)]
    fig.legend(handles=handles, loc="outside right center", fontsize=_SMALL, title="label", title_fontsize=_SMALL)
    fig.suptitle(
        "decision regions: shading = predicted label, dots = training points (true label); students: seed 0",
        fontsize=9,
    )
    return _save(fig, path)


def bound_curves(curves: dict, path) -> pathlib.Path:
    """Per loss: both sides of the CCA–logit bound over epochs, mean ± std over seeds.

    ``curves[loss]``: ``{"epochs": (E,), "lhs": (S, E), "rhs": (S, E)}``; the lower
    curve is ``Σᵢ(1 − ρᵢ²)λᵢ``, the upper ``d²_logit`` (arXiv 2602.15438, Thm F.1).
    """
    fig, axes = _grid(len(curves), columns=len(curves), width=3.6, height=3.0)
    for ax, (loss, curve) in zip(axes, curves.items()):
        for side, label in (("rhs", "d²_logit (rhs)"), ("lhs", "Σᵢ(1−ρᵢ²)λᵢ (lhs)")):
            mean, std = curve[side].mean(0), curve[side].std(0)
            ax.plot(curve["epochs"], mean, marker="o", ms=3, label=f"{label}, mean over seeds")
            ax.fill_between(curve["epochs"], np.maximum(mean - std, 1e-12), mean + std, alpha=0.25)
        ax.set_yscale("log")
        ax.set_xlabel("student epoch")
        ax.tick_params(which="both", labelsize=_SMALL)  # log axes label minor ticks too
        ax.set_title(f"{loss} students", fontsize=9)
    axes[0].set_ylabel("squared logit distance (log scale)")
    seeds = next(iter(curves.values()))["lhs"].shape[0]
    band = Patch(color="grey", alpha=0.25, label=f"shaded: ± std over {seeds} seeds")
    handles = [*axes[0].get_legend_handles_labels()[0], band]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=_SMALL)  # below: no curve hidden
    fig.suptitle("CCA–logit bound (Thm F.1), teacher vs each student on the test split: lhs ≤ rhs", fontsize=9)
    return _save(fig, path)


def bound_pairs(rows: list[dict], names, path) -> pathlib.Path:
    """One log-log panel per bound in ``names``: rhs against lhs for every row
    (``row[name] = {"lhs", "rhs", ...}``) with the line y = x. The KL bound's rhs = KL/τ²
    overflows float32 for tiny τ: it is drawn from its finite ``log10_rhs``. Pairs with
    lhs = 0 or an rhs beyond float64 (1e308) are counted in the panel, not drawn."""

    def drawn_rhs(values):
        log10 = values.get("log10_rhs")
        if isinstance(log10, float) and np.isfinite(log10):
            return 10.0**log10 if log10 < 308 else np.inf
        return values["rhs"]

    fig, axes = _figure(1, len(names), 4.2 * len(names), 4)
    for ax, name in zip(axes.flat, names):
        checked = [(r[name]["lhs"], drawn_rhs(r[name])) for r in rows if name in r]
        points = [p for p in checked if all(isinstance(v, float) and 0 < v < np.inf for v in p)]
        if len(points) < len(checked):
            ax.text(
                0.5,
                0.5,
                f"{len(checked) - len(points)} pairs not drawn:\nlhs = 0 or rhs > 1e308",
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
    fig, axes = _figure(1, 2, 11, 4)
    colours = _colours()
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
    fig, axes = _figure(1, 1, 5, 5)
    ax = axes[0, 0]
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
    fig, axes = _figure(1, 1, 5, 3.5)
    ax = axes[0, 0]
    for (label, values), marker in zip(series.items(), "os^vDx"):
        ax.plot(x, values, f"{marker}-", label=label)
    ax.set_xlabel(xlabel)
    ax.legend()
    ax.set_title(title)
    return _save(fig, path)


def _zoo_labels(names: list[str]) -> list[str]:
    """Each model path relative to their common directory, e.g. "kl/seed0", not "seed0"."""
    root = os.path.commonpath(names) if len(names) > 1 else os.path.dirname(names[0])
    return [os.path.relpath(name, root) for name in names]


def model_zoo(rows: list[dict], path, metrics=("logit_distance", "mean_cca", "rep_dissimilarity")) -> pathlib.Path:
    """Heatmaps of each metric over ordered model pairs, and a scatter of d_logit against
    m_CCA with each pair's CCA–logit floor ``sqrt(Σᵢ(1 − ρᵢ²)λᵢ)`` (d_logit can never
    fall below it).

    ``rows``: ``{"a", "b", <metric>: value, "cca_logit_floor"}`` per ordered pair, as
    :func:`repsim_jax.compare.all_pairs` writes them: the value is the metric of model 1
    = ``a`` (the heatmap's row) against model 2 = ``b`` (its column): KL(a ‖ b), and
    d_rep maps b onto a (:func:`repsim_jax.metrics.rep_dissimilarity`), so the heatmaps
    of asymmetric metrics are not symmetric. Tick labels stay at 8 pt: the panels grow
    with the number of models, and beyond 40 only every k-th model is named.
    """
    names = list(dict.fromkeys([r["a"] for r in rows] + [r["b"] for r in rows]))
    index = {name: i for i, name in enumerate(names)}
    labels = _zoo_labels(names)
    step = -(-len(names) // 40)
    ticks = range(0, len(names), step)
    side = max(3.6, 0.14 * len(names[::step]) + 1.6)
    fig, axes = _figure(1, len(metrics) + 1, (side + 0.6) * (len(metrics) + 1), side + 0.8)
    for ax, metric in zip(axes.flat, metrics):
        grid = np.full((len(names), len(names)), np.nan)
        for r in rows:
            grid[index[r["a"]], index[r["b"]]] = r.get(metric, np.nan)
        image = ax.imshow(grid, cmap="viridis")
        fig.colorbar(image, ax=ax, fraction=0.046)
        ax.set_xticks(ticks, [labels[i] for i in ticks], rotation=90, fontsize=_SMALL)
        ax.set_yticks(ticks, [labels[i] for i in ticks], fontsize=_SMALL)
        ax.set_xlabel("model 2 (B)")
        ax.set_ylabel("model 1 (A)")
        ax.set_title(metric, fontsize=9)
    ax = axes.flat[-1]
    pairs = [r for r in rows if r.get("logit_distance") is not None and r.get("mean_cca") is not None]
    ax.plot([r["mean_cca"] for r in pairs], [r["logit_distance"] for r in pairs], "o", ms=4, label="d_logit(A, B)")
    floors = [r for r in pairs if r.get("cca_logit_floor") is not None]
    ax.plot(
        [r["mean_cca"] for r in floors],
        [r["cca_logit_floor"] for r in floors],
        "k_",
        ms=8,
        label="CCA–logit floor (A as teacher)",
    )
    ax.set_xlabel("m_CCA(A, B)")
    ax.set_ylabel("d_logit(A, B)")
    ax.tick_params(labelsize=_SMALL)
    ax.legend(fontsize=_SMALL)
    fig.suptitle(
        "ordered pairs: row = model 1 (A), column = model 2 (B); KL is KL(A ‖ B), d_rep maps B onto A", fontsize=9
    )
    return _save(fig, path)


def soft_confusion(matrices: dict, path, temperature: float, split: str) -> pathlib.Path:
    """One heatmap per model of its soft confusion matrix (:mod:`repsim_jax.soft_confusion`):
    row = true label ``i``, column = label ``j``, cell = mean over the inputs of label ``i``
    of ``softmax(z / T)_j``. One colour scale for every
    panel, from the smallest to the largest cell of all (at T = 10 the cells crowd near
    1/K, and a scale from 0 would hide their differences), so the panels compare; a label
    without inputs in the split (NaN row) is light grey. Values are written in the cells
    up to 10 labels.
    """
    if not matrices:
        raise InputError("soft_confusion needs at least one model's matrix")
    grids = {name: np.asarray(m, np.float64) for name, m in matrices.items()}
    low = min(float(np.nanmin(g)) for g in grids.values())
    top = max(float(np.nanmax(g)) for g in grids.values())
    fig, axes = _grid(len(grids), columns=4, width=3.4, height=3.2)
    colours = matplotlib.colormaps["viridis"].with_extremes(bad="lightgrey")
    for ax, (name, grid) in zip(axes, grids.items()):
        image = ax.imshow(grid, cmap=colours, vmin=low, vmax=top, interpolation="nearest")
        num_labels = grid.shape[0]
        for i, j in np.ndindex(grid.shape):
            if num_labels <= 10 and np.isfinite(grid[i, j]):
                dark = grid[i, j] < low + 0.6 * (top - low)  # white text on viridis' dark end, black on its light end
                ax.text(j, i, f"{grid[i, j]:.3f}", ha="center", va="center", fontsize=6, color="w" if dark else "k")
        ax.set_xticks(range(num_labels)), ax.set_yticks(range(num_labels))
        ax.tick_params(labelsize=_SMALL)
        ax.set_xlabel("label j", fontsize=_SMALL)
        ax.set_ylabel("true label i", fontsize=_SMALL)
        ax.set_title(name, fontsize=9)
    fig.colorbar(image, ax=axes, shrink=0.8, label=f"mean softmax(z / {temperature:g})")
    fig.suptitle(
        f"soft confusion on the {split} split: row i = mean over inputs of true label i of softmax(logits / T), "
        f"T = {temperature:g}; one colour scale for all panels",
        fontsize=9,
    )
    return _save(fig, path)


_SPLIT_STYLES = {"test": "-", "train": "--", "ood": ":"}


def training_curves(series: dict, losses, path, title: str) -> pathlib.Path:
    """One panel per quantity: each loss's weighted mean against epoch with a ±2σ band, a
    line style per split (test solid, train dashed, ood dotted); a panel whose means are
    positive and span more than two decades on a log scale.

    ``series[loss][split][label]`` = ``{"epochs", "mean", "sigma"}``
    (:func:`repsim_jax.curves.curve_data`); ``losses`` in drawing order, the baseline
    last (drawn in green). A point whose σ is NaN has no band.
    """
    labels = list(dict.fromkeys(lab for loss in losses for split in series[loss].values() for lab in split))
    if not labels:
        raise InputError("training_curves needs at least one curve")
    fig, axes = _grid(len(labels), columns=3, width=3.6, height=2.8)
    colours = {loss: colour for loss, colour in zip(losses, ["#1f4e9c", "#d2691e", "#2e8b57"])}
    for ax, label in zip(axes, labels):
        drawn = []
        for loss in losses:
            for split, panels in series[loss].items():
                if label not in panels:
                    continue
                line = panels[label]
                epochs = np.asarray(line["epochs"])
                mean, sigma = np.asarray(line["mean"], float), np.asarray(line["sigma"], float)
                style = _SPLIT_STYLES.get(split, "-.")
                ax.plot(epochs, mean, style, color=colours[loss], lw=1.5, label=f"{loss} {split}")
                ax.fill_between(epochs, mean - 2 * sigma, mean + 2 * sigma, color=colours[loss], alpha=0.15, lw=0)
                drawn.append(mean[np.isfinite(mean)])
        values = np.concatenate(drawn)
        if values.size and values.min() > 0 and values.max() > 100 * values.min():
            ax.set_yscale("log")  # e.g. d_rep² falling by decades early in training
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("epoch", fontsize=_SMALL)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=_SMALL)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=min(len(names), 6), fontsize=_SMALL)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


_STEERING_STYLES = {  # colour, line style, width: the transferred curve dashed over a wider native one
    "native": ("#1f4e9c", "-", 3.0),
    "transferred": ("#d2691e", "--", 1.5),
    "random": ("#7f7f7f", "-", 1.5),
}


def steering_transfer(rows: list[dict], path, title: str) -> pathlib.Path:
    """Two panels against the steering scale: the shift in log-probability of the target
    tokens and the KL to the unsteered model, one curve per vector (native, transferred
    dashed over it, random), a ±2σ band over the random draws.

    ``rows``: :func:`repsim_jax.lm.steering.steering_effects`'s ``{vector, scale,
    logprob_shift, kl, logprob_shift_std, kl_std}``.
    """
    if not rows:
        raise InputError("steering_transfer needs at least one row")
    fig, axes = _figure(1, 2, 7.6, 3.0)
    panels = (("logprob_shift", "Δ log p(targets) [nats]"), ("kl", "KL(steered ‖ unsteered) [nats]"))
    for ax, (key, label) in zip(axes[0], panels):
        for name in dict.fromkeys(row["vector"] for row in rows):
            mine = sorted((row for row in rows if row["vector"] == name), key=lambda row: row["scale"])
            scale = np.array([row["scale"] for row in mine])
            mean = np.array([row[key] for row in mine])
            sigma = np.array([row.get(f"{key}_std", 0.0) for row in mine])
            colour, style, width = _STEERING_STYLES.get(name, ("#2e8b57", "-", 1.5))
            ax.plot(scale, mean, style, marker="o", color=colour, lw=width, ms=3, label=name)
            ax.fill_between(scale, mean - 2 * sigma, mean + 2 * sigma, color=colour, alpha=0.15, lw=0)
        ax.axhline(0.0, color="black", lw=0.5)
        ax.set_xlabel("steering scale s", fontsize=_SMALL)
        ax.set_ylabel(label, fontsize=_SMALL)
        ax.tick_params(labelsize=_SMALL)
    axes[0][0].legend(fontsize=_SMALL)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def layer_grid(
    result: dict, path, metrics=("linear_cka", "mean_cca"), model_names=("model A", "model B")
) -> pathlib.Path:
    """Layer × layer heatmaps of two models, one panel per metric (colour scale [0, 1]):
    row = model A's layer, column = model B's layer (block index, or ``final``), the value
    written in each cell up to 16 × 16 layers.

    ``result``: :meth:`repsim_jax.layer_compare.LayerGrid.result` (``layers_1``,
    ``layers_2`` and a nested list per metric).
    """
    rows, columns = [str(layer) for layer in result["layers_1"]], [str(layer) for layer in result["layers_2"]]
    side = max(3.2, 0.3 * max(len(rows), len(columns)) + 1.6)
    fig, axes = _figure(1, len(metrics), (side + 0.6) * len(metrics), side)
    for ax, metric in zip(axes.flat, metrics):
        grid = np.asarray(result[metric], float)
        image = ax.imshow(grid, cmap="viridis", vmin=0.0, vmax=1.0, origin="lower")
        fig.colorbar(image, ax=ax, fraction=0.046)
        if len(rows) <= 16 and len(columns) <= 16:
            for (i, j), value in np.ndenumerate(grid):
                colour = "w" if value < 0.6 else "k"
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=_SMALL, color=colour)
        ax.set_xticks(range(len(columns)), columns, rotation=90, fontsize=_SMALL)
        ax.set_yticks(range(len(rows)), rows, fontsize=_SMALL)
        ax.set_xlabel(f"{model_names[1]} layer", fontsize=_SMALL)
        ax.set_ylabel(f"{model_names[0]} layer", fontsize=_SMALL)
        ax.set_title(metric, fontsize=9)
    fig.suptitle(f"layer × layer over {result['tokens']} tokens", fontsize=9)
    return _save(fig, path)
