"""DrugResponseModel / DrugCombinationModel on real slices: TGSA (12 CCLE lines, committed) and DeepDDS (../shared)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("rdkit")

import sclong_tl as sl
from _drug_helpers import load_tgsa_slice

DRUGS = ["Camptothecin", "Gefitinib", "Docetaxel", "Cytarabine", "Vinblastine", "Dabrafenib", "Nilotinib", "Olaparib"]
# a 706-gene panel covers few of the vocabulary's commonly expressed genes: match_genes warns, as it should
pytestmark = pytest.mark.filterwarnings("ignore:only .* commonly expressed genes:UserWarning")
FIT = {"max_epochs": 3, "batch_size": 16, "patience": 2}
FIT_PAIRS = {"max_epochs": 2, "batch_size": 128, "patience": 2}  # the combination head is wide: few, large steps


@pytest.fixture(scope="module")
def tgsa(tmp_path_factory):
    return load_tgsa_slice(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def pairs(tgsa):
    frame = tgsa.pairs[tgsa.pairs["drug"].isin(DRUGS)].reset_index(drop=True)
    assert len(frame) > 60
    return frame


@pytest.fixture(scope="module")
def drugs(tgsa):
    return {name: tgsa.drugs[name] for name in DRUGS}


@pytest.fixture(scope="module")
def scfm():
    return sl.load_model("default", device="cpu")


@pytest.fixture(scope="module")
def response(tgsa, pairs, drugs, scfm):
    model = sl.tl.DrugResponseModel(tgsa.cells[:10], scfm, layer="shifted", drugs=drugs, device="cpu", progress=False)
    return model.fit(pairs[pairs["cell_line"].isin(tgsa.cells.obs_names[:10])], **FIT)


def test_response_fit_predict_score_save_load(response, tgsa, pairs, tmp_path):
    assert 700 <= response.features.n_features <= 706  # TGSA's 2019 symbols: one gene misses the vocabulary
    assert response.features.scfm["name"] == "sclong-default"
    assert 1 <= len(response.history) <= 3 and response.fit_params["n_validation"] > 0
    known = pairs[pairs["cell_line"].isin(response.cell_lines)]
    predicted = response.predict(known)
    assert list(predicted.columns) == ["cell_line", "drug", "prediction"]
    assert predicted.index.equals(known.index) and np.isfinite(predicted["prediction"]).all()
    scores = response.score(known)
    assert set(scores) == {"pearson", "spearman", "rmse", "n"} and scores["n"] == len(known)
    path = response.save(tmp_path / "response.safetensors")
    loaded = sl.tl.DrugResponseModel.load(path, device="cpu")
    np.testing.assert_allclose(loaded.predict(known)["prediction"], predicted["prediction"], rtol=1e-6)
    assert loaded.drugs == response.drugs and loaded.history == response.history
    # held-out lines: encoded on demand with the same scLong model (loaded by name, sha256 checked)
    new_lines = pairs[pairs["cell_line"].isin(tgsa.cells.obs_names[10:])]
    with pytest.raises(ValueError, match="not known to the model"):
        loaded.predict(new_lines)
    out = loaded.predict(new_lines, cells=tgsa.cells[10:])
    assert np.isfinite(out["prediction"]).all() and len(loaded.cell_lines) == 12
    with pytest.raises(ValueError, match="not an sclong_tl drug-combination model"):
        sl.tl.DrugCombinationModel.load(path)


def test_frozen_scLong_vectors_are_cached_mean_over_d(response, tgsa, scfm):
    from sclong_tl.pp import iter_model_inputs

    _, values = next(iter_model_inputs(tgsa.cells[:2], scfm.genes, layer="shifted"))
    representations, _ = scfm.encode(values)
    expected = representations[:, response.features.positions].mean(axis=2)
    np.testing.assert_allclose(response.features.values[:2], expected, rtol=1e-5, atol=1e-6)


def test_results_are_deterministic_for_a_seed(tgsa, pairs, drugs):
    def run(seed: int) -> np.ndarray:
        model = sl.tl.DrugResponseModel(tgsa.cells, None, drugs=drugs, random_state=seed, progress=False)
        return model.fit(pairs, **FIT).predict(pairs)["prediction"].to_numpy()

    first, again, other = run(0), run(0), run(1)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_bad_drugs_are_named(tgsa, pairs, drugs):
    with pytest.raises(ValueError, match=r"drug 'broken' has an invalid SMILES.*C1CC"):
        sl.tl.DrugResponseModel(tgsa.cells, None, drugs={**drugs, "broken": "C1CC(("})
    with pytest.raises(ValueError, match="drug 'nothing' has no SMILES"):
        sl.tl.DrugResponseModel(tgsa.cells, None, drugs={"nothing": None})
    model = sl.tl.DrugResponseModel(tgsa.cells, None, drugs={k: drugs[k] for k in DRUGS[:2]}, progress=False)
    with pytest.raises(ValueError, match=r"have no SMILES: \['Cytarabine'"):
        model.fit(pairs, **FIT)


def test_bad_cell_lines_and_genes(tgsa, scfm, drugs):
    with pytest.raises(ValueError, match="negative values"):  # z-scores are not what scLong reads
        sl.tl.DrugResponseModel(tgsa.cells[:3], scfm, drugs=drugs)
    strange = tgsa.cells[:3].copy()
    strange.var_names = [f"not_a_gene_{i}" for i in range(strange.n_vars)]
    with pytest.raises(ValueError, match="none of the 706 dataset genes"):
        sl.tl.DrugResponseModel(strange, scfm, layer="shifted", drugs=drugs)
    model = sl.tl.DrugResponseModel(tgsa.cells[:3], None, drugs=drugs)
    with pytest.raises(ValueError, match="do not match the model's"):
        model.add_cell_lines(strange)


def test_molecule_graph_features():
    from sclong_tl.pp import molecule_graph
    from sclong_tl.pp._molecules import ELEMENTS, N_ATOM_FEATURES

    benzene = molecule_graph("c1ccccc1")
    assert benzene.x.shape == (6, N_ATOM_FEATURES) and benzene.edge_index.shape == (2, 12)
    aromatic = len(ELEMENTS) + 1 + 6 + 5 + 6
    assert (benzene.x[:, aromatic] == 1).all() and (benzene.x[:, 0] == 1).all()  # carbon, aromatic
    salt = molecule_graph("[Na+].[Cl-]")  # no bonds: isolated atoms
    assert salt.n_atoms == 2 and salt.edge_index.shape == (2, 0)


def _combination_examples(pairs: pd.DataFrame) -> pd.DataFrame:
    """Drug pairs on the TGSA lines, labelled 1 when both drugs are below the line's median ln IC50 (real data)."""
    sensitive = pairs.assign(low=pairs["ln_ic50"] < pairs.groupby("cell_line")["ln_ic50"].transform("median"))
    table = sensitive.pivot(index="cell_line", columns="drug", values="low").dropna(axis=1)
    rows = [
        (line, a, b, int(table.loc[line, a] and table.loc[line, b]))
        for line in table.index
        for i, a in enumerate(table.columns)
        for b in table.columns[i + 1 :]
    ]
    return pd.DataFrame(rows, columns=["cell_line", "drug1", "drug2", "label"])


