"""Assemble the pretraining corpus of the default model from ../shared/data (real human raw counts).

Sources (MANIFEST.md of the shared data): every file in ``pretrain_corpus/``, ``kang_pbmc_stim/`` and
``celltypist_sample/``. Evaluation sets (CellBench, Baron pancreas, pbmc68k, BEELINE) are never used. Cells whose
barcode (the 14-letter 10x core, prefixes and suffixes stripped) occurs in an earlier file of the same study are
dropped: the two Zheng 2017 FACS subsets share a few barcodes. Each source becomes one ``.h5ad`` shard with
integer counts; ``corpus.json`` records the sources, their SHA-256, cells kept and cells dropped.

With ``--infercnvpy-wheel`` (``pip download infercnvpy==0.6.1 --no-deps``), the Tirosh 2016 oligodendroglioma
example that wheel bundles (184 Smart-seq2 cells of a brain tumour and its microglia / oligodendrocytes, TPM-like
values over 9,450 genes) is added as the last shard: another tissue and a full-length, deep technology. Its values
are linear but not counts, so training normalises them like counts and does not thin them.

Usage: python scripts/prepare_pretraining_corpus.py --shared ../shared --out corpus/ [--infercnvpy-wheel WHEEL]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import anndata as ad
import numpy as np
import scipy.sparse as sp

SOURCES = [
    "pretrain_corpus/pbmc3k_raw_counts_2700cells.h5ad",
    "pretrain_corpus/frozen_pbmc_donor_a_2896cells_counts.h5ad",
    "pretrain_corpus/zheng2017_sorted_pbmc14k_subset_3500cells_7types_counts.h5ad",
    "pretrain_corpus/zheng2017_sorted_pbmc_2140cells_celltype_counts.h5ad",
    "pretrain_corpus/1k_PBMC_v2_raw_counts.h5ad",
    "pretrain_corpus/1k_PBMC_v3_filt_counts.h5ad",
    "pretrain_corpus/5prime_PBMC_filt_1kcells_counts.h5ad",
    "pretrain_corpus/pisces_pbmc_raw_1000cells_counts.h5ad",
    "pretrain_corpus/copykat_exp_rawdata_302cells_counts.h5ad",
    "kang_pbmc_stim/kang2018_pbmc_ctrl_stim_2000cells_counts.h5ad",
    "celltypist_sample/celltypist_sample_559cells_counts.h5ad",
]
# files from the same study, whose barcodes can repeat
STUDY_OF = {
    "zheng2017_sorted_pbmc14k_subset_3500cells_7types_counts.h5ad": "zheng2017",
    "zheng2017_sorted_pbmc_2140cells_celltype_counts.h5ad": "zheng2017",
}
# (member of the wheel, its SHA-256, shard name, provenance)
INFERCNVPY_SOURCE = (
    "infercnvpy/datasets/data/oligodendroglioma.h5ad",
    "f1c5bf67613cabc6931b90f4a623bdd5ed7e32f574a98901f3f55b9d80523f5e",
    "tirosh2016_oligodendroglioma_184cells_tpm.h5ad",
    "PyPI infercnvpy 0.6.1 (BSD-3) infercnvpy/datasets/data/oligodendroglioma.h5ad; Tirosh et al. 2016, Nature 539",
)
_BARCODE = re.compile(r"[ACGT]{14,16}")


def barcode_core(name: str) -> str:
    match = _BARCODE.search(name)
    return match.group(0)[:14] if match else name


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_shard(adata: ad.AnnData, matrix: sp.csr_matrix, keep: np.ndarray, stem: str, path: Path) -> None:
    shard = ad.AnnData(
        X=matrix[keep].astype(np.float32), obs=adata.obs.iloc[np.flatnonzero(keep)][[]], var=adata.var[[]]
    )
    shard.var_names = [name.strip() for name in adata.var_names]
    shard.var_names_make_unique()
    shard.obs_names = [f"{stem}:{name}" for name in shard.obs_names]
    shard.write_h5ad(path, compression="gzip")


def infercnvpy_record(wheel: Path, out: Path) -> dict:
    """Write the oligodendroglioma shard from the infercnvpy wheel; its ``corpus.json`` record."""
    member, expected, shard_name, provenance = INFERCNVPY_SOURCE
    with zipfile.ZipFile(wheel) as archive:
        payload = archive.read(member)
    digest = hashlib.sha256(payload).hexdigest()
    if digest != expected:
        raise ValueError(f"{wheel}:{member} has SHA-256 {digest}, expected {expected} (infercnvpy 0.6.1)")
    adata = ad.read_h5ad(io.BytesIO(payload))
    values = sp.csr_matrix(adata.X)
    if values.nnz and (not np.isfinite(values.data).all() or values.data.min() < 0):
        raise ValueError(f"{member} holds negative or non-finite values")
    write_shard(adata, values, np.ones(adata.n_obs, dtype=bool), Path(shard_name).stem, out / shard_name)
    print(f"{provenance}: {adata.n_obs} cells")
    return {
        "source": provenance,
        "sha256": digest,
        "cells": int(adata.n_obs),
        "kept": int(adata.n_obs),
        "dropped_duplicate_barcodes": 0,
        "genes": int(adata.n_vars),
        "values": "TPM-like (linear, not counts)",
        "shard": shard_name,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--infercnvpy-wheel", type=Path, help="infercnvpy 0.6.1 wheel: adds its Tirosh 2016 cells")
    args = parser.parse_args()
    data = args.shared / "data"
    args.out.mkdir(parents=True, exist_ok=True)
    seen: dict[str, set[str]] = {}
    records = []
    for relative in SOURCES:
        source = data / relative
        adata = ad.read_h5ad(source)
        counts = sp.csr_matrix(adata.X)
        if counts.nnz and not np.allclose(counts.data, np.round(counts.data)):
            raise ValueError(f"{source} does not hold integer counts")
        study = STUDY_OF.get(source.name)
        keep = np.ones(adata.n_obs, dtype=bool)
        if study is not None:
            cores = [barcode_core(name) for name in adata.obs_names]
            previous = seen.setdefault(study, set())
            keep = np.array([core not in previous for core in cores])
            previous.update(cores)
        shard_path = args.out / f"{source.stem}.h5ad"
        write_shard(adata, counts, keep, source.stem, shard_path)
        records.append(
            {
                "source": relative,
                "sha256": sha256(source),
                "cells": int(adata.n_obs),
                "kept": int(keep.sum()),
                "dropped_duplicate_barcodes": int((~keep).sum()),
                "genes": int(adata.n_vars),
                "shard": shard_path.name,
            }
        )
        print(f"{relative}: {keep.sum()} / {adata.n_obs} cells kept")
    if args.infercnvpy_wheel is not None:
        records.append(infercnvpy_record(args.infercnvpy_wheel, args.out))
    summary = {"sources": records, "total_cells": int(sum(r["kept"] for r in records))}
    (args.out / "corpus.json").write_text(json.dumps(summary, indent=2))
    print(f"total {summary['total_cells']} cells in {len(records)} shards -> {args.out}")


if __name__ == "__main__":
    main()
