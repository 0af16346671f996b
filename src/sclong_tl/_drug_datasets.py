"""Loaders of the drug-task datasets (re-exported by :mod:`sclong_tl.datasets`): public GitHub files, sha256-checked.

- :func:`gdsc_tgsa`: GDSC ln IC50 of 580 CCLE cell lines x 170 drugs (82,833 pairs) with expression of 706 COSMIC
  Cancer Gene Census genes, as released by TGSA (Zhu et al., Bioinformatics 2022; github ``violet-sto/TGSA``,
  MIT licence). The stand-in for DeepCDR's task (whose expression files are not public any more).
- :func:`deepcdr_gdsc`: DeepCDR's own task (Liu et al., Bioinformatics 2020; github ``kimmo1019/DeepCDR``, MIT
  licence): its 107,446 GDSC ln IC50 pairs of 561 CCLE cell lines x 223 drugs, rebuilt from the repository's
  files with the filter of its ``run_DeepCDR.py``, with the drugs' SMILES but no cell-line omics (not public).
- :func:`deepdds_oneil`: the O'Neil 2016 drug-combination screen as released by DeepDDS (Wang et al., Brief
  Bioinform 2022; github ``Sinwang404/DeepDDs``, branch master): 12,415 (drug 1, drug 2, cell line, synergy 0/1)
  examples, 36 drugs, 31 cell lines with 954-gene TPM expression. That repository has no licence file.

Files are fetched once into ``<cache>/datasets/drug/`` from ``raw.githubusercontent.com`` at fixed commits and
checked against the sha256 digests below (``SCLONG_TL_MIRROR`` replaces the host: ``<mirror>/<file name>``).
TGSA stores its arrays as Python pickles; they are read with a restricted unpickler that rebuilds only numpy
arrays, tensors, plain containers and a stand-in for torch-geometric's ``Data`` (nothing else can run).

scLong needs non-negative expression. TGSA's expression is per-gene z-scores over the 580 lines (the unscaled
table is not public), so :func:`gdsc_tgsa` adds ``layers["shifted"]``: every line's z-scores minus that line's
minimum. It is non-negative and keeps each line's order of genes, but that order ranks genes by how unusual their
level is *for that gene across lines*, not by abundance; it is a documented approximation, not expression.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _download

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from anndata import AnnData

logger = logging.getLogger(__name__)

CACHE_SUBDIR = "datasets/drug"
TGSA_COMMIT = "cdd9903b889112b04325bec9f61935d05d9e9179"
DEEPDDS_COMMIT = "674795421dd19329d0ce3c3562fa53db6b328dca"
DEEPCDR_COMMIT = "4dc5a901d580511335b9a54ffce9fb188f9f068d"


@dataclass(frozen=True)
class SourceFile:
    """One public file: where it is, its name in the cache (and on a mirror), its sha256."""

    url: str
    file_name: str
    sha256: str


def _github(repository: str, commit: str, path: str, file_name: str, sha256: str) -> SourceFile:
    return SourceFile(f"https://raw.githubusercontent.com/{repository}/{commit}/{path}", file_name, sha256)


_TGSA_CELLS = "data/CellLines_DepMap/CCLE_580_18281/census_706"
_TGSA_DICT = "data/similarity_augment/dict"
#: TGSA's files read by :func:`gdsc_tgsa`
TGSA_FILES: dict[str, SourceFile] = {
    "expression": _github(
        "violet-sto/TGSA",
        TGSA_COMMIT,
        f"{_TGSA_CELLS}/cell_feature_exp.npy",
        "tgsa_cell_feature_exp.npy",
        "1d4f184d6f85fd9d46252eade67be4cc2318d0019f9d3b334f94e14b4c4308ff",
    ),
    "mutation": _github(
        "violet-sto/TGSA",
        TGSA_COMMIT,
        f"{_TGSA_CELLS}/mu.csv",
        "tgsa_mu.csv",
        "3bfaacd021ba5e2a34bfe449750e0056d5d6b85940702fe6aabbcc36bfc6386d",
    ),
    "pairs": _github(
        "violet-sto/TGSA",
        TGSA_COMMIT,
        f"{_TGSA_DICT}/drug_idx_cell_idx_ic50",
        "tgsa_drug_idx_cell_idx_ic50.pkl",
        "827e96c5cd4636b6a42db6436c5e6a3053df2498fb7543359c9d67e39642b7c7",
    ),
    "cell_names": _github(
        "violet-sto/TGSA",
        TGSA_COMMIT,
        f"{_TGSA_DICT}/cell_idx2id_dict",
        "tgsa_cell_idx2id_dict.pkl",
        "6633203d9d5d5defe60334d8244cdc159705c31ada96b8dfea49d7462cf7b544",
    ),
    "drug_names": _github(
        "violet-sto/TGSA",
        TGSA_COMMIT,
        f"{_TGSA_DICT}/drug_idx2name_dict",
        "tgsa_drug_idx2name_dict.pkl",
        "c1c9bb1bb7103365eccb94d5a93fafe485c90abfa8e47841594f73faf0352319",
    ),
    "drug_smiles": _github(
        "violet-sto/TGSA",
        TGSA_COMMIT,
        f"{_TGSA_DICT}/drug_idx2smiles_dict",
        "tgsa_drug_idx2smiles_dict.pkl",
        "094fc27540e74148f9341120bb805c686fa41332a0bed5a9727507fd2279379e",
    ),
    "gene_symbols": _github(
        "violet-sto/TGSA",
        TGSA_COMMIT,
        "data/enterez_NCBI_to_hugo_gene_symbol_march_2019.txt",
        "tgsa_entrez_to_symbol_2019.txt",
        "911c049c811f8b7f8cd5fb529379e5331231424f98432fe0f0e23851677e7ce0",
    ),
}
#: DeepDDS's files read by :func:`deepdds_oneil`
DEEPDDS_FILES: dict[str, SourceFile] = {
    "examples": _github(
        "Sinwang404/DeepDDs",
        DEEPDDS_COMMIT,
        "data/new_labels_0_10.csv",
        "deepdds_new_labels_0_10.csv",
        "45db760db38066bf5e66013e210e578ca426f6e53a69e8c17a2da063177e8f03",
    ),
    "expression": _github(
        "Sinwang404/DeepDDs",
        DEEPDDS_COMMIT,
        "data/new_cell_features_954.csv",
        "deepdds_new_cell_features_954.csv",
        "8a049aa2cacbe7c12de1b4d7614a5b70650352d81da8d66f35877a3666cc78f7",
    ),
    "smiles": _github(
        "Sinwang404/DeepDDs",
        DEEPDDS_COMMIT,
        "data/smiles.csv",
        "deepdds_smiles.csv",
        "651182e8ead1af521c1bd970fa732fc87942513da1118b4d55862a692f354711",
    ),
    "tissues": _github(
        "Sinwang404/DeepDDs",
        DEEPDDS_COMMIT,
        "data/cell_line_0_10.csv",
        "deepdds_cell_line_0_10.csv",
        "2f68baad88629a4f5e2d9128c2ea55fe7a4029245304db5d9bcc39a744906654",
    ),
}
#: DeepCDR's files read by :func:`deepcdr_gdsc`
DEEPCDR_FILES: dict[str, SourceFile] = {
    "ic50": _github(
        "kimmo1019/DeepCDR",
        DEEPCDR_COMMIT,
        "data/CCLE/GDSC_IC50.csv",
        "deepcdr_GDSC_IC50.csv",
        "9dad3b047e20b59b88d88ba00f64ef53e7dcfc11e7cceab19d9e79ae746105bb",
    ),
    "smiles": _github(
        "kimmo1019/DeepCDR",
        DEEPCDR_COMMIT,
        "data/223drugs_pubchem_smiles.txt",
        "deepcdr_223drugs_pubchem_smiles.txt",
        "b2b21befca06d0d3a0fc0ec762eb3e2184436851b6bebddddccf8cc60339d9c4",
    ),
    "drug_list": _github(
        "kimmo1019/DeepCDR",
        DEEPCDR_COMMIT,
        "data/GDSC/1.Drug_listMon%20Jun%2024%2009_00_55%202019.csv",
        "deepcdr_gdsc_drug_list_20190624.csv",
        "b88757dd7aa7979251832b4866ff605f716854705d49ea4cb256f794e262a74e",
    ),
    "cell_lines": _github(
        "kimmo1019/DeepCDR",
        DEEPCDR_COMMIT,
        "data/cancer_cell_line.info",
        "deepcdr_cancer_cell_line.info",
        "0482ea95ee3b4c082a37d529829f4b4f6bf41655badaf39777bf67ae638b5005",
    ),
}
#: The 25 TCGA types DeepCDR's ``DataSplit`` draws its 95/5 split from (pairs of other types are in neither part)
DEEPCDR_SPLIT_TYPES: tuple[str, ...] = (
    "ALL", "BLCA", "BRCA", "CESC", "DLBC", "LIHC", "LUAD", "ESCA", "GBM", "HNSC", "KIRC", "LAML", "LCML", "LGG",
    "LUSC", "MESO", "MM", "NB", "OV", "PAAD", "SCLC", "SKCM", "STAD", "THCA", "COAD/READ",
)  # fmt: skip


@dataclass
class DrugResponseData:
    """A drug-response dataset: cell lines, (cell line, drug, response) pairs and drug SMILES.

    Attributes
    ----------
    cells
        Cell lines x genes AnnData (``obs_names`` = the ``cell_line`` values of :attr:`pairs`).
    pairs
        DataFrame with ``cell_line``, ``drug`` and ``ln_ic50``.
    drugs
        Drug name -> SMILES.
    """

    cells: AnnData
    pairs: pd.DataFrame
    drugs: dict[str, str]


@dataclass
class DrugResponsePairs:
    """A drug-response task without cell-line expression: :class:`DrugResponseData` less ``cells``.

    Attributes
    ----------
    pairs
        DataFrame with ``cell_line``, ``drug`` and ``ln_ic50`` (as in :class:`DrugResponseData`) and further
        annotation columns.
    drugs
        Drug name -> SMILES.
    cell_lines
        The task's cell lines (index: the ``cell_line`` values of :attr:`pairs`) with their annotation.
    """

    pairs: pd.DataFrame
    drugs: dict[str, str]
    cell_lines: pd.DataFrame


@dataclass
class DrugCombinationData:
    """A drug-combination dataset: cell lines, (cell line, drug 1, drug 2, label) examples and drug SMILES.

    Attributes
    ----------
    cells
        Cell lines x genes AnnData.
    examples
        DataFrame with ``cell_line``, ``drug1``, ``drug2`` and ``label`` (0/1).
    drugs
        Drug name -> SMILES.
    """

    cells: AnnData
    examples: pd.DataFrame
    drugs: dict[str, str]


def _fetch_all(
    files: dict[str, SourceFile], *, progress: bool, retries: int, cache_dir: str | os.PathLike | None
) -> dict[str, Path]:
    return {
        key: _download.retrieve(
            spec.url,
            file_name=spec.file_name,
            known_hash=spec.sha256,
            subdir=CACHE_SUBDIR,
            progress=progress,
            retries=retries,
            cache=cache_dir,
        )
        for key, spec in files.items()
    }


class _GraphRecord:
    """Stand-in for ``torch_geometric.data.data.Data`` in TGSA's pickles: keeps the pickled attributes."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def _load_tgsa_pickle(path: Path) -> Any:
    """Unpickle a TGSA file (plain pickle or ``np.save`` of an object array) with the restricted unpickler."""
    from ._safe_pickle import _RestrictedUnpickler

    class Unpickler(_RestrictedUnpickler):
        def find_class(self, module: str, name: str) -> Any:
            if (module, name) == ("torch_geometric.data.data", "Data"):
                return _GraphRecord
            return super().find_class(module, name)

    data = path.read_bytes()
    stream = io.BytesIO(data)
    if data.startswith(b"\x93NUMPY"):
        from numpy.lib import format as npy

        version = npy.read_magic(stream)
        npy.read_array_header_1_0(stream) if version == (1, 0) else npy.read_array_header_2_0(stream)
        return Unpickler(stream).load().item()
    return Unpickler(stream).load()


