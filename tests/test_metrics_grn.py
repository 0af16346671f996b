"""AUPR ratio and EPR (sclong_tl.metrics) against scikit-learn and hand-computed cases."""

from __future__ import annotations

from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.metrics import average_precision_score

from sclong_tl.metrics import aupr_ratio, epr
from sclong_tl.metrics._grn import candidate_edges

HESC_LABELS = Path(__file__).resolve().parent / "data" / "grn" / "hesc_chipseq_label_deepsem.csv"

# TFs A, B; genes A, B, C, D. Candidates (self edges excluded): A->B, A->C, A->D, B->A, B->C, B->D.
TRUTH = pd.DataFrame({"Gene1": ["A", "B", "A"], "Gene2": ["C", "D", "A"]})  # A->A is a self edge: dropped


def _net(weights: dict[tuple[str, str], float]) -> pd.DataFrame:
    return pd.DataFrame([(s, t, w) for (s, t), w in weights.items()], columns=["source", "target", "weight"])


def test_candidate_set_excludes_self_edges_and_non_tf_sources():
    net = _net({("A", "C"): 1.0, ("C", "A"): 5.0})  # C is not a TF: its edge is no candidate
    frame = candidate_edges(net, TRUTH)
    pairs = set(zip(frame["source"], frame["target"], strict=True))
    assert pairs == {("A", "B"), ("A", "C"), ("A", "D"), ("B", "A"), ("B", "C"), ("B", "D")}
    assert frame["label"].sum() == 2
    assert frame.set_index(["source", "target"]).loc[("A", "C"), "score"] == 1.0
    # absent edges share the lowest score
    absent = frame[(frame["source"] != "A") | (frame["target"] != "C")]
    assert (absent["score"] < 1.0).all() and absent["score"].nunique() == 1


def test_aupr_ratio_matches_sklearn():
    weights = {("A", "B"): 0.9, ("A", "C"): 0.8, ("A", "D"): -0.1, ("B", "A"): 0.3, ("B", "C"): 0.05, ("B", "D"): -0.5}
    candidates = sorted(weights)
    labels = [int(pair in {("A", "C"), ("B", "D")}) for pair in candidates]
    scores = [abs(weights[pair]) for pair in candidates]
    expected = average_precision_score(labels, scores) / (2 / 6)
    assert aupr_ratio(_net(weights), TRUTH) == pytest.approx(expected)
    # signed ranking: -0.5 becomes the lowest score
    signed = average_precision_score(labels, [weights[pair] for pair in candidates]) / (2 / 6)
    assert aupr_ratio(_net(weights), TRUTH, absolute=False) == pytest.approx(signed)
    assert signed != pytest.approx(expected)


def test_epr_by_hand():
    # |weights| ranked: A->B 0.9, A->C 0.8, B->D 0.5, ... ; K = 2 true edges; top 2 holds one true edge
    weights = {("A", "B"): 0.9, ("A", "C"): 0.8, ("A", "D"): -0.1, ("B", "A"): 0.3, ("B", "C"): 0.05, ("B", "D"): -0.5}
    assert epr(_net(weights), TRUTH) == pytest.approx((1 / 2) / (2 / 6))
    perfect = {("A", "C"): 1.0, ("B", "D"): 0.9, ("A", "B"): 0.1}
    assert epr(_net(perfect), TRUTH) == pytest.approx(3.0)
    assert aupr_ratio(_net(perfect), TRUTH) == pytest.approx(3.0)


def test_ties_count_their_expected_share():
    # every candidate tied: expected precision = density, so both ratios are exactly 1
    tied = {pair: 1.0 for pair in [("A", "B"), ("A", "C"), ("A", "D"), ("B", "A"), ("B", "C"), ("B", "D")]}
    assert epr(_net(tied), TRUTH) == pytest.approx(1.0)
    assert aupr_ratio(_net(tied), TRUTH) == pytest.approx(1.0)
    # one true edge on top, then five tied edges holding one true edge: (1 + 1 * 1/5) / 2 hits per slot
    partly = {**tied, ("A", "C"): 2.0}
    assert epr(_net(partly), TRUTH) == pytest.approx(((1 + 1 / 5) / 2) / (2 / 6))


