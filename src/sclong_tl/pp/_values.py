"""What an expression matrix holds, and how scLong's input transform treats it (the tools' ``values=`` option).

Kinds of values and what they get (measured on the real data in ``tests/data`` and ``../shared/data``):

``"counts"``
    Non-negative integers (CellBench, Baron, celltypist, pbmc3k). Normalised per cell to 1e4 and ``log1p``
    (the paper's transform).
``"near_integer_counts"``
    At least 99% of the non-zero values within 0.01 of an integer (CellBench counts x 1.0001, as after an
    ambient-RNA correction: 99.7%; its CPM 1.9%, DeepDDS TPM 1.8%, log1p data under 2%). Treated as counts.
``"normalized"``
    Non-integer values on a linear scale: CPM, TPM, counts divided by size factors, fractional ambient-corrected
    counts. Recognised by a maximum above :data:`LOG_MAX_VALUE` (CellBench CPM: smallest cell maximum 6,090;
    DeepDDS TPM: 1,030; log2(CPM + 1) of the same cells: at most 16.4). Normalised per cell to 1e4 and
    ``log1p``, exactly what the transform does to counts (for CPM the result equals that of the counts).
``"log1p"``
    Non-integer values up to :data:`LOG_MAX_VALUE` (pbmc68k ``.raw``: max 6.5; log1p of CellBench per 1e4: 6.7,
    of its CPM: 11.3). Used as they are, each cell rescaled to a maximum of 10; values above 10 are clipped to 10
    as the reference does, with a warning naming how many cells are affected.

NaN, infinite and negative values (scaled / centred data: pbmc68k ``X``, per-gene z-scores) are refused with
an error naming the fix. ``values=`` overrides the detection; an override that contradicts the data warns, and
``values="log1p"`` on values far above any log1p value is an error (they would be clipped to 10 wholesale).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from sclong_tl._warnings import warn_user

from ._normalize import MAX_VALUE, ValueScan, scan_values

logger = logging.getLogger(__name__)

Values = Literal["auto", "counts", "normalized", "log1p"]
#: Accepted ``values=`` settings.
VALUES: tuple[str, ...] = ("auto", "counts", "normalized", "log1p")
#: Kinds :func:`detect_values` reports.
KINDS: tuple[str, ...] = ("counts", "near_integer_counts", "normalized", "log1p")
#: Largest value a log-scaled expression matrix holds: log2(1e6 + 1) = 19.9 (natural log1p of 1e6: 13.8).
LOG_MAX_VALUE = 20.0
#: Fraction of near-integer non-zero values above which non-integer data are read as counts.
NEAR_INTEGER_FRACTION = 0.99
_COUNT_LIKE = ("counts", "near_integer_counts", "normalized")


@dataclass(frozen=True)
class ValueKind:
    """What :func:`detect_values` found.

    Attributes
    ----------
    kind
        One of :data:`KINDS`.
    source
        ``"detected"`` or ``"given"`` (from ``values=``).
    max_value
        The largest value of the matrix.
    n_cells_clipped
        Cells with log1p values above 10 (clipped to 10 by the transform); 0 for count-like kinds.
    """

    kind: str
    source: str
    max_value: float
    n_cells_clipped: int = 0

    @property
    def is_counts(self) -> bool:
        """Whether the transform normalises the values per cell to 1e4 and applies ``log1p`` (all but log1p)."""
        return self.kind in _COUNT_LIKE

    def to_dict(self) -> dict[str, Any]:
        """h5ad-writable summary (what the tools record as ``params["values"]``)."""
        return {
            "kind": self.kind,
            "source": self.source,
            "max_value": self.max_value,
            "n_cells_clipped": self.n_cells_clipped,
        }


def check_values_option(values: str) -> None:
    """Raise a ValueError for a ``values=`` setting outside :data:`VALUES` (before any heavy work)."""
    if values not in VALUES:
        raise ValueError(f"values must be one of {VALUES}, got {values!r}")


def classify(scan: ValueScan) -> str:
    """The kind of a valid (finite, non-negative) matrix from its scan; see the module notes."""
    if scan.is_integer:
        return "counts"
    if scan.fraction_near_integer >= NEAR_INTEGER_FRACTION and scan.max_value >= 1:
        return "near_integer_counts"
    if scan.max_value > LOG_MAX_VALUE:
        return "normalized"
    return "log1p"


def detect_values(
    X: Any,
    *,
    values: str = "auto",
    what: str = "the expression matrix",
    chunk_size: int = 1024,
    scan: ValueScan | None = None,
) -> ValueKind:
    """Find what ``X`` holds and how scLong's input transform must treat it.

    Parameters
    ----------
    X
        Cells x genes: dense, scipy sparse or backed; read chunk by chunk.
    values
        ``"auto"`` detects (see the module notes); ``"counts"``, ``"normalized"`` (linear-scale per-cell
        normalised values: CPM, TPM, size-factor scaled) and ``"log1p"`` state it.
    what
        How error messages name the matrix.
    chunk_size
        Rows read at a time.
    scan
        A scan of ``X`` already made (:func:`~sclong_tl.pp._normalize.scan_values`).

    Returns
    -------
    A :class:`ValueKind`; its ``is_counts`` says which branch of the transform applies.

    Raises
    ------
    ValueError
        For NaN, infinite or negative values (the message says how many cells and the fix), for an unknown
        ``values``, and for ``values="log1p"`` when the largest value exceeds :data:`LOG_MAX_VALUE`.
    """
    check_values_option(values)
    scan = scan_values(X, chunk_size=chunk_size) if scan is None else scan
    scan.raise_if_invalid(what)
    found = classify(scan)
    kind, source = (found, "detected") if values == "auto" else (values, "given")
    if values == "counts" and found in ("near_integer_counts", "normalized"):
        kind = found if found == "near_integer_counts" else "counts"
    _check_given(kind, found, scan, what, source)
    clipped = scan.n_cells_above_max if kind == "log1p" else 0
    result = ValueKind(kind=kind, source=source, max_value=scan.max_value, n_cells_clipped=clipped)
    logger.debug("%s holds %s values (%s; max %.4g)", what, kind, source, scan.max_value)
    if clipped:
        warn_user(
            f"{what} holds log1p values above {MAX_VALUE:g} in {clipped:,} of {scan.n_cells:,} cells "
            f"(max {scan.max_value:.3g}); scLong's transform clips them to {MAX_VALUE:g}, as the reference "
            "does. log1p of counts per 1e4 (sc.pp.normalize_total(target_sum=1e4); sc.pp.log1p) stays below "
            "9.3: pass raw counts (layer=, values='counts') or linear-scale values (values='normalized') to "
            "avoid the clipping."
        )
    return result


def _check_given(kind: str, found: str, scan: ValueScan, what: str, source: str) -> None:
    """Warn or raise when ``values=`` contradicts the data."""
    if source != "given" or kind == found:
        return
    if kind == "log1p" and found in ("counts", "near_integer_counts", "normalized") and scan.max_value > LOG_MAX_VALUE:
        raise ValueError(
            f"values='log1p' but {what} reaches {scan.max_value:.4g}, far above any log1p value "
            f"(log1p of 1e6 is 13.8); the transform would clip nearly every value to {MAX_VALUE:g}. "
            f"These look like {found.replace('_', ' ')}: pass values='auto' (or "
            f"values='{'normalized' if found == 'normalized' else 'counts'}')"
        )
    if kind == "log1p" and found == "counts" and scan.max_value > 0:
        warn_user(
            f"values='log1p' but {what} holds only integers (raw counts?); they are used as log1p values. "
            "Pass values='auto' to normalise counts."
        )
    elif kind in _COUNT_LIKE and found == "log1p":
        warn_user(
            f"values={kind!r} but {what} looks log-transformed (non-integer, max {scan.max_value:.3g}); "
            "it is normalised per cell to 1e4 and log1p-transformed again. Pass values='auto' or 'log1p' "
            "if the values are log1p."
        )


def detect_counts(X: Any, *, chunk_size: int = 1024) -> bool:
    """Whether scLong's transform normalises ``X`` per cell before ``log1p`` (i.e. ``X`` is not log1p data).

    True for raw counts, near-integer counts and linear-scale normalised values (CPM, TPM); False for log1p
    values. Works chunk-wise on dense arrays, scipy sparse matrices and backed (``backed='r'``) matrices.

    Parameters
    ----------
    X
        Cells x genes matrix.
    chunk_size
        Rows read at a time.

    Returns
    -------
    ``detect_values(X).is_counts`` (an all-zero matrix counts as counts).

    Raises
    ------
    ValueError
        When ``X`` contains NaN, infinite or negative values; the message names how many cells are affected.
    """
    return detect_values(X, chunk_size=chunk_size).is_counts
