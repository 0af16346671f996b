"""Gene vectors from co-expression in single-cell data (Gene2vec's idea, as a matrix factorisation).

Gene2vec (Du et al., BMC Genomics 2019) trains skip-gram vectors on pairs of genes co-expressed across datasets;
skip-gram with negative sampling factorises a shifted pointwise mutual information (PMI) matrix of the pairs
(Levy & Goldberg, NeurIPS 2014). Here the factorisation is done directly:

1. genes co-occur in a cell when both are expressed (non-zero) in it; ``C = B^T B`` over the binary cells x genes
   matrix ``B``, for the genes expressed in at least ``min_cells`` cells (at most ``max_genes`` of them, the most
   frequently expressed);
2. positive PMI with context-distribution smoothing: ``max(0, log(C_gh N / (n_g n_h^0.75 ...)))``, i.e.
   ``log(P(g, h) / (P(g) P_0.75(h)))``, symmetrised;
3. a seeded randomised SVD; vectors = left singular vectors x sqrt(singular values), scaled to mean L2 norm 1.

Genes expressed in too few cells are not covered (the caller fills them, e.g. with GO-based vectors).
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import sparse

from ._vectors import _randomized_svd

logger = logging.getLogger(__name__)

_SMOOTHING = 0.75


def coexpression_vectors(
    expression: sparse.spmatrix | np.ndarray, dim: int, *, min_cells: int = 20, max_genes: int = 12_000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Gene vectors from the co-expression of genes across cells.

    Parameters
    ----------
    expression
        Cells x genes (non-negative; only whether a value is non-zero matters), genes in vocabulary order.
    dim
        Vector size.
    min_cells
        Genes expressed in fewer cells are not covered.
    max_genes
        At most this many genes (the most frequently expressed) are covered; bounds the ``max_genes ** 2``
        co-occurrence matrix held in memory (12,000 genes: 576 MB).
    seed
        Seed of the SVD sketch.

    Returns
    -------
    vectors
        float32 ``(genes, dim)``; zero rows for genes not covered.
    covered
        Boolean ``(genes,)``.
    """
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    binary = sparse.csr_matrix(expression, dtype=np.float32, copy=True)
    binary.data = (binary.data > 0).astype(np.float32)
    binary.eliminate_zeros()
    n_cells, n_genes = binary.shape
    frequency = np.asarray(binary.sum(axis=0)).ravel()
    candidates = np.flatnonzero(frequency >= min_cells)
    candidates = candidates[np.argsort(-frequency[candidates], kind="stable")[:max_genes]]
    covered_genes = np.sort(candidates)
    vectors = np.zeros((n_genes, dim), dtype=np.float32)
    covered = np.zeros(n_genes, dtype=bool)
    if len(covered_genes) <= dim:
        logger.warning(
            "only %d genes are expressed in >= %d cells: no co-expression vectors", len(covered_genes), min_cells
        )
        return vectors, covered
    sub = binary[:, covered_genes]
    cooccurrence = np.asarray((sub.T @ sub).toarray(), dtype=np.float64) if sparse.issparse(sub) else sub.T @ sub
    np.fill_diagonal(cooccurrence, 0.0)
    pmi = _positive_pmi(cooccurrence)
    left, singular = _randomized_svd(pmi, dim, seed)
    found = left * np.sqrt(singular)
    found /= max(float(np.linalg.norm(found, axis=1).mean()), 1e-12)
    vectors[covered_genes] = found
    covered[covered_genes] = True
    logger.info("co-expression vectors for %d genes from %d cells", len(covered_genes), n_cells)
    return vectors, covered


def _positive_pmi(cooccurrence: np.ndarray) -> np.ndarray:
    """Symmetric positive PMI with smoothed context probabilities (in place on ``cooccurrence``)."""
    total = cooccurrence.sum()
    marginal = cooccurrence.sum(axis=1)
    smoothed = marginal**_SMOOTHING
    smoothed /= smoothed.sum()
    word = marginal / max(total, 1e-12)
    with np.errstate(divide="ignore"):
        pmi = (
            np.log(cooccurrence / max(total, 1e-12))
            - np.log(np.maximum(word, 1e-300))[:, None]
            - np.log(np.maximum(smoothed, 1e-300))[None, :]
        )
    np.maximum(pmi, 0.0, out=pmi)
    pmi[~np.isfinite(pmi)] = 0.0
    return (pmi + pmi.T) / 2.0
