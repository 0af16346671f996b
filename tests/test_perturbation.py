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
    from sclong_tl.tl import PerturbationModel

    conditions = ["STAT1+ctrl", "IRF1+ctrl", "STAT1+IRF1", "JAK2+ctrl"]
    before = model.predict(conditions)
    path = model.save(tmp_path / "perturbation.safetensors")
    loaded = PerturbationModel.load(path)
    after = loaded.predict(conditions)
    np.testing.assert_array_equal(before.X, after.X)
    np.testing.assert_array_equal(before.layers["delta"], after.layers["delta"])
    assert list(after.obs_names) == conditions and list(after.var_names) == model.genes
    assert loaded.trained_conditions == model.trained_conditions == TRAIN
    assert loaded.history == model.history and loaded.scfm_info == model.scfm_info
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


def test_predict_perturbation_records_params_and_leaves_data_alone():
    import sclong_tl as sl

    adata = load_subset()
    obs_before, x_before = adata.obs.copy(), adata.X.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(ValueError, match="NOTAGENE1"):
            sl.predict_perturbation(adata, ["NOTAGENE1"], scfm=tiny_scfm(), n_control_cells=20, max_epochs=1,
                                    max_cells_per_condition=10, progress=False)
        assert "sclong_perturbation" not in adata.uns
        result = sl.predict_perturbation(adata, ["STAT1", "STAT1+IRF1"], scfm=tiny_scfm(), n_control_cells=20,
                                         max_epochs=1, max_cells_per_condition=10, progress=False)
    params = adata.uns["sclong_perturbation"]["params"]
    assert params["n_control_cells"] == 20 and params["scfm"]["name"] == "random-tiny"
    assert params["perturbations"] == ["STAT1", "STAT1+IRF1"] and len(params["trained_conditions"]) == 8
    assert result.shape == (2, 299) and "delta" in result.layers
    assert adata.obs.equals(obs_before) and (adata.X != x_before).nnz == 0
    assert set(adata.uns) == {"source", "sclong_perturbation"}


def test_mean_representation_and_control_sampling():
    from sclong_tl.tl import PerturbationModel

    mean_model = fitted_model(conditions=TRAIN, representation="mean", max_epochs=1)
    assert mean_model.control_representations.shape == (1, 299, tiny_scfm().config.base_dim)
    assert np.isfinite(mean_model.predict(["STAT1"]).X).all()
    adata = load_subset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        a = PerturbationModel(adata, tiny_scfm(), n_control_cells=30, random_state=1, progress=False)
        b = PerturbationModel(adata, tiny_scfm(), n_control_cells=30, random_state=2, progress=False)
    assert (adata.obs["condition"].iloc[a.control_rows] == "ctrl").all()
    assert len(set(a.control_rows)) == 30 and set(a.control_rows) != set(b.control_rows)


def test_genes_missing_from_vocabulary_get_mean_representation(model):
    scfm = tiny_scfm()
    missing = np.flatnonzero(model.var_index < 0)
    assert missing.size > 0  # a few Papalexi symbols have no Ensembl ID in the fixture vocabulary
    from sclong_tl.pp import iter_model_inputs

    adata = load_subset()
    first_cell = model.control_rows[:1]
    (_, values), = list(iter_model_inputs(adata[first_cell], scfm.genes, is_counts=True))
    representations, _ = scfm.encode(values)
    np.testing.assert_allclose(model.control_representations[0, missing[0]], representations[0].mean(axis=0),
                               rtol=1e-5, atol=1e-6)
    found = int(np.flatnonzero(model.var_index >= 0)[0])
    np.testing.assert_allclose(model.control_representations[0, found], representations[0, model.var_index[found]],
                               rtol=1e-5, atol=1e-6)


def test_bad_input_errors():
    from sclong_tl.tl import PerturbationModel

    adata = load_subset()
    with pytest.raises(KeyError, match="nope"):
        PerturbationModel(adata, tiny_scfm(), condition_key="nope")
    with pytest.raises(ValueError, match="control cells"):
        PerturbationModel(adata, tiny_scfm(), control="absent")
    with pytest.raises(ValueError, match="representation"):
        PerturbationModel(adata, tiny_scfm(), representation="bogus")
