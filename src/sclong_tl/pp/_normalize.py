"""The paper's per-cell normalisation and the value scan behind :func:`~sclong_tl.pp.detect_values`.

scLong's input transform (DESIGN.md section 2), applied to a matrix already aligned to the model vocabulary:

1. raw counts only: ``y = log1p(x / total * 1e4)`` with ``total`` the cell's sum over the vocabulary genes;
2. every cell: when its maximum exceeds 10 values are clipped to 10, otherwise they are multiplied by
   ``10 / max`` so that the maximum becomes 10. Cells without any expression stay all-zero.

All arithmetic is float64 (cast to float32 at the end) and runs on the stored entries of a CSR matrix; dense input
is converted row-chunk-wise, so dense and sparse inputs give bit-identical results.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from ._chunks import iter_row_chunks, row_ids_of_entries

logger = logging.getLogger(__name__)

#: Library size every cell is scaled to before log1p (raw counts only).
TARGET_SUM = 1e4
#: Per-cell maximum after the rescaling step.
MAX_VALUE = 10.0
#: A value counts as near-integer when it lies within this distance of an integer. Measured fractions of the
#: non-zero values: CellBench counts x 1.0001 (an ambient-RNA correction) 99.7%; its CPM 1.9%; DeepDDS TPM 1.8%;
#: log1p data 0.9-1.8%. A relative tolerance would call large CPM values of small gene panels near-integer.
NEAR_INTEGER_TOLERANCE = 0.01


@dataclass
class ValueScan:
    """What a pass over a matrix found: cells with invalid values and whether all values are integers."""

    n_cells: int = 0
    n_nan_cells: int = 0
    n_inf_cells: int = 0
    n_negative_cells: int = 0
    is_integer: bool = True
    #: largest finite value seen
    max_value: float = 0.0
    #: stored non-zero finite values, and how many of them lie within :data:`NEAR_INTEGER_TOLERANCE` of an integer
    n_nonzero: int = 0
    n_near_integer: int = 0
    #: cells with a value above :data:`MAX_VALUE` (clipped by the paper's transform when the values are log1p)
    n_cells_above_max: int = 0

    def update(self, chunk: np.ndarray | sparse.csr_matrix) -> None:
        """Add one chunk of rows to the tally."""
        self.n_cells += chunk.shape[0]
        values: Any
        if sparse.issparse(chunk):
            values = chunk.data
            rows = None
        else:
            values = chunk
            rows = np.arange(chunk.shape[0])
        if values.size == 0:
            return
        if np.issubdtype(values.dtype, np.integer) or values.dtype == bool:
            values = values.astype(np.int64, copy=False)
            self.n_negative_cells += _count_rows(chunk, values < 0, rows)
            self._tally_magnitudes(chunk, values, rows, integer=True)
            return
        nan = np.isnan(values)
        inf = np.isinf(values)
        neg = values < 0
        self.n_nan_cells += _count_rows(chunk, nan, rows)
        self.n_inf_cells += _count_rows(chunk, inf, rows)
        self.n_negative_cells += _count_rows(chunk, neg, rows)
        finite = values[~(nan | inf)]
        if self.is_integer:
            self.is_integer = bool(np.all(finite == np.floor(finite)))
        self._tally_magnitudes(chunk, np.where(nan | inf, 0, values), rows, integer=self.is_integer)

    def _tally_magnitudes(self, chunk: Any, values: np.ndarray, rows: np.ndarray | None, *, integer: bool) -> None:
        nonzero = values[values != 0]
        if nonzero.size == 0:
            return
        self.max_value = max(self.max_value, float(nonzero.max()))
        self.n_nonzero += int(nonzero.size)
        if integer:
            self.n_near_integer += int(nonzero.size)
        else:
            distance = np.abs(nonzero - np.rint(nonzero))
            self.n_near_integer += int((distance <= NEAR_INTEGER_TOLERANCE).sum())
        self.n_cells_above_max += _count_rows(chunk, values > MAX_VALUE, rows)

    @property
    def fraction_near_integer(self) -> float:
        """Fraction of the non-zero values within rounding distance of an integer (1.0 when there are none)."""
        return self.n_near_integer / self.n_nonzero if self.n_nonzero else 1.0

    @property
    def is_valid(self) -> bool:
        """No NaN, infinite or negative value."""
        return not (self.n_nan_cells or self.n_inf_cells or self.n_negative_cells)

    def raise_if_invalid(self, what: str = "the expression matrix") -> None:
        """Raise a ValueError naming how many cells hold NaN, infinite or negative values, and the fix."""
        if self.is_valid:
            return
        problems = [
            f"{n:,} with {label}"
            for n, label in (
                (self.n_nan_cells, "NaN"),
                (self.n_inf_cells, "infinite values"),
                (self.n_negative_cells, "negative values"),
            )
            if n
        ]
        if self.n_negative_cells and not (self.n_nan_cells or self.n_inf_cells):
            fix = (
                "negative values mean scaled / centred data (e.g. after sc.pp.scale or a z-score), which cannot "
                "be turned back into expression: pass the counts or log1p values instead, via layer= (e.g. "
                "adata.layers['counts']) or adata.raw.to_adata()"
            )
        else:
            fix = (
                "scLong expects raw counts, per-cell normalised or log1p-normalised expression (non-negative, "
                "finite): fix or drop the affected cells (e.g. adata[np.isfinite(X).all(axis=1)]), or pass "
                "another layer via layer="
            )
        raise ValueError(
            f"{what} has invalid values in {self.n_bad_cells_upper_bound:,} of {self.n_cells:,} "
            f"cells ({'; '.join(problems)}); {fix}."
        )

    @property
    def n_bad_cells_upper_bound(self) -> int:
        """Cells with at least one invalid value (a cell with several kinds is counted once per kind)."""
        return min(self.n_cells, self.n_nan_cells + self.n_inf_cells + self.n_negative_cells)


def _count_rows(chunk: Any, mask: np.ndarray, rows: np.ndarray | None) -> int:
    """Number of rows of ``chunk`` with at least one True in ``mask`` (entries mask for CSR, full mask for dense)."""
    if not mask.any():
        return 0
    if rows is None:  # CSR: mask is over stored entries
        return int(np.unique(row_ids_of_entries(chunk)[mask]).size)
    return int(mask.reshape(mask.shape[0], -1).any(axis=1).sum())


def scan_values(X: Any, *, chunk_size: int = 1024) -> ValueScan:
    """Tally invalid values and integrality over ``X`` chunk by chunk (dense, sparse or backed)."""
    scan = ValueScan()
    for _, chunk in iter_row_chunks(X, chunk_size):
        scan.update(chunk)
    return scan


def normalize(X: Any, *, is_counts: bool) -> np.ndarray | sparse.csr_matrix:
    """Apply scLong's per-cell normalisation to a matrix already in model space (vocabulary columns).

    Counts are scaled to 1e4 per cell and log1p-transformed (``is_counts=True``); then every cell is rescaled so
    that its maximum is 10 (clipped to 10 where the maximum is larger). Cells without expression stay 0 and are
    reported in a log warning. The input is never modified.

    Parameters
    ----------
    X
        Cells x vocabulary-genes matrix (dense ndarray or scipy sparse), e.g. from
        :meth:`sclong_tl.pp.GeneMatch.to_model_space`. Library sizes are summed over these columns only, as the
        reference implementation does.
    is_counts
        Whether ``X`` is normalised per cell first: raw counts or other linear-scale values (see
        :func:`~sclong_tl.pp.detect_values`); ``False`` means already log1p-normalised.

    Returns
    -------
    A new float32 matrix of the same kind as ``X``: a dense ndarray for dense input, a CSR matrix for sparse input.

    Raises
    ------
    ValueError
        For NaN, infinite or negative values, naming how many cells are affected.
    """
    dense_input = not sparse.issparse(X)
    result, n_empty = normalize_chunk(X, is_counts=is_counts)
    if n_empty:
        logger.warning(
            "%d of %d cells have no expression over the vocabulary genes; they stay all-zero", n_empty, X.shape[0]
        )
    return result.toarray() if dense_input else result


def normalize_chunk(X: Any, *, is_counts: bool) -> tuple[sparse.csr_matrix, int]:
    """Normalise rows of ``X`` (dense or sparse); returns a float32 CSR matrix and the number of empty cells."""
    if X.ndim != 2:
        raise ValueError(f"expected a 2-D cells x genes matrix, got shape {X.shape}")
    scan = ValueScan()
    matrix = sparse.csr_matrix(X, dtype=np.float64, copy=True)
    scan.update(matrix)
    scan.raise_if_invalid("the model-space matrix")
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    data = matrix.data
    nnz_per_row = np.diff(matrix.indptr)
    nonempty = nnz_per_row > 0
    starts = matrix.indptr[:-1][nonempty]
    if is_counts and data.size:
        totals = np.add.reduceat(data, starts)
        total_per_entry = np.repeat(totals, nnz_per_row[nonempty])
        data = np.log1p(data / total_per_entry * TARGET_SUM)
    if data.size:
        maxima = np.maximum.reduceat(data, starts)
        max_per_entry = np.repeat(maxima, nnz_per_row[nonempty])
        data = np.where(max_per_entry > MAX_VALUE, np.minimum(data, MAX_VALUE), data * MAX_VALUE / max_per_entry)
    out = sparse.csr_matrix((data.astype(np.float32), matrix.indices, matrix.indptr), shape=matrix.shape)
    return out, int((~nonempty).sum())


def log_normalized(X: Any, *, is_counts: bool) -> np.ndarray:
    """Dense float32 log-normalised rows in the dataset's own gene space (the perturbation head's space).

    Parameters
    ----------
    X
        Cells x genes, dense or sparse.
    is_counts
        Whether ``X`` holds raw counts: then each cell is scaled to 1e4 over its genes and ``log1p``-transformed;
        otherwise the values are returned as they are.

    Returns
    -------
    float32 array of the shape of ``X``.
    """
    dense = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
    if is_counts:
        totals = dense.sum(axis=1, keepdims=True)
        dense = np.log1p(np.divide(dense * 1e4, totals, out=np.zeros_like(dense), where=totals > 0))
    return dense.astype(np.float32)
