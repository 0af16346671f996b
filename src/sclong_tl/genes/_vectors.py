"""Initial gene vectors for new models: a GO-based stand-in for Gene2vec, or a user's Gene2vec file.

scLong initialises both gene-embedding tables from Gene2vec's 200-d vectors, which are not redistributable here.
The default is a deterministic truncated SVD of the gene x GO-term matrix:

1. rows: vocabulary genes; columns: GO terms; entry ``idf(term) = log(n_annotated / n_genes_with_term)`` where the
   gene has the term (so ubiquitous terms such as "protein binding" weigh little), rows L2-normalised;
2. a randomised SVD (seeded Gaussian sketch with ``dim + 30`` columns, 4 power iterations, then an exact
   eigendecomposition of the small projected Gram matrix); each component's sign is fixed so that its
   largest-magnitude gene loading is positive; gene vectors = left singular vectors x singular values;
3. scaled so that annotated genes' vectors have mean L2 norm 1. Genes without GO terms get Gaussian vectors of the
   same scale, seeded from ``seed`` and their gene ID (the same gene gets the same vector in any vocabulary).

Genes with similar GO annotations get similar vectors, which is what Gene2vec's co-expression vectors provide too.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from scipy import sparse

logger = logging.getLogger(__name__)

_POWER_ITERATIONS = 4
_OVERSAMPLING = 30


def _idf_matrix(genes: Sequence[str], gene2go: Mapping[str, Iterable[str]]) -> sparse.csr_matrix:
    """Row-normalised gene x GO-term IDF matrix (all-zero rows for unannotated genes)."""
    term_index: dict[str, int] = {}
    rows, cols = [], []
    for row, gene in enumerate(genes):
        for term in sorted(set(gene2go.get(gene, ()))):
            rows.append(row)
            cols.append(term_index.setdefault(term, len(term_index)))
    matrix = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(genes), max(len(term_index), 1)))
    n_annotated = int((np.diff(matrix.indptr) > 0).sum())
    frequency = np.maximum(np.asarray(matrix.sum(axis=0)).ravel(), 1.0)
    matrix = sparse.csr_matrix(matrix @ sparse.diags(np.log(max(n_annotated, 1) / frequency) + 1e-3))
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    return sparse.csr_matrix(sparse.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ matrix)


def _orthonormalize(block: np.ndarray, passes: int = 1) -> np.ndarray:
    """Orthonormal basis of ``block``'s columns via its Gram matrix (a second pass restores full accuracy).

    Used instead of a Householder QR, which is orders of magnitude slower than a Gram product for these tall,
    thin matrices with some BLAS builds; directions with negligible weight are dropped.
    """
    for _ in range(passes):
        values, vectors = np.linalg.eigh(block.T @ block)
        usable = values > values.max() * 1e-12
        block = block @ (vectors[:, usable] / np.sqrt(values[usable]))
    return block


def _randomized_svd(matrix: sparse.csr_matrix, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` left singular vectors and values of ``matrix`` (deterministic for a given seed)."""
    rng = np.random.default_rng(seed)
    width = min(k + _OVERSAMPLING, min(matrix.shape))
    basis = _orthonormalize(matrix @ rng.standard_normal((matrix.shape[1], width)))
    for _ in range(_POWER_ITERATIONS):
        basis = _orthonormalize(matrix @ _orthonormalize(matrix.T @ basis))
    basis = _orthonormalize(basis, passes=2)
    projected = np.asarray((matrix.T @ basis).T)  # (width, terms): matrix ~ basis @ projected
    values, vectors = np.linalg.eigh(projected @ projected.T)
    top = np.argsort(values)[::-1][:k]
    left = basis @ vectors[:, top]
    singular = np.sqrt(np.maximum(values[top], 0.0))
    signs = np.sign(left[np.abs(left).argmax(axis=0), np.arange(left.shape[1])])
    return left * np.where(signs == 0, 1.0, signs), singular


def _gene_noise(gene: str, dim: int, seed: int) -> np.ndarray:
    return np.random.default_rng([seed, zlib.crc32(gene.encode())]).standard_normal(dim) / np.sqrt(dim)


def go_svd_vectors(
    genes: Sequence[str], dim: int, *, gene2go: Mapping[str, Iterable[str]] | None = None, seed: int = 0
) -> np.ndarray:
    """GO-based gene vectors (truncated SVD of the gene x GO-term IDF matrix; see the module docstring).

    Parameters
    ----------
    genes
        Vocabulary (Ensembl IDs) in token order.
    dim
        Vector size.
    gene2go
        Gene -> GO terms; default: the shipped annotations (:func:`load_gene2go`).
    seed
        Seed of the SVD sketch and of the vectors of unannotated genes.

    Returns
    -------
    float32 array (len(genes), dim).
    """
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    if gene2go is None:
        from ._vocabulary import load_gene2go

        gene2go = load_gene2go()
    genes = [str(g) for g in genes]
    matrix = _idf_matrix(genes, gene2go)
    annotated = np.diff(matrix.indptr) > 0
    vectors = np.zeros((len(genes), dim))
    k = min(dim, int(annotated.sum()), matrix.shape[1])
    if k > 0:
        left, singular = _randomized_svd(matrix, k, seed)
        vectors[:, :k] = left * singular
        vectors[annotated] /= np.linalg.norm(vectors[annotated], axis=1).mean()
    for row in np.flatnonzero(~annotated):
        vectors[row] = _gene_noise(genes[row], dim, seed)
    return vectors.astype(np.float32)