def test_matrix_input_equals_frame_input():
    genes = ["A", "B", "C", "D"]
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(4, 4))
    frame = pd.DataFrame(
        [(genes[i], genes[j], matrix[i, j]) for i, j in product(range(4), range(4))],
        columns=["TF", "Target", "EdgeWeight"],
    )
    assert aupr_ratio(matrix, TRUTH, genes) == pytest.approx(aupr_ratio(frame, TRUTH))
    assert epr(sparse.csr_matrix(matrix), TRUTH, genes) == pytest.approx(epr(frame, TRUTH))


def test_genes_restrict_the_evaluation():
    net = _net({("A", "C"): 1.0, ("B", "D"): 0.2, ("A", "B"): 0.5})
    # without D: candidates A->B, A->C, B->A, B->C; one true edge (A->C), ranked first
    assert aupr_ratio(net, TRUTH, ["A", "B", "C"]) == pytest.approx(4.0)
    assert epr(net, TRUTH, ["A", "B", "C"]) == pytest.approx(4.0)


def test_clear_errors():
    net = _net({("A", "C"): 1.0})
    with pytest.raises(ValueError, match="genes"):
        aupr_ratio(np.eye(4), TRUTH)
    with pytest.raises(ValueError, match="no ground-truth edge"):
        aupr_ratio(net, TRUTH, ["A", "B"])
    with pytest.raises(ValueError, match="too few candidate"):
        epr(net, TRUTH, ["C", "D"])
    with pytest.raises(ValueError, match="weight"):
        epr(net.drop(columns="weight"), TRUTH)
    with pytest.raises(ValueError, match="shape"):
        epr(np.eye(3), TRUTH, ["A", "B", "C", "D"])


def test_real_hesc_labels_against_independent_computation():
    truth = pd.read_csv(HESC_LABELS)
    tfs = sorted(set(truth["Gene1"]))
    genes = sorted(set(truth["Gene1"]) | set(truth["Gene2"]))
    rng = np.random.default_rng(1)
    # a noisy prediction: true edges score higher on average
    true_set = set(zip(truth["Gene1"], truth["Gene2"], strict=True))
    rows = [(tf, gene, rng.normal() + 1.5 * ((tf, gene) in true_set)) for tf in tfs for gene in genes if tf != gene]
    net = pd.DataFrame(rows, columns=["source", "target", "weight"])
    labels = np.array([(s, t) in true_set for s, t, _ in rows], dtype=int)
    scores = np.abs(net["weight"].to_numpy())
    density = labels.mean()
    assert len(rows) == len(tfs) * len(genes) - len(tfs)
    assert aupr_ratio(net, truth) == pytest.approx(average_precision_score(labels, scores) / density)
    k = labels.sum()
    top = np.argsort(-scores, kind="stable")[:k]  # continuous scores: no ties
    assert epr(net, truth) == pytest.approx(labels[top].mean() / density)
    # a random prediction scores about 1, the truth itself 1 / density
    noise = net.assign(weight=rng.normal(size=len(net)))
    assert 0.8 < aupr_ratio(noise, truth) < 1.2
    assert 0.8 < epr(noise, truth) < 1.2
    exact = truth.assign(weight=1.0)
    assert epr(exact, truth) == pytest.approx(1 / density)
    assert aupr_ratio(exact, truth) == pytest.approx(1 / density)


def test_duplicated_edge_keeps_its_strongest_weight():
    # A->C listed twice: with 0.05 it would rank last, with 0.95 first; the strongest listing counts
    rows = [
        ("A", "B", 0.9),
        ("A", "C", 0.05),
        ("A", "C", 0.95),
        ("A", "D", 0.1),
        ("B", "A", 0.3),
        ("B", "C", 0.2),
        ("B", "D", 0.4),
    ]
    net = pd.DataFrame(rows, columns=["source", "target", "weight"])
    frame = candidate_edges(net, TRUTH).set_index(["source", "target"])
    assert frame.loc[("A", "C"), "score"] == 0.95
    strongest = _net({(s, t): w for s, t, w in rows if (s, t, w) != ("A", "C", 0.05)})
    assert aupr_ratio(net, TRUTH) == pytest.approx(aupr_ratio(strongest, TRUTH))
    assert epr(net, TRUTH) == pytest.approx((1 / 2) / (2 / 6))  # top two: A->C 0.95 (true), A->B 0.9
