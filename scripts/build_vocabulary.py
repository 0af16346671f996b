"""Build the default gene vocabulary and the commonly-expressed gene list shipped in ``sclong_tl/genes/data``.

Recipe (the scLong paper's Methods, "gene selection", re-done on the public data under ``../shared/data``): the
union of

1. protein-coding genes (HGNC locus group "protein-coding gene", and org.Hs.eg.db gene type "protein-coding");
2. genes with at least one GO annotation in org.Hs.eg.db (GO release 2022-07, all evidence codes);
3. the Gene2vec vocabulary (24,447 symbols, ``gene2vec_vocab/TSNE_label_gene2vec.txt``), symbols resolved with the
   shipped HGNC tables (ambiguous / unknown symbols dropped);
4. genes frequently detected in real data: detected (count > 0) in at least ``--min-detected`` (1 %) of the
   cells of at least one dataset of the pretraining corpus (``pretrain_corpus/*``, Kang PBMC, celltypist sample;
   the evaluation sets are not used),

unified to Ensembl gene IDs: every gene is represented by one ID, HGNC's Ensembl ID where HGNC has one, else its
GENCODE v44 ID; IDs in neither (alternative haplotypes, patches, retired IDs) are dropped, and duplicates are
removed. The vocabulary is sorted by Ensembl ID (token order).

``common_genes.txt.gz``: genes detected in at least 10 % of the cells in at least half of the corpus datasets;
:func:`sclong_tl.pp.match_genes` warns when a dataset provides fewer than half of those in a vocabulary.

Run ``scripts/build_gene_tables.py`` first (symbol resolution uses the shipped tables).
Usage: ``python scripts/build_vocabulary.py [--shared ../shared/data] [--out src/sclong_tl/genes/data]``
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

CORPUS = ["pretrain_corpus/*.h5ad", "kang_pbmc_stim/*.h5ad", "celltypist_sample/*.h5ad"]


def canonical_ids(shared: Path) -> tuple[set[str], dict[str, str]]:
    """Ensembl IDs allowed in the vocabulary (HGNC's or GENCODE v44's) and ID -> display symbol."""
    hgnc = pd.read_csv(shared / "gene_vocab" / "hgnc_GeneSymbolRef_upd0731.csv.gz", index_col=0, dtype=str)
    hgnc = hgnc[hgnc["Status"] == "Approved"].drop_duplicates("HGNC ID").dropna(subset=["Ensembl gene ID"])
    gencode = pd.read_csv(
        shared / "gene_vocab" / "gencode_v44_gene_id2name.csv.gz", header=None, names=["ensembl_id", "name"], dtype=str
    )
    symbols = dict(zip(gencode["ensembl_id"], gencode["name"], strict=True))
    symbols.update(zip(hgnc["Ensembl gene ID"], hgnc["Approved symbol"], strict=True))
    return set(symbols), symbols


def protein_coding(shared: Path) -> set[str]:
    hgnc = pd.read_csv(shared / "gene_vocab" / "hgnc_GeneSymbolRef_upd0731.csv.gz", index_col=0, dtype=str)
    hgnc = hgnc[(hgnc["Status"] == "Approved") & (hgnc["Locus group"] == "protein-coding gene")]
    org = pd.read_csv(
        shared / "gene_vocab" / "human_genes_orgHs_entrez_symbol_ensembl_2022-09.tsv.gz", sep="\t", dtype=str
    )
    org_ids = org.loc[org["gene_type"] == "protein-coding", "ensembl_ids"].dropna().str.split("|").explode()
    return set(hgnc["Ensembl gene ID"].dropna()) | set(org_ids)


def gene2vec_genes(shared: Path) -> tuple[set[str], dict[str, int]]:
    from sclong_tl.genes import symbol_to_ensembl

    symbols = (shared / "gene2vec_vocab" / "TSNE_label_gene2vec.txt").read_text().split()
    table = symbol_to_ensembl(symbols)
    return set(table["ensembl_id"]) - {""}, {k: int(v) for k, v in table["kind"].value_counts().items()}


def detection_rates(shared: Path) -> pd.DataFrame:
    """Ensembl ID x dataset: fraction of cells with count > 0 (max over names mapping to one ID)."""
    import anndata as ad

    from sclong_tl.genes import symbol_to_ensembl

    columns = {}
    for pattern in CORPUS:
        for path in sorted(shared.glob(pattern)):
            adata = ad.read_h5ad(path)
            X = adata.X
            detected = np.asarray((X > 0).sum(axis=0)).ravel() / adata.n_obs
            ids = symbol_to_ensembl(list(adata.var_names))["ensembl_id"].to_numpy()
            rates = pd.Series(detected, index=ids)
            columns[path.stem] = rates[rates.index != ""].groupby(level=0).max()
            print(
                f"  {path.name}: {adata.n_obs:,} cells x {adata.n_vars:,} genes, "
                f"{(ids != '').mean():.1%} of names resolved"
            )
    return pd.DataFrame(columns).fillna(0.0)


def write_lines(path: Path, lines: list[str]) -> None:
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
        handle.write("".join(f"{line}\n" for line in lines).encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "src" / "sclong_tl" / "genes" / "data")
    parser.add_argument(
        "--min-detected",
        type=float,
        default=0.01,
        help="fraction of a dataset's cells a gene must be detected in (default 0.01)",
    )
    parser.add_argument("--common-detected", type=float, default=0.10)
    parser.add_argument("--common-datasets", type=float, default=0.5)
    args = parser.parse_args()

    from sclong_tl.genes._data import gene2go_dict

    allowed, symbols = canonical_ids(args.shared)
    coding = protein_coding(args.shared) & allowed
    go = set(gene2go_dict()) & allowed
    g2v, g2v_kinds = gene2vec_genes(args.shared)
    g2v &= allowed
    print("pretraining-corpus detection rates:")
    rates = detection_rates(args.shared)
    detected = set(rates.index[(rates >= args.min_detected).any(axis=1)]) & allowed
    common = set(rates.index[(rates >= args.common_detected).mean(axis=1) >= args.common_datasets]) & allowed

    vocabulary = sorted(coding | go | g2v | detected)
    table = pd.DataFrame({"ensembl_id": vocabulary, "symbol": [symbols[g] for g in vocabulary]})
    for name, members in (("protein_coding", coding), ("go_annotated", go), ("gene2vec", g2v), ("detected", detected)):
        table[name] = table["ensembl_id"].isin(members).astype(int)
    out = args.out / "vocabulary.tsv.gz"
    table.to_csv(out, sep="\t", index=False, compression={"method": "gzip", "mtime": 0})
    common_sorted = sorted(common & set(vocabulary))
    write_lines(args.out / "common_genes.txt.gz", common_sorted)

    print(
        f"protein-coding: {len(coding):,}; GO-annotated: {len(go):,}; "
        f"Gene2vec: {len(g2v):,} ({g2v_kinds}); detected >= {args.min_detected:.0%} in a corpus dataset: "
        f"{len(detected):,}"
    )
    print(f"vocabulary: {len(vocabulary):,} Ensembl IDs -> {out} ({out.stat().st_size:,} bytes)")
    print(
        f"commonly expressed (>= {args.common_detected:.0%} of cells in >= {args.common_datasets:.0%} of "
        f"{rates.shape[1]} datasets): {len(common_sorted):,}"
    )


if __name__ == "__main__":
    main()