def shift_to_nonnegative(X: np.ndarray) -> np.ndarray:
    """Every row minus its minimum (float32): non-negative, each row's order of values unchanged."""
    X = np.asarray(X, dtype=np.float64)
    return (X - X.min(axis=1, keepdims=True)).astype(np.float32)


def gdsc_tgsa(
    *, progress: bool = True, cache_dir: str | os.PathLike | None = None, retries: int = _download.DEFAULT_RETRIES
) -> DrugResponseData:
    """GDSC drug response (ln IC50) with CCLE expression, as released by TGSA (see the module notes).

    Parameters
    ----------
    progress
        Show download progress bars.
    cache_dir
        Cache root; default :attr:`sclong_tl.settings.cache_dir`.
    retries
        Extra download attempts after a connection error.

    Returns
    -------
    :class:`DrugResponseData`: ``cells`` (580 lines x 706 genes; ``obs_names`` DepMap IDs, ``var_names`` HGNC
    symbols of March 2019, ``var["entrez_id"]``; ``X`` per-gene z-scores over the 580 lines as TGSA released them,
    ``layers["shifted"]`` each line minus its minimum (non-negative; pass ``layer="shifted"`` to the drug
    models), ``layers["mutation"]`` TGSA's 0/1 mutation status); ``pairs`` (82,833 rows: ``cell_line``, ``drug``,
    ``ln_ic50``); ``drugs`` (170 names -> PubChem canonical SMILES).
    """
    import anndata as ad
    import pandas as pd

    paths = _fetch_all(TGSA_FILES, progress=progress, retries=retries, cache_dir=cache_dir)
    graphs = _load_tgsa_pickle(paths["expression"])
    mutation = pd.read_csv(paths["mutation"], index_col=0)
    names = [str(name) for name in graphs]
    if names != [str(name) for name in mutation.index]:
        raise ValueError("TGSA's expression and mutation files list different cell lines")
    X = np.stack([np.asarray(graphs[name].x, dtype=np.float32).reshape(-1) for name in graphs])
    entrez = [column.strip("()") for column in mutation.columns]
    if X.shape[1] != len(entrez):
        raise ValueError(f"TGSA's expression has {X.shape[1]} genes, its mutation table {len(entrez)}")
    symbols_table = pd.read_csv(paths["gene_symbols"], sep="\t", dtype=str).dropna()
    to_symbol = dict(zip(symbols_table.iloc[:, 1], symbols_table.iloc[:, 0], strict=True))
    var = pd.DataFrame({"entrez_id": entrez}, index=pd.Index([to_symbol.get(e, f"ENTREZ:{e}") for e in entrez]))
    cells = ad.AnnData(X=X, obs=pd.DataFrame(index=pd.Index(names, name="depmap_id")), var=var)
    cells.layers["shifted"] = shift_to_nonnegative(X)
    cells.layers["mutation"] = mutation.to_numpy(dtype=np.int8)
    cells.uns["description"] = (
        "TGSA (violet-sto/TGSA@cdd9903) CCLE expression over 706 COSMIC census genes: X "
        "per-gene z-scores over the 580 lines; layers['shifted'] each line minus its minimum"
    )

    cell_names = _load_tgsa_pickle(paths["cell_names"])
    drug_names = _load_tgsa_pickle(paths["drug_names"])
    drug_smiles = _load_tgsa_pickle(paths["drug_smiles"])
    triples = np.asarray(_load_tgsa_pickle(paths["pairs"]), dtype=np.float64)
    drug_index, cell_index = triples[:, 0].astype(int), triples[:, 1].astype(int)
    pairs = pd.DataFrame(
        {
            "cell_line": [cell_names[i] for i in cell_index],
            "drug": [drug_names[i] for i in drug_index],
            "ln_ic50": triples[:, 2],
        }
    )
    drugs = {str(drug_names[i]): str(drug_smiles[i]) for i in sorted(drug_names)}
    logger.info(
        "gdsc_tgsa: %d cell lines x %d genes, %d pairs, %d drugs", cells.n_obs, cells.n_vars, len(pairs), len(drugs)
    )
    return DrugResponseData(cells=cells, pairs=pairs, drugs=drugs)


