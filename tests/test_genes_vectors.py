"""Initial gene vectors: GO-SVD stand-in for Gene2vec, and reading user Gene2vec files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from sclong_tl._safe_pickle import load_restricted
from sclong_tl.demo import REFERENCE_RELEASE  # the official-format part of fixture A (package data)
from sclong_tl.genes import build_go_graph, initial_gene_vectors, read_gene2vec, symbol_to_ensembl

REFERENCE_A = Path(__file__).resolve().parent / "data" / "reference_A"


@pytest.fixture(scope="module")
def fixture_a():
    return load_restricted(REFERENCE_A / "gene2go.pkl"), (REFERENCE_RELEASE / "genes.txt").read_text().split()


@pytest.fixture(scope="module")
def vectors_a(fixture_a):
    gene2go, genes = fixture_a
    return initial_gene_vectors(genes, 32, gene2go=gene2go)


def test_go_vectors_shape_determinism_and_scale(fixture_a, vectors_a):
    gene2go, genes = fixture_a
    assert vectors_a.shape == (2000, 32) and vectors_a.dtype == np.float32
    assert np.isfinite(vectors_a).all()
    np.testing.assert_array_equal(vectors_a, initial_gene_vectors(genes, 32, gene2go=gene2go))
    annotated = np.array([bool(gene2go.get(g)) for g in genes])
    assert np.linalg.norm(vectors_a[annotated], axis=1).mean() == pytest.approx(1.0, rel=1e-5)
    assert len({row.tobytes() for row in vectors_a}) > 1_900  # genes are distinguishable


def test_unannotated_genes_get_order_independent_vectors(fixture_a, vectors_a):
    gene2go, genes = fixture_a
    unannotated = [i for i, g in enumerate(genes) if not gene2go.get(g)]
    reordered = [genes[i] for i in unannotated[::-1]]
    other = initial_gene_vectors(reordered, 32, gene2go=gene2go)
    np.testing.assert_array_equal(other[::-1], vectors_a[unannotated])


def test_go_neighbours_are_similar(fixture_a, vectors_a):
    """Genes linked in the GO graph get clearly more similar vectors than random annotated pairs."""
    gene2go, genes = fixture_a
    graph = build_go_graph(gene2go, genes)
    graph = graph[graph["source"] != graph["target"]]
    position = {g: i for i, g in enumerate(genes)}
    unit = vectors_a / np.linalg.norm(vectors_a, axis=1, keepdims=True)
    src, dst = graph["source"].map(position).to_numpy(), graph["target"].map(position).to_numpy()
    linked = (unit[src] * unit[dst]).sum(axis=1).mean()
    annotated = np.flatnonzero([bool(gene2go.get(g)) for g in genes])
    pairs = np.random.default_rng(0).choice(annotated, size=(5_000, 2))
    random = (unit[pairs[:, 0]] * unit[pairs[:, 1]]).sum(axis=1).mean()
    print(f"mean cosine: GO-linked pairs {linked:.3f}, random annotated pairs {random:.3f}")
    assert linked > random + 0.3


def test_npy_gene2vec(fixture_a, tmp_path):
    gene2go, genes = fixture_a
    array = np.load(REFERENCE_A / "gene2vec.npy")  # the fixture's (2000, 32) stand-in, vocabulary order
    path = tmp_path / "g2v.npy"
    np.save(path, array)
    out = initial_gene_vectors(genes, 32, gene2vec=path, gene2go=gene2go)
    np.testing.assert_array_equal(out, array.astype(np.float32))
    with pytest.raises(ValueError, match="dimensions"):
        initial_gene_vectors(genes, 16, gene2vec=path)
    with pytest.raises(ValueError, match="one row per vocabulary gene"):
        read_gene2vec(array[:10], genes)


def test_text_gene2vec(tmp_path, caplog):
    genes = symbol_to_ensembl(["ACTB", "GAPDH", "TP53", "CD3E"])["ensembl_id"].tolist()
    path = tmp_path / "gene2vec_dim_3.txt"
    path.write_text("3 3\nGAPDH 0.1 0.2 0.3\np53\t1 2 3\nACTB -1 -2 -3\nNOTAGENE 9 9 9\nGAPDH 7 7 7\n")
    vectors, found = read_gene2vec(path, genes)
    np.testing.assert_array_equal(found, [True, True, True, False])
    np.testing.assert_allclose(vectors[:3], [[-1, -2, -3], [0.1, 0.2, 0.3], [1, 2, 3]], rtol=1e-6)
    with caplog.at_level(logging.INFO, logger="sclong_tl.genes._vectors"):
        full = initial_gene_vectors(genes, 3, gene2vec=path)
    assert "1 of 4 genes are not in the Gene2vec file" in caplog.text
    np.testing.assert_array_equal(full[:3], vectors[:3])
    assert np.linalg.norm(full[3]) > 0
    bad = tmp_path / "bad.txt"
    bad.write_text("ACTB 1 2\nGAPDH 1 2 3\n")
    with pytest.raises(ValueError, match="different numbers of values"):
        read_gene2vec(bad, genes)
