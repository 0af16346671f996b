"""Augmentations of training cells' counts, applied before normalisation.

They back the ``--thinning``, ``--pooling`` and ``--gene-subset`` options of ``sclong-tl pretrain`` (docs page
"Pretraining").

Each one draws per cell from that cell's own generator, so a cell's result does not depend on which other cells
are read with it (a resumed run draws the same values). All take and return CSR matrices of one shard's cells
aligned to the vocabulary, in raw (count-like) units.

- :func:`thin_counts`: binomial thinning, what sequencing the cell less deeply would have given.
- :func:`pool_counts`: the sum of the cell and a few other cells of the same shard, what a deeper
  technology (or a small pool of cells) would have given: more detected genes and lower per-gene
  normalised values than 10x data reach.
- :func:`subset_genes`: only a random part of the genes measured, as in a dataset restricted to a gene panel or to
  highly variable genes, where the normalisation total covers fewer genes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp


def _check(counts: sp.csr_matrix, rngs: Sequence[np.random.Generator]) -> None:
    if len(rngs) != counts.shape[0]:
        raise ValueError(f"{len(rngs)} generators for {counts.shape[0]} rows")


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _change_chosen_rows(
    counts: sp.csr_matrix,
    rngs: Sequence[np.random.Generator],
    fraction: float,
    min_keep: float,
    change: Callable[[np.ndarray, float, np.random.Generator], np.ndarray],
) -> sp.csr_matrix:
    """Apply ``change(values, q, rng)`` to the stored values of a random ``fraction`` of the rows.

    Each row draws, from its own generator, whether it is chosen and ``q`` (log-uniform in ``[min_keep, 1]``); the
    values ``change`` sets to zero are removed.
    """
    _check(counts, rngs)
    changed = counts.copy()
    for row, rng in enumerate(rngs):
        chosen, keep = rng.random() < fraction, _log_uniform(rng, min_keep, 1.0)
        if chosen:
            entries = slice(changed.indptr[row], changed.indptr[row + 1])
            changed.data[entries] = change(changed.data[entries], keep, rng)
    changed.eliminate_zeros()
    return changed


def thin_counts(
    counts: sp.csr_matrix, rngs: Sequence[np.random.Generator], *, fraction: float, min_keep: float
) -> sp.csr_matrix:
    """Binomially thin the counts of a random ``fraction`` of the rows (depth augmentation).

    Each chosen row keeps each of its counts with probability ``p``, log-uniform in ``[min_keep, 1]``: what
    sequencing that cell less deeply would have given. Other rows are unchanged.

    Parameters
    ----------
    counts
        Integer counts, cells x genes.
    rngs
        One generator per row (so a row's draws do not depend on the other rows).
    fraction
        Probability that a row is thinned.
    min_keep
        Smallest keep probability.

    Returns
    -------
    A new CSR matrix (explicit zeros removed).
    """
    return _change_chosen_rows(
        counts,
        rngs,
        fraction,
        min_keep,
        lambda values, keep, rng: rng.binomial(np.rint(values).astype(np.int64), keep),
    )


def pool_counts(
    counts: sp.csr_matrix, rngs: Sequence[np.random.Generator], *, fraction: float, max_cells: int
) -> sp.csr_matrix:
    """Replace a random ``fraction`` of the rows by the sum of the row and other rows (depth augmentation).

    A chosen row is summed with ``k - 1`` other rows of ``counts`` drawn without replacement, ``k`` an integer
    drawn log-uniformly from ``[2, max_cells]`` (at most the number of rows). Summed counts stay counts, so
    thinning can follow. Partners are drawn from the rows given, so pass one shard's cells.

    Parameters
    ----------
    counts
        Count-like values (counts, or CPM / TPM), cells x genes.
    rngs
        One generator per row.
    fraction
        Probability that a row is pooled.
    max_cells
        Largest number of cells summed (the row included).

    Returns
    -------
    A new CSR matrix; rows not chosen are unchanged.
    """
    _check(counts, rngs)
    if max_cells < 2:
        raise ValueError(f"max_cells must be at least 2, got {max_cells}")
    n_rows = counts.shape[0]
    combine = sp.lil_matrix((n_rows, n_rows), dtype=counts.dtype)
    for row, rng in enumerate(rngs):
        chosen = rng.random() < fraction
        n_cells = min(int(np.floor(_log_uniform(rng, 2.0, max_cells + 1.0))), max_cells, n_rows)
        combine[row, row] = 1
        if chosen and n_cells >= 2:
            others = np.delete(np.arange(n_rows), row)
            combine[row, rng.choice(others, n_cells - 1, replace=False)] = 1
    pooled = sp.csr_matrix(combine.tocsr() @ counts)
    pooled.sort_indices()
    return pooled


def subset_genes(
    counts: sp.csr_matrix, rngs: Sequence[np.random.Generator], *, fraction: float, min_keep: float
) -> sp.csr_matrix:
    """Keep only a random part of the genes of a random ``fraction`` of the rows (gene-panel augmentation).

    A chosen row keeps each gene with probability ``q``, log-uniform in ``[min_keep, 1]``, and loses the values of
    the others, as if the dataset had measured only those genes. Normalisation after it divides by the total of
    the kept genes, so the model meets the higher per-gene values of gene-panel and HVG-restricted data.

    Parameters
    ----------
    counts
        Count-like values, cells x genes.
    rngs
        One generator per row.
    fraction
        Probability that a row is restricted.
    min_keep
        Smallest fraction of genes kept.

    Returns
    -------
    A new CSR matrix (dropped values removed).
    """
    return _change_chosen_rows(
        counts,
        rngs,
        fraction,
        min_keep,
        lambda values, keep, rng: np.where(rng.random(len(values)) < keep, values, 0),
    )