def read_gene2vec(source: str | os.PathLike | np.ndarray, genes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read user-supplied Gene2vec vectors for a vocabulary.

    Parameters
    ----------
    source
        A ``.npy`` file or array with one row per vocabulary gene in token order (like the official
        ``selected_gene2vec_27k.npy``), or a text file in Gene2vec's format: one gene per line, ``SYMBOL v1 v2 ...``
        (whitespace separated; a word2vec ``"<n> <dim>"`` header line is skipped). Text symbols (or Ensembl IDs)
        are mapped to the vocabulary with the shipped symbol tables.
    genes
        Vocabulary (Ensembl IDs) in token order.

    Returns
    -------
    ``(vectors, found)``: float32 (len(genes), d) with zero rows for genes the file lacks, and a boolean mask of the
    genes it provided.
    """
    if isinstance(source, np.ndarray) or Path(source).suffix == ".npy":
        array = source if isinstance(source, np.ndarray) else np.load(source, allow_pickle=False)
        if array.ndim != 2 or array.shape[0] != len(genes):
            raise ValueError(
                f"Gene2vec array has shape {array.shape}; expected one row per vocabulary gene "
                f"({len(genes)}, dim) in token order"
            )
        if not np.isfinite(array).all():
            raise ValueError("Gene2vec array contains NaN or infinite values")
        return np.asarray(array, dtype=np.float32), np.ones(len(genes), dtype=bool)
    return _read_gene2vec_text(Path(source), genes)


def _read_gene2vec_text(path: Path, genes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    from ._symbols import symbol_to_ensembl

    names, rows = [], []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            fields = line.split()
            if not fields or (number == 0 and len(fields) == 2 and all(f.isdigit() for f in fields)):
                continue
            names.append(fields[0])
            rows.append(np.asarray(fields[1:], dtype=np.float64))
    if not rows:
        raise ValueError(f"no vectors found in {path}")
    dims = {row.size for row in rows}
    if len(dims) != 1:
        raise ValueError(f"{path}: lines have different numbers of values {sorted(dims)}")
    position = {str(g): i for i, g in enumerate(genes)}
    ids = symbol_to_ensembl(names, vocabulary=position)["ensembl_id"].tolist()
    vectors = np.zeros((len(genes), dims.pop()), dtype=np.float32)
    found = np.zeros(len(genes), dtype=bool)
    for eid, row in zip(ids, rows, strict=True):
        if eid and not found[position[eid]]:  # first line wins for a gene listed twice
            vectors[position[eid]] = row
            found[position[eid]] = True
    logger.info(
        "read %d Gene2vec vectors from %s: %d of %d vocabulary genes covered",
        len(rows),
        path.name,
        int(found.sum()),
        len(genes),
    )
    return vectors, found


def initial_gene_vectors(
    genes: Sequence[str],
    dim: int,
    *,
    gene2go: Mapping[str, Iterable[str]] | None = None,
    gene2vec: str | os.PathLike | np.ndarray | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Initial gene vectors for a new scLong model (both gene-embedding tables start from these).

    Parameters
    ----------
    genes
        Vocabulary (Ensembl IDs) in token order, without the pad position.
    dim
        Vector size (the model's ``base_dim``; 200 for official scLong, as Gene2vec).
    gene2go
        Gene -> GO terms for the GO-based vectors; default: the shipped annotations.
    gene2vec
        Optional Gene2vec vectors (see :func:`read_gene2vec`): ``.npy`` / array rows in vocabulary order, or the
        original text format. Genes the file lacks get GO-based vectors rescaled to the file's mean vector norm.
    seed
        Seed of the GO-based vectors.

    Returns
    -------
    float32 array (len(genes), dim); deterministic for given arguments.
    """
    if gene2vec is None:
        return go_svd_vectors(genes, dim, gene2go=gene2go, seed=seed)
    vectors, found = read_gene2vec(gene2vec, genes)
    if vectors.shape[1] != dim:
        raise ValueError(f"Gene2vec vectors have {vectors.shape[1]} dimensions but dim={dim} was requested")
    if found.all():
        return vectors
    fill = go_svd_vectors(genes, dim, gene2go=gene2go, seed=seed)
    scale = np.linalg.norm(vectors[found], axis=1).mean() if found.any() else 1.0
    vectors[~found] = fill[~found] * scale
    logger.info(
        "%d of %d genes are not in the Gene2vec file; they get GO-based vectors", int((~found).sum()), len(genes)
    )
    return vectors
