"""Perturbation-prediction plots (paper figure 2): Seen-split bars and the GI-magnitude scatter."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._utils import AX_FIGSIZE_SHOW_SAVE, HIGHLIGHT_COLOR, PALETTE, doc_params, finish, new_axes

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd
    from matplotlib.axes import Axes


@doc_params(ax_figsize_show_save=AX_FIGSIZE_SHOW_SAVE)
def perturbation_scores(
    table: pd.DataFrame,
    *,
    y: str = "pearson",
    x: str = "split",
    hue: str = "method",
    order: Sequence[str] | None = None,
    hue_order: Sequence[str] | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (5.5, 3.2),
    show: bool | None = None,
    save: str | os.PathLike | None = None,
) -> Axes | None:
    """Grouped bars of a perturbation metric per split scenario and method (the Seen-split bars of figure 2).

    Parameters
    ----------
    table
        Long format: one row per (split, method[, repeat]) with the metric in column ``y``, e.g. the Pearson
        or MSE of predicted vs true change on the top-20 DE genes from
        :func:`sclong_tl.metrics.perturbation_scores`. Several rows for one (split, method) pair (seeds,
        conditions) are averaged, with their standard deviation as an error bar.
    y, x, hue
        Columns holding the metric, the split scenario (e.g. ``"Seen 0/1"``) and the method.
    order, hue_order
        Order of the split groups and of the methods (default: order of first appearance).
    ylabel
        y-axis label (default: ``y``).
    title
        Axes title.
    {ax_figsize_show_save}

    Returns
    -------
    The Axes (one bar container per method, one bar per split in each) when ``show=False``, else None.
    """
    import numpy as np
    import pandas as pd

    if not isinstance(table, pd.DataFrame) or table.empty:
        raise ValueError("table must be a non-empty DataFrame")
    missing = [column for column in (x, y, hue) if column not in table.columns]
    if missing:
        raise ValueError(f"columns {missing} are not in table ({list(table.columns)})")
    values = table[y].astype(float)
    if not np.isfinite(values.to_numpy()).all():
        raise ValueError(f"column {y!r} has NaN or infinite values")
    order = list(pd.unique(table[x])) if order is None else list(order)
    hue_order = list(pd.unique(table[hue])) if hue_order is None else list(hue_order)
    grouped = table.assign(**{y: values}).groupby([hue, x], sort=False)[y]
    means, spreads = grouped.mean(), grouped.std(ddof=1)
    ax = new_axes(ax, figsize)
    width = 0.8 / len(hue_order)
    positions = np.arange(len(order))
    for index, method in enumerate(hue_order):
        heights = [means.get((method, split), np.nan) for split in order]
        errors = [spreads.get((method, split), np.nan) for split in order]
        yerr = None if np.isnan(errors).all() else np.nan_to_num(errors)
        ax.bar(
            positions + (index - (len(hue_order) - 1) / 2) * width,
            heights,
            width=width,
            yerr=yerr,
            capsize=2,
            label=str(method),
            color=PALETTE[index % len(PALETTE)],
            edgecolor="black",
            linewidth=0.5,
        )
    ax.set_xticks(positions, [str(split) for split in order])
    ax.set_ylabel(ylabel or y)
    ax.axhline(0, color="black", linewidth=0.6)
    if title is not None:
        ax.set_title(title)
    ax.legend(frameon=False, fontsize=8, bbox_to_anchor=(1.0, 1.0), loc="upper left")
    ax.spines[["top", "right"]].set_visible(False)
    return finish(ax.figure, ax, show=show, save=save)


@doc_params(ax_figsize_show_save=AX_FIGSIZE_SHOW_SAVE)
def gi_scatter(
    true: Sequence[float] | np.ndarray,
    predicted: Sequence[float] | np.ndarray,
    *,
    labels: Sequence[str] | None = None,
    n_labels: int = 5,
    xlabel: str = "True GI magnitude",
    ylabel: str = "Predicted GI magnitude",
    title: str | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (3.8, 3.6),
    show: bool | None = None,
    save: str | os.PathLike | None = None,
) -> Axes | None:
    """Scatter of predicted against true genetic-interaction magnitude, one point per double perturbation.

    The magnitude is the score of :func:`sclong_tl.metrics.gi_magnitude` (``sqrt(a^2 + b^2)`` of the fit
    ``delta_ij ~ a delta_i + b delta_j + c``). The title reports the Pearson correlation, and the line
    ``y = x`` is drawn dashed.

    Parameters
    ----------
    true, predicted
        Magnitudes from the measured and from the predicted profiles, in the same order.
    labels
        Names of the double perturbations (e.g. ``"CBL+CNN1"``); the ``n_labels`` with the largest true
        magnitude are written next to their points.
    n_labels
        How many points to label.
    xlabel, ylabel, title
        Axis labels; the title defaults to the Pearson correlation.
    {ax_figsize_show_save}

    Returns
    -------
    The Axes (a scatter collection and the diagonal line) when ``show=False``, else None.
    """
    import numpy as np

    true, predicted = np.asarray(true, dtype=float), np.asarray(predicted, dtype=float)
    if true.ndim != 1 or true.shape != predicted.shape or len(true) < 2:
        raise ValueError(
            f"true and predicted must be 1-D of the same length >= 2, got {true.shape} and {predicted.shape}"
        )
    if not (np.isfinite(true).all() and np.isfinite(predicted).all()):
        raise ValueError("true and predicted must be finite")
    if labels is not None and len(labels) != len(true):
        raise ValueError(f"{len(labels)} labels for {len(true)} points")
    ax = new_axes(ax, figsize)
    ax.scatter(true, predicted, s=22, color=HIGHLIGHT_COLOR, edgecolor="black", linewidth=0.4, alpha=0.85)
    low = min(true.min(), predicted.min())
    high = max(true.max(), predicted.max())
    margin = 0.05 * (high - low or 1.0)
    ax.plot([low - margin, high + margin], [low - margin, high + margin], color="black", linestyle="--", linewidth=1)
    if labels is not None:
        for index in np.argsort(-true, kind="stable")[:n_labels]:
            ax.annotate(
                str(labels[index]),
                (true[index], predicted[index]),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
    if title is None:
        correlation = np.corrcoef(true, predicted)[0, 1] if true.std() > 0 and predicted.std() > 0 else np.nan
        title = f"Pearson r = {correlation:.2f} (n = {len(true)})"
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.spines[["top", "right"]].set_visible(False)
    return finish(ax.figure, ax, show=show, save=save)
