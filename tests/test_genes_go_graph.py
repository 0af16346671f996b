"""GO gene graph: exact reproduction of reference fixture A, and agreement with a literal pair-loop implementation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sclong_tl._safe_pickle import load_restricted
from sclong_tl.demo import REFERENCE_RELEASE  # the official-format part of fixture A (package data)
from sclong_tl.genes import build_go_graph, default_vocabulary, go_graph_edges, load_gene2go

REFERENCE_A = Path(__file__).resolve().parent / "data" / "reference_A"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def fixture_a():
    gene2go = load_restricted(REFERENCE_A / "gene2go.pkl")
    genes = (REFERENCE_RELEASE / "genes.txt").read_text().split()
    # round_trip: the exact float64 values the reference wrote (pandas' default parser can be off by 1 ulp)
    reference = pd.read_csv(REFERENCE_A / "go_graph.csv.gz", float_precision="round_trip")
    return gene2go, genes, reference


@pytest.fixture(scope="module")
def graph_a(fixture_a):
    gene2go, genes, _ = fixture_a
    return build_go_graph(gene2go, genes)


def test_reproduces_reference_graph_exactly(fixture_a, graph_a):
    _, _, reference = fixture_a
    assert len(graph_a) == 34_488
    # the hard requirement: the same (source, target, weight) set, weights bit-identical
    assert set(graph_a.itertuples(index=False, name=None)) == set(reference.itertuples(index=False, name=None))
    # and the same rows in the same order (ties at the cut: earliest source in vocabulary order)
    pd.testing.assert_frame_equal(graph_a, reference, check_exact=True)


def test_edge_tensors_match_reference(fixture_a, graph_a):
    _, genes, reference = fixture_a
    ref_index = np.load(REFERENCE_A / "go_edge_index.npy")
    ref_weight = np.load(REFERENCE_A / "go_edge_weight.npy")
    for graph in (reference, graph_a):
        edge_index, edge_weight = go_graph_edges(graph, genes)
        assert edge_index.dtype == np.int64 and edge_weight.dtype == np.float32
        np.testing.assert_array_equal(edge_index, ref_index)
        np.testing.assert_array_equal(edge_weight, ref_weight)


def test_graph_facts(fixture_a, graph_a):
    gene2go, genes, _ = fixture_a
    self_loops = graph_a[graph_a["source"] == graph_a["target"]]
    assert len(self_loops) == 1_800 and (self_loops["importance"] == 1.0).all()
    assert graph_a["importance"].min() > 0.1
    assert graph_a.groupby("target").size().max() == 21
    annotated = {g for g in genes if gene2go.get(g)}
    assert set(graph_a["source"]) | set(graph_a["target"]) == annotated  # unannotated genes are isolated


def _pair_loop_reference(gene2go, genes, threshold, n_neighbors):
    """Literal re-statement of the definition: all ordered pairs (source outer loop), then pandas nlargest."""
    annotated = [(g, set(gene2go[g])) for g in genes if gene2go.get(g)]
    rows = [(a, b, len(sa & sb) / len(sa | sb)) for a, sa in annotated for b, sb in annotated]
    frame = pd.DataFrame([r for r in rows if r[2] > threshold], columns=["source", "target", "importance"])
    kept = [group.nlargest(n_neighbors + 1, "importance", keep="first") for _, group in frame.groupby("target")]
    return pd.concat(kept, ignore_index=True)


def test_agrees_with_pair_loop_on_shipped_annotations():
    gene2go = load_gene2go()
    rng = np.random.default_rng(7)
    vocabulary = default_vocabulary()
    genes = [vocabulary[i] for i in rng.choice(len(vocabulary), size=400, replace=False)]
    for threshold, n_neighbors in ((0.1, 20), (0.2, 3)):
        expected = _pair_loop_reference(gene2go, genes, threshold, n_neighbors)
        got = build_go_graph(gene2go, genes, threshold=threshold, n_neighbors=n_neighbors)
        assert set(got.itertuples(index=False, name=None)) == set(expected.itertuples(index=False, name=None))
        assert len(got) == len(expected)


def test_edges_networkx_semantics_for_duplicates():
    genes = ["g0", "g1", "g2"]
    graph = pd.DataFrame(
        {"source": ["g2", "g0", "g2", "g1"], "target": ["g1", "g2", "g1", "g1"], "importance": [0.5, 0.25, 0.75, 1.0]}
    )
    edge_index, edge_weight = go_graph_edges(graph, genes)
    # nodes in order of first appearance (g2, g1, g0); g2 -> g1 once, with its last weight
    np.testing.assert_array_equal(edge_index, [[2, 1, 0], [1, 1, 2]])
    np.testing.assert_array_equal(edge_weight, np.array([0.75, 1.0, 0.25], dtype=np.float32))
    with pytest.raises(ValueError, match="not in the vocabulary"):
        go_graph_edges(graph, ["g0", "g1"])


def test_empty_and_bad_arguments():
    graph = build_go_graph({}, ["g0", "g1"])
    assert list(graph.columns) == ["source", "target", "importance"] and len(graph) == 0
    edge_index, edge_weight = go_graph_edges(graph, ["g0", "g1"])
    assert edge_index.shape == (2, 0) and edge_weight.shape == (0,)
    with pytest.raises(ValueError, match="twice"):
        build_go_graph({"g0": {"GO:1"}}, ["g0", "g0"])
    with pytest.raises(ValueError, match="n_neighbors"):
        build_go_graph({"g0": {"GO:1"}}, ["g0"], n_neighbors=-1)


def test_shipped_gene2go_matches_fixture_recipe(fixture_a):
    """The shipped annotations follow the recipe fixture A's gene2go.pkl was made with (same source release)."""
    gene2go, genes, _ = fixture_a
    shipped = load_gene2go()
    assert {g: frozenset(gene2go[g]) for g in gene2go} == {g: shipped[g] for g in genes if g in shipped}
