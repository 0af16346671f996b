"""GRN-recovery plots (paper figure 5): precision-recall curves and AUPR-ratio / EPR bars."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._utils import AX_FIGSIZE_SHOW_SAVE, PALETTE, bar_colors, doc_params, finish, new_axes, pyplot

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd
    from matplotlib.axes import Axes


@doc_params(ax_figsize_show_save=AX_FIGSIZE_SHOW_SAVE)
def grn_pr_curves(
    predictions: Mapping[str, tuple[Sequence[int] | np.ndarray, Sequence[float] | np.ndarray] | pd.DataFrame],
    *,
    title: str | None = None,
    random_line: bool = True,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (4.2, 3.6),
    show: bool | None = None,
    save: str | os.PathLike | None = None,
) -> Axes | None:
    """Precision-recall curves of predicted networks against a ground truth, one line per method.

    Parameters
    ----------
    predictions
        ``{method: (labels, scores)}``: for the same candidate edges (e.g. every TF -> gene pair of the
        ground truth's genes), ``labels`` marks the true edges (1/0) and ``scores`` is the method's edge weight
        (larger = more confident). A DataFrame with ``label`` and ``score`` columns, as
        :func:`sclong_tl.metrics.candidate_edges` returns, is accepted in place of the pair.
    title
        Axes title.
    random_line
        Draw the precision of a random predictor (the fraction of true edges) as a dashed line, when every
        method was scored on candidate sets with the same fraction of true edges.
    {ax_figsize_show_save}

    Returns
    -------
    The Axes (one line per method, plus the random line) when ``show=False``, else None.
    """
    import numpy as np
    from sklearn.metrics import precision_recall_curve

    if not predictions:
        raise ValueError("predictions is empty")
    ax = new_axes(ax, figsize)
    prevalences = []
    for index, (method, prediction) in enumerate(predictions.items()):
        labels, scores = _labels_and_scores(method, prediction)
        if labels.shape != scores.shape or labels.ndim != 1:
            raise ValueError(
                f"{method}: labels and scores must be 1-D of the same length, got {labels.shape} and {scores.shape}"
            )
        if not np.isin(labels, (0, 1)).all() or labels.sum() == 0:
            raise ValueError(f"{method}: labels must be 0/1 with at least one true edge")
        if not np.isfinite(scores).all():
            raise ValueError(f"{method}: scores contain NaN or infinite values")
        precision, recall, _ = precision_recall_curve(labels, scores)
        ax.plot(
            recall,
            precision,
            color=PALETTE[index % len(PALETTE)],
            linewidth=1.6,
            label=str(method),
            drawstyle="steps-post",
        )
        prevalences.append(labels.mean())
    if random_line and np.allclose(prevalences, prevalences[0]):
        ax.axhline(prevalences[0], color="black", linestyle="--", linewidth=1, label="random")
    ax.set_xlabel("Recall")
    ax.set_ylabel("Precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    if title is not None:
        ax.set_title(title)
    ax.legend(frameon=False, fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return finish(ax.figure, ax, show=show, save=save)


def grn_scores(
    table: pd.DataFrame,
    *,
    metrics: Sequence[str] | None = None,
    highlight: str | Sequence[str] | None = "scLong",
    baseline: float | None = 1.0,
    sort: bool = True,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
    show: bool | None = None,
    save: str | os.PathLike | None = None,
) -> list[Axes] | None:
    """Bar charts of GRN scores per method, one panel per metric (the AUPR-ratio / EPR bars of figure 5).

    Parameters
    ----------
    table
        One row per method (the index), one column per metric, e.g. ``"AUPR ratio"`` and ``"EPR"`` from
        :func:`sclong_tl.metrics.aupr_ratio` and :func:`sclong_tl.metrics.epr`.
    metrics
        Columns to plot (default: all).
    highlight
        Method name(s) drawn in the highlight colour (case-insensitive prefix match).
    baseline
        Draw a dashed line at this value (1 = a random predictor for both ratios); None for none.
    sort
        Order each panel's bars from the highest to the lowest score.
    title
        Figure title.
    figsize
        Figure size (default: 3.6 inches wide per panel).
    show
        ``False`` returns the list of Axes; otherwise the figure is shown.
    save
        File to write the figure to (format from the suffix).

    Returns
    -------
    One Axes per metric, each with one bar per method, when ``show=False``, else None.
    """
    import numpy as np
    import pandas as pd

    if not isinstance(table, pd.DataFrame) or table.empty:
        raise ValueError("table must be a non-empty DataFrame (rows: methods, columns: metrics)")
    metrics = list(table.columns if metrics is None else metrics)
    missing = [metric for metric in metrics if metric not in table.columns]
    if missing:
        raise ValueError(f"metrics {missing} are not columns of table ({list(table.columns)})")
    values = table[metrics].astype(float)
    if not np.isfinite(values.to_numpy()).all():
        raise ValueError("table has NaN or infinite scores")
    plt = pyplot()
    figure, axes = plt.subplots(1, len(metrics), figsize=figsize or (3.6 * len(metrics), 3.2), squeeze=False)
    axes = list(axes[0])
    for ax, metric in zip(axes, metrics, strict=True):
        column = values[metric].sort_values(ascending=False, kind="stable") if sort else values[metric]
        labels = [str(label) for label in column.index]
        bars = ax.bar(
            range(len(column)), column.to_numpy(), color=bar_colors(labels, highlight), edgecolor="black", linewidth=0.6
        )
        ax.bar_label(bars, fmt="%.2f", padding=2, fontsize=7)
        ax.set_xticks(range(len(column)), labels, rotation=35, ha="right")
        ax.set_ylabel(metric)
        if baseline is not None:
            ax.axhline(baseline, color="black", linestyle="--", linewidth=1)
        ax.spines[["top", "right"]].set_visible(False)
    if title is not None:
        figure.suptitle(title)
    figure.tight_layout()
    return finish(figure, axes, show=show, save=save)


def _labels_and_scores(method: str, prediction: Any) -> tuple[np.ndarray, np.ndarray]:
    """0/1 labels and float scores from a ``(labels, scores)`` pair or a DataFrame with those columns."""
    import numpy as np
    import pandas as pd

    if isinstance(prediction, pd.DataFrame):
        missing = {"label", "score"} - set(prediction.columns)
        if missing:
            raise ValueError(f"{method}: the DataFrame lacks the columns {sorted(missing)}")
        labels, scores = prediction["label"], prediction["score"]
    else:
        labels, scores = prediction
    return np.asarray(labels), np.asarray(scores, dtype=float)