def deepcdr_gdsc(
    *, progress: bool = True, cache_dir: str | os.PathLike | None = None, retries: int = _download.DEFAULT_RETRIES
) -> DrugResponsePairs:
    """DeepCDR's drug-response task (paper Fig. 4b): its GDSC ln IC50 pairs and drug SMILES, without expression.

    The pairs are rebuilt from four files of github ``kimmo1019/DeepCDR`` (MIT licence) with the filter of its
    ``run_DeepCDR.py``: every non-missing ln IC50 of ``GDSC_IC50.csv`` (GDSC drugs x DepMap cell lines) whose
    GDSC drug has a numeric PubChem CID in the GDSC drug list of 24 June 2019, that CID among the 223 drugs with
    SMILES, and whose cell line is one of the 561 in ``cancer_cell_line.info``. This gives DeepCDR's 107,446
    pairs; 15 CIDs have two GDSC drug ids (the same drug screened twice), so 6,383 (cell line, drug) pairs occur
    twice with different values, as in DeepCDR (``gdsc_drug_id`` tells them apart). DeepCDR's cell-line
    mutation, expression and methylation tables are not public any more, so no expression comes with the pairs:
    this loader is for users with their own CCLE expression of these lines (DepMap IDs), who can then run the
    paper's exact task with :class:`~sclong_tl.tl.DrugResponseModel`. :func:`gdsc_tgsa` is a complete
    substitute with public (z-scored) expression.

    Parameters
    ----------
    progress, cache_dir, retries
        As for :func:`gdsc_tgsa`.

    Returns
    -------
    :class:`DrugResponsePairs`: ``pairs`` (107,446 rows in DeepCDR's order: ``cell_line`` DepMap ID, ``drug``
    GDSC drug name, ``ln_ic50``, ``cell_line_name``, ``pubchem_cid`` (string), ``gdsc_drug_id`` (int),
    ``tcga_type`` (missing where DeepCDR's file says ``NA``) and ``in_deepcdr_split``: whether the type is one of
    the 25 (:data:`DEEPCDR_SPLIT_TYPES`) that DeepCDR's 95/5 split, stratified by type, draws from (pairs of
    other types are in neither of its parts)); ``drugs`` (223 names -> DeepCDR's PubChem SMILES);
    ``cell_lines`` (561 rows, index ``depmap_id``: ``name``, ``tcga_type``).

    Examples
    --------
    With a cell lines x genes AnnData ``cells`` of your own (non-negative expression, ``obs_names`` DepMap IDs),
    the paper's 95/5 split stratified by TCGA type:

    >>> data = sl.datasets.deepcdr_gdsc()                                      # doctest: +SKIP
    >>> pairs = data.pairs[data.pairs["in_deepcdr_split"]]                     # doctest: +SKIP
    >>> pairs = pairs[pairs["cell_line"].isin(cells.obs_names)]                # doctest: +SKIP
    >>> test = pairs.groupby("tcga_type").sample(frac=0.05, random_state=0)   # doctest: +SKIP
    >>> model = sl.tl.DrugResponseModel(cells, "default", drugs=data.drugs)   # doctest: +SKIP
    >>> model.fit(pairs.drop(test.index)).score(test)                         # doctest: +SKIP
    """
    import pandas as pd

    paths = _fetch_all(DEEPCDR_FILES, progress=progress, retries=retries, cache_dir=cache_dir)
    smiles = pd.read_csv(paths["smiles"], sep="\t", header=None, names=["cid", "smiles"], dtype=str)
    drug_list = pd.read_csv(paths["drug_list"], dtype=str, keep_default_na=False)
    cell_lines = pd.read_csv(
        paths["cell_lines"], sep="\t", header=None, names=["depmap_id", "name", "tcga_type"], dtype=str
    ).set_index("depmap_id")
    ic50 = pd.read_csv(paths["ic50"], index_col=0)

    # DeepCDR: GDSC drug id -> PubChem CID where the CID is a plain number, kept when the CID has SMILES
    numeric = drug_list[drug_list["PubCHEM"].str.isdigit()]
    cid_of = dict(zip(numeric["drug_id"], numeric["PubCHEM"], strict=True))
    name_of = numeric.drop_duplicates("PubCHEM").set_index("PubCHEM")["Name"]
    name_of = name_of[name_of.index.isin(smiles["cid"])]
    if name_of.duplicated().any():
        raise ValueError("DeepCDR's GDSC drug list gives one name to two of its PubChem CIDs with SMILES")
    gdsc_ids = np.array([row.split(":")[-1] for row in ic50.index])
    kept_rows = np.array([cid_of.get(gdsc_id) in name_of.index for gdsc_id in gdsc_ids])
    kept_columns = ic50.columns.isin(cell_lines.index)
    values = ic50.to_numpy(dtype=np.float64)[np.ix_(kept_rows, kept_columns)]
    row, column = np.nonzero(~np.isnan(values))  # row-major: DeepCDR's order (drug by drug, lines in file order)
    gdsc_id = gdsc_ids[kept_rows][row]
    cell_line = ic50.columns[kept_columns].to_numpy(dtype=str)[column]
    cid = np.array([cid_of[g] for g in gdsc_id], dtype=object)
    tcga = cell_lines["tcga_type"].reindex(cell_line).to_numpy()
    pairs = pd.DataFrame(
        {
            "cell_line": cell_line.astype(object),
            "drug": name_of.reindex(cid).to_numpy(),
            "ln_ic50": values[row, column],
            "cell_line_name": cell_lines["name"].reindex(cell_line).to_numpy(),
            "pubchem_cid": cid,
            "gdsc_drug_id": gdsc_id.astype(np.int64),
            "tcga_type": tcga,
            "in_deepcdr_split": pd.Series(tcga).isin(DEEPCDR_SPLIT_TYPES).to_numpy(),
        }
    )
    drugs = {str(name_of[c]): str(s) for c, s in zip(smiles["cid"], smiles["smiles"], strict=True) if c in name_of}
    logger.info(
        "deepcdr_gdsc: %d pairs, %d cell lines, %d drugs",
        len(pairs),
        pairs["cell_line"].nunique(),
        pairs["drug"].nunique(),
    )
    return DrugResponsePairs(pairs=pairs, drugs=drugs, cell_lines=cell_lines)


