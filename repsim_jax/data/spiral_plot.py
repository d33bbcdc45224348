"""Scatter plot of the spirals (or any labelled 2-D points), pyplot-free."""

from __future__ import annotations

import os

import numpy as np
from matplotlib.figure import Figure


def plot_spirals(
    x: np.ndarray,
    y: np.ndarray,
    *,
    min_radius: float | None = None,
    max_radius: float | None = None,
    title: str | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """Scatter ``x`` (n, 2) coloured by label ``y``; optionally draw the OOD ring.

    Builds a :class:`matplotlib.figure.Figure` without pyplot, so it is safe under
    the Agg backend and in headless tests. Saves to ``path`` when given.
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or x.shape[1] != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"need x (n, 2) and y (n,), got {x.shape} and {y.shape}")
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    points = ax.scatter(x[:, 0], x[:, 1], c=y, cmap="tab10", s=2, vmin=0, vmax=9)
    fig.colorbar(points, ax=ax, label="label")
    angle = np.linspace(0, 2 * np.pi, 256)
    for radius in (r for r in (min_radius, max_radius) if r is not None):
        ax.plot(radius * np.cos(angle), radius * np.sin(angle), "k--", lw=0.8)
    ax.set_aspect("equal")
    ax.set_title(title or "spirals")
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig
