"""Helpers shared by the plot functions: colours, input coercion, and the scanpy-style show/save ending."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

HIGHLIGHT_COLOR = "#c0392b"  # scLong bars / markers
OTHER_COLOR = "#8c8c8c"  # baselines
F = TypeVar("F", bound=Callable[..., Any])
PALETTE = ("#c0392b", "#2c7fb8", "#7fbc41", "#f39c12", "#8e44ad", "#16a085", "#7f8c8d", "#d35400")


#: Numpy-docstring entries of the parameters every single-Axes plot function takes (``{ax_figsize_show_save}``).
AX_FIGSIZE_SHOW_SAVE = """ax
        Axes to draw into (default: a new figure of ``figsize``).
    figsize
        Size of a new figure.
    show
        ``False`` returns the Axes; otherwise the figure is shown.
    save
        File to write the figure to (format from the suffix)."""


def doc_params(**fragments: str) -> Callable[[F], F]:
    """Fill ``{name}`` fields of the decorated function's docstring with shared fragments (as scanpy does).

    Other braces in the docstring are left as they are (no :meth:`str.format`).
    """

    def decorate(function: F) -> F:
        doc = function.__doc__ or ""
        for name, fragment in fragments.items():
            if "{" + name + "}" not in doc:
                raise ValueError(f"{function.__name__}'s docstring has no {{{name}}} field")
            doc = doc.replace("{" + name + "}", fragment)
        function.__doc__ = doc
        return function

    return decorate


def pyplot():
    """Import and return :mod:`matplotlib.pyplot` (lazily, so importing :mod:`sclong_tl.pl` stays cheap)."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - exercised only without matplotlib
        raise ImportError("sclong_tl.pl needs matplotlib: pip install 'sclong-tl[plot]'") from error
    return plt


def as_series(scores: Mapping[str, float] | pd.Series, *, name: str) -> pd.Series:
    """Coerce a ``{label: value}`` mapping or Series into a float Series, rejecting empty or non-finite input."""
    import numpy as np
    import pandas as pd

    series = scores.copy() if isinstance(scores, pd.Series) else pd.Series(dict(scores), dtype=float)
    series = series.astype(float)
    if series.empty:
        raise ValueError(f"{name} is empty")
    if not np.isfinite(series.to_numpy()).all():
        bad = list(series.index[~np.isfinite(series.to_numpy())])
        raise ValueError(f"{name} has non-finite values for {bad}")
    if series.index.has_duplicates:
        raise ValueError(f"{name} has duplicated labels: {sorted(set(series.index[series.index.duplicated()]))}")
    series.index = series.index.astype(str)
    return series


def bar_colors(labels: Sequence[str], highlight: str | Sequence[str] | None) -> list[str]:
    """Highlight colour for the labels in ``highlight`` (case-insensitive prefix match), grey for the rest."""
    if highlight is None:
        return [OTHER_COLOR] * len(labels)
    wanted = [highlight] if isinstance(highlight, str) else list(highlight)
    wanted = [item.lower() for item in wanted]
    return [
        HIGHLIGHT_COLOR if any(str(label).lower().startswith(item) for item in wanted) else OTHER_COLOR
        for label in labels
    ]


def new_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    """Return ``ax`` or the Axes of a new figure of ``figsize``."""
    if ax is not None:
        return ax
    _, ax = pyplot().subplots(figsize=figsize)
    return ax


def finish(figure: Figure | SubFigure, result: Any, *, show: bool | None, save: str | os.PathLike | None) -> Any:
    """End a plot the scanpy way: save when asked, then show (default) and return None, or return ``result``.

    Parameters
    ----------
    figure
        The figure to save.
    result
        What the plot function returns with ``show=False`` (Axes, a list of Axes, or a seaborn grid).
    show
        ``False`` returns ``result``; ``True`` or ``None`` calls :func:`matplotlib.pyplot.show` and returns None.
    save
        A file name (the format follows its suffix, e.g. ``.png`` or ``.pdf``) to write the figure to.
    """
    if save is not None:
        figure.figure.savefig(os.fspath(save), dpi=150, bbox_inches="tight")  # the root figure of a subfigure
    if show is False:
        return result
    pyplot().show()
    return None
