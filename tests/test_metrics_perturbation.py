"""Perturbation metrics, the simulation split and the baselines against hand-computed values."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from _perturbation_helpers import load_subset
from sclong_tl.metrics import (
    additive_prediction,
    canonical_condition,
    gi_magnitude,
    mean_change_prediction,
    no_change_prediction,
    parse_condition,
    perturbation_scores,
    seen_category,
    simulation_split,
    top_de_genes,
)


def _toy():
    import anndata as ad

    X = np.array(
        [
            [0, 1, 5, 0],
            [0, 3, 5, 0],
            [0, 2, 6, 1],  # ctrl
            [4, 1, 0, 0],
            [6, 3, 0, 0],
            [5, 2, 0, 0],
        ],
        dtype=np.float32,
    )  # A+ctrl
    obs = pd.DataFrame({"condition": ["ctrl"] * 3 + ["A+ctrl"] * 3}, index=[f"c{i}" for i in range(6)])
    return ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=["g0", "g1", "g2", "g3"]))


def test_conditions_parse():
    assert parse_condition("A+ctrl") == ("A",) == parse_condition("ctrl+A") == parse_condition("A")
    assert parse_condition("A+B") == ("A", "B") and parse_condition("ctrl") == ()
    assert canonical_condition(("A",)) == "A+ctrl" and canonical_condition(("A", "B")) == "A+B"
    with pytest.raises(ValueError, match="twice"):
        parse_condition("A+A")
    with pytest.raises(ValueError, match="malformed"):
        parse_condition("A+")


def test_top_de_genes_by_hand():
    adata = _toy()
    # Welch t by hand: g0: mean 5 vs 0, var 1 vs 0 -> t = 5 / sqrt(1/3) = 8.66; g1: 0; g2: (0 - 16/3) /
    # sqrt(0 + (1/3)/3) = -16; g3: (0 - 1/3) / sqrt(1/3/3) = -1
    assert top_de_genes(adata, n_genes=4)["A+ctrl"] == ["g2", "g0", "g3", "g1"]
    assert top_de_genes(adata, n_genes=2)["A+ctrl"] == ["g2", "g0"]
    # non-dropout: g2 and g3 have condition mean 0 but control mean > 0 -> dropped
    assert top_de_genes(adata, n_genes=4, method="non_dropout")["A+ctrl"] == ["g0", "g1"]
    with pytest.raises(ValueError, match="method"):
        top_de_genes(adata, method="wilcoxon")


def test_top_de_genes_match_scanpy_on_real_data():
    sc = pytest.importorskip("scanpy")
    adata = load_subset()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    ours = top_de_genes(adata, n_genes=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.tl.rank_genes_groups(
            adata, "condition", reference="ctrl", method="t-test", rankby_abs=True, n_genes=adata.n_vars, use_raw=False
        )
    names = pd.DataFrame(adata.uns["rank_genes_groups"]["names"])
    for condition, genes in ours.items():
        assert genes == names[condition].tolist()[:20]


def test_perturbation_scores_by_hand():
    control = pd.Series([1.0, 2.0, 3.0], index=["g0", "g1", "g2"])
    observed = pd.DataFrame([[2.0, 2.0, 1.0]], index=["A+ctrl"], columns=control.index)
    predicted = pd.DataFrame([[1.5, 2.5, 2.0]], index=["A+ctrl"], columns=control.index)
    table = perturbation_scores(predicted, observed, control, de_genes={"A+ctrl": ["g0", "g2"]})
    row = table.loc["A+ctrl"]
    assert row["mse"] == pytest.approx((0.25 + 0.25 + 1.0) / 3)
    # changes: predicted (0.5, 0.5, -1), observed (1, 0, -2)
    p, t = np.array([0.5, 0.5, -1.0]), np.array([1.0, 0.0, -2.0])
    assert row["pearson_delta"] == pytest.approx(np.corrcoef(p, t)[0, 1])
    assert row["mse_de"] == pytest.approx((0.25 + 1.0) / 2)
    assert row["pearson_delta_de"] == pytest.approx(1.0) and row["n_de"] == 2
    # No-Change: constant predicted change -> Pearson undefined (NaN), MSE = mean squared observed change
    still = perturbation_scores(no_change_prediction(control, ["A+ctrl"]), observed, control)
    assert math.isnan(still.loc["A+ctrl", "pearson_delta"])
    assert still.loc["A+ctrl", "mse"] == pytest.approx((1 + 0 + 4) / 3)
    with pytest.raises(ValueError, match="without observed"):
        perturbation_scores(predicted.rename(index={"A+ctrl": "B+ctrl"}), observed, control)


def test_gi_magnitude_by_hand():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    coefficients = gi_magnitude(a, b, 2.0 * a + 1.0 * b + 0.5, return_coefficients=True)
    assert coefficients["a"] == pytest.approx(2.0) and coefficients["b"] == pytest.approx(1.0)
    assert coefficients["c"] == pytest.approx(0.5) and coefficients["magnitude"] == pytest.approx(math.sqrt(5))
    assert gi_magnitude(a, b, a + b) == pytest.approx(math.sqrt(2))
    assert gi_magnitude(a, b, 0.3 * a - 0.4 * b, method="theil-sen") == pytest.approx(0.5, rel=1e-6)
    with pytest.raises(ValueError, match="same length"):
        gi_magnitude(a, b[:10], a)


def test_simulation_split_categories():
    genes = [f"G{i}" for i in range(8)]
    singles = [f"{g}+ctrl" for g in genes]
    doubles = [f"{x}+{y}" for i, x in enumerate(genes) for y in genes[i + 1 :]]
    split = simulation_split(
        ["ctrl", *singles, *doubles], train_gene_fraction=0.75, seen2_train_fraction=0.5, random_state=1
    )
    assert len(split.train_genes) == 6
    train_genes = set(split.train_genes)
    assert sorted(split.train + split.test) == sorted(singles + doubles)  # a partition, control excluded
    assert not set(split.train) & set(split.test)
    for name, members in split.categories.items():
        for condition in members:
            assert seen_category(condition, train_genes) == name
    assert len(split.categories["Seen 0/1"]) == 2 and len(split.categories["Seen 0/2"]) == 1
    assert len(split.categories["Seen 1/2"]) == 12
    assert len(split.categories["Seen 2/2"]) == 15 - 7  # C(6,2) = 15 doubles of seen genes, half trained
    again = simulation_split(
        ["ctrl", *singles, *doubles], train_gene_fraction=0.75, seen2_train_fraction=0.5, random_state=1
    )
    assert again == split


def test_baselines_by_hand():
    control = pd.Series([1.0, 1.0], index=["g0", "g1"])
    observed = pd.DataFrame(
        [[2.0, 1.0], [1.0, 4.0], [0.0, 0.0]], index=["A+ctrl", "ctrl+B", "C+ctrl"], columns=control.index
    )
    additive = additive_prediction(control, observed, ["A+B"])
    np.testing.assert_allclose(additive.loc["A+B"].to_numpy(), [2.0, 4.0])
    mean_change = mean_change_prediction(control, observed, ["X+ctrl"])
    np.testing.assert_allclose(mean_change.loc["X+ctrl"].to_numpy(), [1.0, 5.0 / 3.0])
    np.testing.assert_allclose(no_change_prediction(control, ["X+ctrl"]).to_numpy(), [[1.0, 1.0]])
    with pytest.raises(ValueError, match="no observed single"):
        additive_prediction(control, observed, ["A+D"])
