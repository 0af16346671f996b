"""Row-chunked access to expression matrices (dense, scipy sparse, h5py / anndata backed) without densifying."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from scipy import sparse


def n_rows(X: Any) -> int:
    """Number of cells (rows) of a matrix-like object."""
    return int(X.shape[0])


def as_row_sliceable(X: Any) -> Any:
    """Return ``X`` in a form whose row slices are cheap: CSC / COO / other sparse formats become CSR."""
    if sparse.issparse(X) and X.format != "csr":
        return sparse.csr_matrix(X)
    return X


def read_rows(X: Any, start: int, stop: int) -> np.ndarray | sparse.csr_matrix:
    """Rows ``start:stop`` of ``X`` as a dense ndarray or a CSR matrix (never a view the caller could modify)."""
    chunk = X[start:stop]
    if sparse.issparse(chunk):
        return sparse.csr_matrix(chunk)
    return np.asarray(chunk)


def iter_row_chunks(X: Any, chunk_size: int) -> Iterator[tuple[int, np.ndarray | sparse.csr_matrix]]:
    """Yield ``(start, rows)`` chunks of at most ``chunk_size`` rows, dense or CSR as stored."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    X = as_row_sliceable(X)
    total = n_rows(X)
    for start in range(0, total, chunk_size):
        yield start, read_rows(X, start, min(start + chunk_size, total))


def row_ids_of_entries(chunk: sparse.csr_matrix) -> np.ndarray:
    """Row index of every stored entry of a CSR matrix."""
    return np.repeat(np.arange(chunk.shape[0]), np.diff(chunk.indptr))
