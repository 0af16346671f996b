"""PerturbationModel / predict_perturbation on the real Papalexi subset with a tiny random scLong model."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from _perturbation_helpers import fitted_model, load_subset, one_torch_thread, tiny_scfm, vocabulary_graph

pytest.importorskip("torch_geometric")

_threads = pytest.fixture(scope="module", autouse=True)(one_torch_thread)

TRAIN = ["IFNGR1+ctrl", "IFNGR2+ctrl", "JAK2+ctrl", "SMAD4+ctrl", "CD86+ctrl", "ATF2+ctrl"]


@pytest.fixture(scope="module")
def model():
    return fitted_model(conditions=TRAIN)


def test_fit_predict_save_load_round_trip(model, tmp_path):
    from sclong_tl.models import PerturbationModel

    conditions = ["STAT1+ctrl", "IRF1+ctrl", "STAT1+IRF1", "JAK2+ctrl"]
    before = model.predict(conditions)
    path = model.save(tmp_path / "perturbation.safetensors")
    loaded = PerturbationModel.load(path)
    after = loaded.predict(conditions)
    assert loaded.init_params == model.init_params
    np.testing.assert_allclose(before.X, after.X, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(before.layers["delta"], after.layers["delta"], rtol=1e-5, atol=1e-6)
    assert list(after.obs_names) == conditions and list(after.var_names) == model.genes
    assert loaded.trained_conditions == model.trained_conditions == TRAIN
    assert loaded.history == model.history and loaded.controls.scfm == model.controls.scfm
    np.testing.assert_allclose(after.layers["delta"], after.X - loaded.control_mean, atol=1e-6)
    with pytest.raises(ValueError, match="without data"):
        loaded.fit()


def test_seeded_runs_identical_and_seed_matters():
    conditions = ["STAT1+ctrl", "STAT1+IRF1"]
    first = fitted_model(conditions=TRAIN, random_state=3).predict(conditions)
    second = fitted_model(conditions=TRAIN, random_state=3).predict(conditions)
    other = fitted_model(conditions=TRAIN, random_state=4).predict(conditions)
    np.testing.assert_array_equal(first.X, second.X)
    assert not np.allclose(first.X, other.X)


def test_global_rngs_untouched():
    import torch

    numpy_state = np.random.get_state()[1].copy()  # noqa: NPY002 - checking the legacy global RNG on purpose
    torch_state = torch.random.get_rng_state()
    fitted_model(conditions=TRAIN[:3], max_epochs=1)
    assert np.array_equal(np.random.get_state()[1], numpy_state)  # noqa: NPY002
    assert torch.equal(torch.random.get_rng_state(), torch_state)


def test_unseen_single_and_double_perturbations_predict(model):
    # STAT1 and IRF1 were held out; MYC has no cells in the data at all
    prediction = model.predict(["STAT1", "IRF1+ctrl", "STAT1+IRF1", "JAK2+STAT1", "JAK2+IFNGR1", "MYC+ctrl"])
    assert prediction.shape == (6, 299)
    assert np.isfinite(prediction.X).all()
    assert prediction.obs["condition"].tolist()[0] == "STAT1+ctrl"
    assert prediction.obs["seen"].tolist() == ["Seen 0/1", "Seen 0/1", "Seen 0/2", "Seen 1/2", "Seen 2/2", "Seen 0/1"]
    # different perturbations give different predictions, and a double is not simply one of its singles
    delta = prediction.layers["delta"]
    assert not np.allclose(delta[0], delta[1]) and not np.allclose(delta[2], delta[0])


def test_perturbation_outside_go_graph_errors_clearly(model):
    genes, edge_index, _ = vocabulary_graph()
    linked = np.zeros(len(genes), bool)
    other = edge_index[0] != edge_index[1]
    linked[edge_index[:, other].ravel()] = True
    isolated = genes[int(np.flatnonzero(~linked)[0])]
    with pytest.raises(ValueError, match="NOTAGENE1") as info:
        model.predict(["NOTAGENE1+ctrl", f"{isolated}+STAT1"])
    message = str(info.value)
    assert "not in the scLong vocabulary" in message and "GO" in message and isolated in message
    with pytest.raises(ValueError, match="single and double"):
        model.predict(["STAT1+IRF1+JAK2"])


def test_predict_perturbation_returns_predictions_and_leaves_data_alone():
    import sclong_tl as sl

    adata = load_subset()
    obs_before, x_before, uns_before = adata.obs.copy(), adata.X.copy(), set(adata.uns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(ValueError, match="NOTAGENE1"):
            sl.predict_perturbation(
                adata,
                ["NOTAGENE1"],
                model=tiny_scfm(),
                n_control_cells=20,
                max_epochs=1,
                max_cells_per_condition=10,
                progress=False,
            )
        result = sl.predict_perturbation(
            adata,
            ["STAT1", "STAT1+IRF1"],
            model=tiny_scfm(),
            n_control_cells=20,
            max_epochs=1,
            max_cells_per_condition=10,
            progress=False,
        )
    params = result.uns["sclong_perturbation"]["params"]
    assert params["n_control_cells"] == 20 and params["model"] == "random-tiny"
    assert params["tool"] == "predict_perturbation" and params["init_params"]["representation"] == "per_cell"
    assert params["perturbations"] == ["STAT1", "STAT1+IRF1"] and len(params["trained_conditions"]) == 8
    assert result.shape == (2, 299) and "delta" in result.layers
    # the data is not written to (the result is a new object, like scanpy.get.aggregate)
    assert adata.obs.equals(obs_before) and (adata.X != x_before).nnz == 0 and set(adata.uns) == uns_before


def test_predict_perturbation_with_a_fitted_head_and_mudata(model, tmp_path):
    import sclong_tl as sl

    mudata = pytest.importorskip("mudata")
    adata = load_subset()
    mdata = mudata.MuData({"rna": adata})
    conditions = ["STAT1", "STAT1+IRF1"]
    result = sl.predict_perturbation(mdata, conditions, perturbation_model=model, key_added="mine")
    np.testing.assert_allclose(result.X, model.predict(conditions).X, rtol=1e-5, atol=1e-6)
    assert result.uns["mine"]["params"]["modality"] == "rna" and "sclong_perturbation" not in result.uns
    with pytest.raises(ValueError, match="do not match the model"):
        sl.predict_perturbation(adata[:, ::-1].copy(), conditions, perturbation_model=model)


def test_mean_representation_and_control_sampling():
    from sclong_tl.models import PerturbationModel

    mean_model = fitted_model(conditions=TRAIN, representation="mean", max_epochs=1)
    assert mean_model.controls.representations.shape == (1, 299, tiny_scfm().config.base_dim)
    assert np.isfinite(mean_model.predict(["STAT1"]).X).all()
    adata = load_subset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        a = PerturbationModel(adata, tiny_scfm(), n_control_cells=30, random_state=1, progress=False)
        b = PerturbationModel(adata, tiny_scfm(), n_control_cells=30, random_state=2, progress=False)
    assert (adata.obs["condition"].iloc[a.controls.rows] == "ctrl").all()
    assert len(set(a.controls.rows)) == 30 and set(a.controls.rows) != set(b.controls.rows)


def test_genes_missing_from_vocabulary_get_mean_representation(model):
    scfm = tiny_scfm()
    missing = np.flatnonzero(model.controls.var_index < 0)
    assert missing.size > 0  # a few Papalexi symbols have no Ensembl ID in the fixture vocabulary
    from sclong_tl.pp import iter_model_inputs

    adata = load_subset()
    first_cell = model.controls.rows[:1]
    ((_, values),) = list(iter_model_inputs(adata[first_cell], scfm.genes, is_counts=True))
    representations, _ = scfm.encode(values)
    np.testing.assert_allclose(
        model.controls.representations[0, missing[0]], representations[0].mean(axis=0), rtol=1e-5, atol=1e-6
    )
    found = int(np.flatnonzero(model.controls.var_index >= 0)[0])
    position = model.controls.var_index[found]
    np.testing.assert_allclose(
        model.controls.representations[0, found], representations[0, position], rtol=1e-5, atol=1e-6
    )


def test_bad_input_errors():
    from sclong_tl.models import PerturbationModel

    adata = load_subset()
    with pytest.raises(KeyError, match="nope"):
        PerturbationModel(adata, tiny_scfm(), condition_key="nope")
    with pytest.raises(ValueError, match="control cells"):
        PerturbationModel(adata, tiny_scfm(), control="absent")
    with pytest.raises(ValueError, match="representation"):
        PerturbationModel(adata, tiny_scfm(), representation="bogus")


def test_save_load_keeps_layer_and_gene_key_and_checks_genes(tmp_path):
    from sclong_tl.models import PerturbationModel

    adata = load_subset()
    adata.layers["counts"] = adata.X.copy()
    adata.var["symbol"] = adata.var_names.astype(str)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = PerturbationModel(
            adata, tiny_scfm(), layer="counts", gene_key="symbol", n_control_cells=20, hidden_size=8, progress=False
        )
    model.fit(TRAIN[:3], max_epochs=1, max_cells_per_condition=10, progress=False)
    path = model.save(tmp_path / "head.safetensors")
    loaded = PerturbationModel.load(path, adata=adata)
    assert loaded.layer == "counts" and loaded.gene_key == "symbol" and loaded.init_params == model.init_params
    np.testing.assert_allclose(loaded.predict(["STAT1"]).X, model.predict(["STAT1"]).X, rtol=1e-5, atol=1e-6)
    loaded.fit(TRAIN[:3], max_epochs=1, max_cells_per_condition=10, progress=False)  # refits from the layer
    with pytest.raises(ValueError, match="do not match the model"):
        PerturbationModel.load(path, adata=adata[:, :50].copy())


def test_first_layout_perturbation_file_still_loads(model, tmp_path):
    import json

    import torch
    from safetensors.torch import save_file

    from sclong_tl.models import PerturbationModel

    # a file as the previous release wrote it ("sclong_tl.perturbation/1" header, graph.in_graph tensor)
    tensors = {f"network.{k}": v.contiguous() for k, v in model.network.state_dict().items()}
    tensors["control.expression"] = torch.as_tensor(model.controls.expression)
    tensors["control.representations"] = torch.as_tensor(model.controls.representations)
    tensors["graph.in_graph"] = torch.as_tensor(model.controls.in_graph)
    meta = {
        "format": "sclong_tl.perturbation/1",
        "config": model.config,
        "genes": model.genes,
        "node_genes": model.controls.node_genes,
        "control": model.control,
        "condition_key": model.condition_key,
        "representation": model.representation,
        "random_state": model.random_state,
        "is_counts": model.controls.is_counts,
        "var_index": model.controls.var_index.tolist(),
        "trained_conditions": model.trained_conditions,
        "history": model.history,
        "fit_params": model.fit_params,
        "scfm": model.controls.scfm,
        "n_control_cells": len(model.controls.expression),
    }
    path = tmp_path / "old.safetensors"
    save_file(tensors, str(path), metadata={"sclong_tl": json.dumps(meta)})
    loaded = PerturbationModel.load(path)
    np.testing.assert_allclose(loaded.predict(["STAT1"]).X, model.predict(["STAT1"]).X, rtol=1e-5, atol=1e-6)
    assert loaded.trained_conditions == model.trained_conditions


# ----------------------------------------------------------------------------------- issue 18, item 8
def test_seen_category_by_gene_not_by_spelling(model):
    from sclong_tl.genes import symbol_to_ensembl

    jak2 = symbol_to_ensembl(["JAK2"])["ensembl_id"].iloc[0]  # trained as the symbol JAK2
    prediction = model.predict(["JAK2+ctrl", f"{jak2}+ctrl", f"{jak2}+STAT1"])
    assert prediction.obs["seen"].tolist() == ["Seen 1/1", "Seen 1/1", "Seen 1/2"]


def test_predict_perturbation_request_checked_before_encoding(monkeypatch):
    import sclong_tl as sl
    from sclong_tl.models import PerturbationModel

    def never(*args, **kwargs):
        raise AssertionError("scLong encoded the control cells before the request was checked")

    monkeypatch.setattr(PerturbationModel, "__init__", never)
    adata = load_subset()
    with_nan = adata.copy()
    with_nan.obs["condition"] = with_nan.obs["condition"].astype(object)
    with_nan.obs.iloc[:3, with_nan.obs.columns.get_loc("condition")] = np.nan
    cases = [
        ({"perturbations": ["ctrl"]}, "is the control condition"),
        ({"perturbations": ["STAT1+ctrl"], "max_epochs": 0}, "max_epochs"),
        ({"perturbations": ["A+B+C"]}, "single and double"),
        ({"perturbations": []}, "no perturbations"),
        ({"perturbations": ["STAT1+ctrl"], "values": "tpm"}, "values"),
        ({"perturbations": ["STAT1+ctrl"], "control": "nothing"}, "at least 2 control cells"),
    ]
    for options, message in cases:
        with pytest.raises(ValueError, match=message):
            sl.predict_perturbation(adata, model=tiny_scfm(), **options)
    with pytest.raises(ValueError, match=r"no value for 3 of .* cells \(NaN\)"):
        sl.predict_perturbation(with_nan, ["STAT1+ctrl"], model=tiny_scfm())


def test_fit_refuses_zero_epochs(model):
    with pytest.raises(ValueError, match="max_epochs"):
        model.fit(max_epochs=0)
    with pytest.raises(ValueError, match="is the control condition"):
        model.predict(["ctrl"])


def test_the_head_learns_its_training_conditions():
    """Training lowers the loss, and the fitted head predicts its training knockouts better than No-Change."""
    import scanpy as sc

    model = fitted_model(conditions=TRAIN, max_epochs=6)
    losses = [record["loss"] for record in model.history]
    assert len(losses) >= 2 and losses[-1] < losses[0], losses
    data = load_subset()
    sc.pp.normalize_total(data, target_sum=1e4)
    sc.pp.log1p(data)
    dense = data.X.toarray() if hasattr(data.X, "toarray") else np.asarray(data.X)
    conditions = data.obs["condition"].astype(str).to_numpy()
    observed = np.stack([dense[conditions == condition].mean(axis=0) for condition in TRAIN])
    columns = [list(data.var_names).index(gene) for gene in model.genes]
    observed = observed[:, columns]
    predicted = model.predict(TRAIN).X
    control = np.asarray(model.control_mean)
    head_error = ((predicted - observed) ** 2).mean()
    no_change_error = ((control[None, :] - observed) ** 2).mean()
    assert head_error < no_change_error, (head_error, no_change_error)
