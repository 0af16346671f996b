"""Augmentations of training cells (thinning, pooling, gene subsets) and co-expression gene vectors."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

from sclong_tl.genes import coexpression_vectors
from sclong_tl.train import pool_counts, subset_genes
from sclong_tl.train._data import ShardStream, StreamPosition, thin_counts

DATA = Path(__file__).resolve().parent / "data"
SHARDS = [str(DATA / "train" / "pbmc3k_shard_a.h5ad"), str(DATA / "train" / "pbmc3k_shard_b.h5ad")]
GENES = (DATA / "train" / "genes.txt").read_text().split()


def _counts() -> sp.csr_matrix:
    return sp.csr_matrix(ad.read_h5ad(SHARDS[0]).X, dtype=np.float32)


def test_thinning_keeps_integer_counts_below_the_originals_at_the_drawn_depth():
    counts = _counts()
    rngs = [np.random.default_rng([0, row]) for row in range(counts.shape[0])]
    thinned = thin_counts(counts, rngs, fraction=1.0, min_keep=0.1)
    dense, original = thinned.toarray(), counts.toarray()
    assert (dense <= original).all() and np.array_equal(dense, np.rint(dense))
    ratio = dense.sum(axis=1) / original.sum(axis=1)
    assert ratio.min() >= 0.05 and ratio.max() <= 1.0 and ratio.std() > 0.1  # per-cell depths spread widely
    # each row's total follows its drawn keep probability (the row's generator: first the choice, then p)
    expected = []
    for row in range(counts.shape[0]):
        rng = np.random.default_rng([0, row])
        rng.random()
        expected.append(np.exp(rng.uniform(np.log(0.1), 0.0)))
    assert np.abs(ratio - np.array(expected)).max() < 0.08


def test_thinning_fraction_zero_changes_nothing_and_rows_do_not_depend_on_each_other():
    counts = _counts()
    rngs = [np.random.default_rng([1, row]) for row in range(counts.shape[0])]
    assert (thin_counts(counts, rngs, fraction=0.0, min_keep=0.1) != counts).nnz == 0
    full = thin_counts(
        counts, [np.random.default_rng([2, row]) for row in range(counts.shape[0])], fraction=1.0, min_keep=0.2
    )
    part = thin_counts(
        counts[5:9], [np.random.default_rng([2, row]) for row in range(5, 9)], fraction=1.0, min_keep=0.2
    )
    assert (full[5:9] != part).nnz == 0
    with pytest.raises(ValueError, match="generators"):
        thin_counts(counts, rngs[:3], fraction=1.0, min_keep=0.1)


def test_stream_thins_training_cells_only_and_resumes_with_the_same_draws():
    plain = ShardStream(SHARDS, GENES, seed=3, validation_fraction=0.1, min_genes=20)
    thinned = ShardStream(
        SHARDS, GENES, seed=3, validation_fraction=0.1, min_genes=20, thinning=1.0, thinning_min_keep=0.05
    )
    np.testing.assert_array_equal(plain.validation_cells(64).toarray(), thinned.validation_cells(64).toarray())
    batches = [b for b, _ in thinned.iter_epoch(StreamPosition(), 4)]
    plain_batches = [b for b, _ in plain.iter_epoch(StreamPosition(), 4)]
    genes_thinned = np.concatenate([(b > 0).sum(axis=1) for b in batches])
    genes_plain = np.concatenate([(b > 0).sum(axis=1) for b in plain_batches])
    assert genes_thinned.mean() < 0.8 * genes_plain.mean()
    # resuming 10 cells into the epoch (inside a block) yields exactly the cells an uninterrupted pass yields
    stream = ShardStream(
        SHARDS, GENES, seed=3, validation_fraction=0.1, min_genes=20, thinning=1.0, thinning_min_keep=0.05
    )
    resumed = np.concatenate([b for b, _ in stream.iter_epoch(StreamPosition(0, 10), 1)])
    uninterrupted = np.concatenate([b for b, _ in stream.iter_epoch(StreamPosition(), 1)])
    np.testing.assert_array_equal(resumed, uninterrupted[-len(resumed) :])


def test_coexpression_vectors_place_coexpressed_genes_together():
    counts = _counts()
    vectors, covered = coexpression_vectors(counts, 8, min_cells=10, max_genes=300, seed=0)
    assert vectors.shape == (counts.shape[1], 8) and vectors.dtype == np.float32
    assert 8 < covered.sum() <= 300 and not vectors[~covered].any()
    assert np.linalg.norm(vectors[covered], axis=1).mean() == pytest.approx(1.0, rel=1e-4)
    again, _ = coexpression_vectors(counts, 8, min_cells=10, max_genes=300, seed=0)
    np.testing.assert_array_equal(vectors, again)
    # genes whose expression co-occurs most are closer than random pairs of covered genes
    binary = (counts[:, covered].toarray() > 0).astype(float)
    binary = binary[:, binary.std(axis=0) > 0]
    vectors_varying = vectors[covered][(counts[:, covered].toarray() > 0).std(axis=0) > 0]
    correlation = np.corrcoef(binary.T)
    np.fill_diagonal(correlation, -1)
    unit = vectors_varying / np.linalg.norm(vectors_varying, axis=1, keepdims=True)
    cosine = unit @ unit.T
    top_pairs = np.argsort(correlation, axis=None)[-50:]
    assert cosine.flat[top_pairs].mean() > np.mean(cosine) + 0.2


def test_stream_does_not_thin_per_million_scaled_shards(tmp_path):
    # CPM of real counts is normalised like counts but is not countable: thinning must leave it alone
    adata = ad.read_h5ad(SHARDS[0])
    counts = sp.csr_matrix(adata.X, dtype=np.float64)
    totals = np.asarray(counts.sum(axis=1)).ravel()
    adata.X = sp.csr_matrix(sp.diags(1e6 / totals) @ counts, dtype=np.float32)
    path = tmp_path / "cpm.h5ad"
    adata.write_h5ad(path)
    plain = ShardStream([str(path)], GENES, seed=3, validation_fraction=0.1, min_genes=20)
    thinned = ShardStream([str(path)], GENES, seed=3, validation_fraction=0.1, min_genes=20, thinning=1.0)
    first = np.concatenate([b for b, _ in plain.iter_epoch(StreamPosition(), 8)])
    second = np.concatenate([b for b, _ in thinned.iter_epoch(StreamPosition(), 8)])
    np.testing.assert_array_equal(first, second)


def test_pooling_sums_the_cell_with_other_cells_of_the_same_rows():
    counts = _counts()[:40]
    rngs = [np.random.default_rng([5, row]) for row in range(counts.shape[0])]
    pooled = pool_counts(counts, rngs, fraction=1.0, max_cells=6)
    dense, original = pooled.toarray(), counts.toarray()
    ratio = dense.sum(axis=1) / original.sum(axis=1)
    # every row now holds its own counts plus 1 to 5 other rows' counts: more genes detected, deeper
    assert (dense >= original).all() and (ratio > 1).all()
    assert ((dense > 0).sum(axis=1) > (original > 0).sum(axis=1)).all()
    for row in range(5):
        # the added counts are an exact sum of other whole rows
        rest = dense[row] - original[row]
        others = np.delete(original, row, axis=0)
        used = np.linalg.lstsq(others.T, rest, rcond=None)[0]
        assert np.allclose(others.T @ np.round(used), rest) and 1 <= np.round(used).sum() <= 5
    untouched = pool_counts(counts, rngs, fraction=0.0, max_cells=6)
    assert (untouched != counts).nnz == 0
    with pytest.raises(ValueError, match="max_cells"):
        pool_counts(counts, rngs, fraction=1.0, max_cells=1)


def test_gene_subset_keeps_a_part_of_each_chosen_cells_values_unchanged():
    counts = _counts()[:40]
    rngs = [np.random.default_rng([6, row]) for row in range(counts.shape[0])]
    subset = subset_genes(counts, rngs, fraction=1.0, min_keep=0.05).toarray()
    original = counts.toarray()
    kept = subset > 0
    np.testing.assert_array_equal(subset[kept], original[kept])
    share = kept.sum(axis=1) / (original > 0).sum(axis=1)
    assert share.min() < 0.3 and share.max() <= 1.0 and share.mean() < 0.7


def test_stream_pools_and_subsets_training_cells_only_and_resumes_with_the_same_draws():
    options = dict(seed=3, validation_fraction=0.1, min_genes=20)
    plain = ShardStream(SHARDS, GENES, **options)
    pooled = ShardStream(SHARDS, GENES, pooling=1.0, pooling_max_cells=4, **options)
    panel = ShardStream(SHARDS, GENES, gene_subset=1.0, gene_subset_min_keep=0.2, min_genes=5, seed=3)
    np.testing.assert_array_equal(plain.validation_cells(64).toarray(), pooled.validation_cells(64).toarray())
    genes = {
        name: np.concatenate([(b > 0).sum(axis=1) for b, _ in stream.iter_epoch(StreamPosition(), 4)]).mean()
        for name, stream in [("plain", plain), ("pooled", pooled), ("panel", panel)]
    }
    assert genes["pooled"] > 1.3 * genes["plain"] and genes["panel"] < 0.8 * genes["plain"]
    stream = ShardStream(SHARDS, GENES, pooling=0.5, gene_subset=0.5, thinning=0.5, **options)
    resumed = np.concatenate([b for b, _ in stream.iter_epoch(StreamPosition(0, 10), 1)])
    uninterrupted = np.concatenate([b for b, _ in stream.iter_epoch(StreamPosition(), 1)])
    np.testing.assert_array_equal(resumed, uninterrupted[-len(resumed) :])
    with pytest.raises(ValueError, match="pooling"):
        ShardStream(SHARDS, GENES, pooling=1.5)