def deepdds_oneil(
    *, progress: bool = True, cache_dir: str | os.PathLike | None = None, retries: int = _download.DEFAULT_RETRIES
) -> DrugCombinationData:
    """The O'Neil 2016 drug-combination screen as released by DeepDDS (see the module notes).

    The repository has no licence file: check its terms before redistributing anything derived from it.

    Parameters
    ----------
    progress, cache_dir, retries
        As for :func:`gdsc_tgsa`.

    Returns
    -------
    :class:`DrugCombinationData`: ``cells`` (31 lines x 954 genes; ``var_names`` Ensembl IDs,
    ``var["transcript_id"]``; ``X`` CCLE RSEM transcript TPM as released, ``layers["log1p_norm"]`` TPM scaled to
    1e4 per line and ``log1p``-transformed (pass ``layer="log1p_norm"`` to the drug models);
    ``obs["tissue"]``); ``examples`` (12,415 rows: ``cell_line``, ``drug1``, ``drug2``, ``label``, with drug
    names from the repository's SMILES table); ``drugs`` (names -> SMILES).
    """
    import anndata as ad
    import pandas as pd

    paths = _fetch_all(DEEPDDS_FILES, progress=progress, retries=retries, cache_dir=cache_dir)
    table = pd.read_csv(paths["expression"], header=None, dtype=str)
    if table.iloc[0, 0] != "gene_id" or table.iloc[1, 0] != "transcript_id":
        raise ValueError("DeepDDS's cell-feature file does not start with gene_id / transcript_id rows")
    var = pd.DataFrame({"transcript_id": table.iloc[1, 1:].to_numpy()}, index=pd.Index(table.iloc[0, 1:].to_numpy()))
    tpm = table.iloc[2:, 1:].to_numpy(dtype=np.float64)
    tissues = pd.read_csv(paths["tissues"], header=None, names=["cell_line", "tissue"]).set_index("cell_line")
    obs = pd.DataFrame(index=pd.Index(table.iloc[2:, 0].to_numpy(), name="cell_line"))
    obs["tissue"] = tissues["tissue"].reindex(obs.index).to_numpy()
    cells = ad.AnnData(X=tpm.astype(np.float32), obs=obs, var=var)
    totals = tpm.sum(axis=1, keepdims=True)
    cells.layers["log1p_norm"] = np.log1p(tpm / np.where(totals > 0, totals, 1.0) * 1e4).astype(np.float32)

    smiles = pd.read_csv(paths["smiles"])
    name_of: dict[str, str] = {}
    for name, smile in zip(smiles["name"], smiles["smile"], strict=True):
        name_of.setdefault(str(smile), str(name))
    labels = pd.read_csv(paths["examples"])
    unnamed = sorted(set(labels["drug1"]).union(labels["drug2"]) - set(name_of))
    if unnamed:
        raise ValueError(f"{len(unnamed)} SMILES of the examples are not in DeepDDS's SMILES table: {unnamed[:3]}")
    examples = pd.DataFrame(
        {
            "cell_line": labels["cell"].astype(str),
            "drug1": labels["drug1"].map(name_of),
            "drug2": labels["drug2"].map(name_of),
            "label": labels["label"].astype(int),
        }
    )
    used = sorted(set(examples["drug1"]).union(examples["drug2"]))
    drugs = {name: smile for smile, name in name_of.items() if name in used}
    logger.info(
        "deepdds_oneil: %d cell lines x %d genes, %d examples, %d drugs",
        cells.n_obs,
        cells.n_vars,
        len(examples),
        len(drugs),
    )
    return DrugCombinationData(cells=cells, examples=examples, drugs=drugs)
