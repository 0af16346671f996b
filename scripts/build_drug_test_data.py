"""Build tests/data/drug/: small slices of TGSA's and DeepCDR's original files (both MIT licence).

Usage: ``python scripts/build_drug_test_data.py SOURCE_DIR`` where SOURCE_DIR holds the original files under the
cache names of ``sclong_tl._drug_datasets.TGSA_FILES`` (github violet-sto/TGSA@cdd9903) and / or ``DEEPCDR_FILES``
(github kimmo1019/DeepCDR@4dc5a90), e.g. a mirror folder filled from the repositories; the slices of whichever
set is there are written.

Slices, in the originals' formats (so the loader reads them as it reads the real files):
- ``tgsa_cell_feature_exp.npy``: the first N_LINES entries of TGSA's pickled dict, cut out of the original bytes
  (pickle entries only refer back to earlier memo entries, so a prefix plus the closing opcodes is a valid pickle);
- ``tgsa_mu.csv``: header and the first N_LINES rows;
- ``tgsa_drug_idx_cell_idx_ic50.pkl``: the (drug, cell, ln IC50) rows of those lines, re-pickled (protocol 3);
- ``tgsa_entrez_to_symbol_2019.txt``: the rows of the 706 genes;
- the three small dicts unchanged;
- ``deepcdr_GDSC_IC50.csv``: DeepCDR's ln IC50 table cut to the rows of DEEPCDR_DRUGS (kept: Erlotinib, AICA
  Ribonucleotide, Cisplatin, Selumetinib under both its GDSC ids; dropped by DeepCDR's filter: PubChem "several",
  "none" and empty) and the first DEEPCDR_COLUMNS cell-line columns, as text (the format is unchanged);
- DeepCDR's SMILES table, GDSC drug list and cell-line list unchanged.
"""

from __future__ import annotations

import pickle
import pickletools
import shutil
import sys
from pathlib import Path

import numpy as np

N_LINES = 12
DEEPCDR_DRUGS = ("GDSC:1", "GDSC:1001", "GDSC:1005", "GDSC:1062", "GDSC:1498", "GDSC:153", "GDSC:1142", "GDSC:1266")
DEEPCDR_COLUMNS = 60
OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "drug"


def slice_expression(raw: bytes, n_lines: int) -> bytes:
    """The first ``n_lines`` entries of TGSA's ``np.save``'d dict of graphs, as a valid ``.npy`` file."""
    header_end = raw.index(b"\n") + 1
    body = raw[header_end:]
    keys = [
        pos
        for opcode, arg, pos in pickletools.genops(body)
        if opcode.name == "BINUNICODE" and isinstance(arg, str) and arg.startswith("ACH-")
    ]
    closing = [pos for opcode, _, pos in pickletools.genops(body) if opcode.name == "SETITEMS"][-1]
    return raw[:header_end] + body[: keys[n_lines]] + body[closing:]


def slice_deepcdr_ic50(text: str) -> str:
    """DeepCDR's GDSC_IC50.csv cut to the rows DEEPCDR_DRUGS and the first DEEPCDR_COLUMNS data columns."""
    rows = text.splitlines(keepends=True)
    kept = [rows[0]] + [row for row in rows[1:] if row.split(",", 1)[0].strip('"') in DEEPCDR_DRUGS]
    if len(kept) != 1 + len(DEEPCDR_DRUGS):
        raise ValueError("not every drug of DEEPCDR_DRUGS is in GDSC_IC50.csv")
    cut = []
    for row in kept:
        body = row.rstrip("\r\n")
        cut.append(",".join(body.split(",")[: 1 + DEEPCDR_COLUMNS]) + row[len(body) :])  # line ending kept
    return "".join(cut)


def main(source: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from sclong_tl._drug_datasets import DEEPCDR_FILES, TGSA_FILES

    OUT.mkdir(parents=True, exist_ok=True)
    if all((source / spec.file_name).is_file() for spec in TGSA_FILES.values()):
        tgsa_slices(source, {key: spec.file_name for key, spec in TGSA_FILES.items()})
    if all((source / spec.file_name).is_file() for spec in DEEPCDR_FILES.values()):
        names = {key: spec.file_name for key, spec in DEEPCDR_FILES.items()}
        (OUT / names["ic50"]).write_text(slice_deepcdr_ic50((source / names["ic50"]).read_text()))
        for key in ("smiles", "drug_list", "cell_lines"):
            shutil.copyfile(source / names[key], OUT / names[key])
    for path in sorted(OUT.iterdir()):
        print(f"{path.name}: {path.stat().st_size:,} bytes")


def tgsa_slices(source: Path, names: dict[str, str]) -> None:
    from sclong_tl._safe_pickle import load_restricted

    (OUT / names["expression"]).write_bytes(slice_expression((source / names["expression"]).read_bytes(), N_LINES))
    lines = (source / names["mutation"]).read_text().splitlines(keepends=True)
    (OUT / names["mutation"]).write_text("".join(lines[: N_LINES + 1]))
    triples = np.asarray(load_restricted(source / names["pairs"]))
    subset = np.ascontiguousarray(triples[triples[:, 1] < N_LINES])
    (OUT / names["pairs"]).write_bytes(pickle.dumps(subset, protocol=3))
    entrez = {column.strip("()") for column in lines[0].strip().split(",")[1:]}
    table = (source / names["gene_symbols"]).read_text().splitlines(keepends=True)
    kept = [table[0]] + [row for row in table[1:] if row.rstrip("\n").split("\t")[-1] in entrez]
    (OUT / names["gene_symbols"]).write_text("".join(kept))
    for key in ("cell_names", "drug_names", "drug_smiles"):
        shutil.copyfile(source / names[key], OUT / names[key])


if __name__ == "__main__":
    main(Path(sys.argv[1]))