def test_combination_is_symmetric_and_round_trips(tgsa, pairs, drugs, scfm, tmp_path):
    examples = _combination_examples(pairs)
    assert examples["label"].nunique() == 2
    model = sl.tl.DrugCombinationModel(tgsa.cells, scfm, layer="shifted", drugs=drugs, progress=False)
    model.fit(examples, **FIT_PAIRS)
    predicted = model.predict(examples)
    swapped = model.predict(examples.rename(columns={"drug1": "drug2", "drug2": "drug1"}))
    np.testing.assert_array_equal(predicted["prediction"].to_numpy(), swapped["prediction"].to_numpy())
    assert ((predicted["prediction"] > 0) & (predicted["prediction"] < 1)).all()
    scores = model.score(examples)
    assert set(scores) == {"auroc", "auprc", "accuracy", "n"}
    loaded = sl.tl.DrugCombinationModel.load(model.save(tmp_path / "combination.safetensors"))
    np.testing.assert_allclose(loaded.predict(examples)["logit"], predicted["logit"], rtol=1e-6)


def test_combination_on_deepdds(tmp_path):
    from _drug_helpers import DEEPDDS_SHARED_NAMES, deepdds_shared

    shared = deepdds_shared()
    import anndata as ad

    features = ad.read_h5ad(shared / "cell_features.h5ad")[:6]
    labels = pd.read_csv(shared / DEEPDDS_SHARED_NAMES["examples"])
    smiles = pd.read_csv(shared / DEEPDDS_SHARED_NAMES["smiles"]).drop_duplicates("smile")
    name = dict(zip(smiles["smile"], smiles["name"], strict=True))
    examples = pd.DataFrame(
        {
            "cell_line": labels["cell"],
            "drug1": labels["drug1"].map(name),
            "drug2": labels["drug2"].map(name),
            "label": labels["label"],
        }
    )
    examples = examples[examples["cell_line"].isin(features.obs_names)].iloc[:200]
    drugs = {n: s for s, n in name.items() if n in set(examples["drug1"]) | set(examples["drug2"])}
    model = sl.tl.DrugCombinationModel(features, None, drugs=drugs, progress=False).fit(examples, **FIT_PAIRS)
    assert model.score(examples)["n"] == len(examples)


def test_finetuning_changes_scLong_and_recaches(tgsa, pairs, drugs):
    scfm = sl.load_model("default", device="cpu")
    before = {k: v.clone() for k, v in scfm.module.state_dict().items()}
    lines = tgsa.cells.obs_names[:3]
    model = sl.tl.DrugResponseModel(tgsa.cells[:3], scfm, layer="shifted", drugs=drugs, finetune=True, progress=False)
    frozen_values = model.features.values.copy()
    model.fit(pairs[pairs["cell_line"].isin(lines)], max_epochs=1, batch_size=32, finetune_lr=1e-3)
    after = scfm.module.state_dict()
    assert any(not np.allclose(before[k].numpy(), after[k].numpy()) for k in before if before[k].is_floating_point())
    assert not np.allclose(model.features.values, frozen_values) and model.features.scfm["finetuned"]
    with pytest.raises(ValueError, match="finetune=True needs an scLong model"):
        sl.tl.DrugResponseModel(tgsa.cells[:3], None, drugs=drugs, finetune=True)
