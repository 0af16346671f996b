"""Build the gene symbol tables and GO annotations shipped in ``src/sclong_tl/genes/data``.

Reads the public tables under ``../shared/data`` (see its MANIFEST.md) and writes

* ``symbols_current.tsv.gz``: every current gene symbol -> its Ensembl gene IDs (``|``-joined, preferred first;
  empty for genes without an Ensembl ID) and the table it came from;
* ``symbols_synonyms.tsv.gz``: HGNC previous and alias symbols -> the current symbol they belong to;
* ``gene2go.tsv.gz``: Ensembl gene ID -> GO terms (org.Hs.eg.db, all evidence codes, BP/CC/MF).

Rules (the resolution itself happens at run time in :mod:`sclong_tl.genes._symbols`):

1. HGNC approved symbols are current. Their Ensembl IDs: HGNC's own ID first, then the IDs org.Hs.eg.db lists for
   the same NCBI gene, then the GENCODE v44 IDs carrying the same name, skipping any ID that HGNC assigns to a
   different gene.
2. GENCODE v44 gene names, org.Hs.eg.db symbols and (only where none of the others knows the name) the names of
   the 10x Cell Ranger hg19 reference (from the pbmc3k dataset; old clone-based names such as ``RP11-34P13.7``)
   that are not HGNC approved symbols: when all their Ensembl IDs
   belong to one HGNC gene they are recorded as a synonym (kind ``previous``) of that gene; otherwise they are
   current symbols of their own with the IDs no HGNC gene claims (none left: the name is dropped).
3. HGNC previous and alias symbols of approved entries become synonyms (withdrawn entries are ignored).

Usage: ``python scripts/build_gene_tables.py [--shared ../shared/data] [--out src/sclong_tl/genes/data]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def _clean_int_str(series: pd.Series) -> pd.Series:
    """NCBI gene IDs stored as floats in CSV ("503538.0") -> "503538"."""
    return series.str.replace(r"\.0$", "", regex=True)


def read_hgnc(shared: Path) -> pd.DataFrame:
    hgnc = pd.read_csv(shared / "gene_vocab" / "hgnc_GeneSymbolRef_upd0731.csv.gz", index_col=0, dtype=str)
    return hgnc[hgnc["Status"] == "Approved"].copy()


def read_orghs(shared: Path) -> pd.DataFrame:
    org = pd.read_csv(
        shared / "gene_vocab" / "human_genes_orgHs_entrez_symbol_ensembl_2022-09.tsv.gz", sep="\t", dtype=str
    )
    return org


def read_gencode(shared: Path) -> pd.DataFrame:
    return pd.read_csv(
        shared / "gene_vocab" / "gencode_v44_gene_id2name.csv.gz", header=None, names=["ensembl_id", "name"], dtype=str
    )


def read_10x_hg19(shared: Path) -> pd.DataFrame:
    """Symbol -> Ensembl ID pairs of the 10x Cell Ranger hg19 reference, as stored in the pbmc3k dataset's var."""
    import anndata as ad

    adata = ad.read_h5ad(shared / "pretrain_corpus" / "pbmc3k_raw_counts_2700cells.h5ad", backed="r")
    return adata.var[["gene_symbols", "gene_ids"]].astype(str).reset_index(drop=True)


def build_symbol_tables(shared: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    hgnc = read_hgnc(shared)
    org = read_orghs(shared)
    gencode = read_gencode(shared)
    tenx = read_10x_hg19(shared)

    genes = hgnc.drop_duplicates("HGNC ID")[["HGNC ID", "Approved symbol", "Ensembl gene ID", "NCBI gene ID"]]
    genes = genes.rename(
        columns={
            "HGNC ID": "hgnc_id",
            "Approved symbol": "symbol",
            "Ensembl gene ID": "ensembl",
            "NCBI gene ID": "entrez",
        }
    )
    genes["entrez"] = _clean_int_str(genes["entrez"])
    owner = dict(zip(genes["ensembl"].dropna(), genes["symbol"][genes["ensembl"].notna()], strict=True))

    org_ids = org.dropna(subset=["ensembl_ids"]).set_index("entrez_id")["ensembl_ids"].str.split("|").to_dict()
    gencode_ids = gencode.groupby("name", sort=False)["ensembl_id"].agg(list).to_dict()

    current: dict[str, tuple[list[str], str]] = {}
    for symbol, ensembl, entrez in genes[["symbol", "ensembl", "entrez"]].itertuples(index=False):
        ids: list[str] = [ensembl] if isinstance(ensembl, str) else []
        extra = (org_ids.get(entrez, []) if isinstance(entrez, str) else []) + gencode_ids.get(symbol, [])
        for candidate in extra:
            if candidate not in ids and owner.get(candidate, symbol) == symbol:
                ids.append(candidate)
        current[symbol] = (ids, "hgnc")

    synonyms: list[tuple[str, str, str]] = []
    other_names = [(name, ids, "gencode") for name, ids in gencode_ids.items()]
    other_names += [
        (sym, ids.split("|"), "orgHs")
        for sym, ids in org.dropna(subset=["ensembl_ids"])[["symbol", "ensembl_ids"]].itertuples(index=False)
    ]
    other_names += [
        (name, ids, "10x_hg19") for name, ids in tenx.groupby("gene_symbols", sort=False)["gene_ids"].agg(list).items()
    ]
    for name, ids, source in other_names:
        if name in current and (current[name][1] == "hgnc" or source == "10x_hg19"):
            continue  # names of the older 10x reference only fill gaps
        owners = {owner[i] for i in ids if i in owner}
        free = [i for i in ids if i not in owner]
        if not free and len(owners) == 1:
            synonyms.append((name, owners.pop(), "previous"))
        elif free:
            known = current.get(name, ([], source))[0]
            current[name] = (known + [i for i in free if i not in known], current.get(name, ([], source))[1])

    for column, kind in (("Previous symbol", "previous"), ("Alias symbol", "alias")):
        pairs = hgnc[[column, "Approved symbol"]].dropna().drop_duplicates()
        synonyms.extend((syn, sym, kind) for syn, sym in pairs.itertuples(index=False))

    current_df = pd.DataFrame(
        [(sym, "|".join(ids), src) for sym, (ids, src) in current.items()],
        columns=["symbol", "ensembl_ids", "source"],
    ).sort_values("symbol", kind="stable")
    synonyms_df = (
        pd.DataFrame(synonyms, columns=["synonym", "symbol", "kind"])
        .drop_duplicates(["synonym", "symbol"])
        .sort_values(["synonym", "symbol"], kind="stable")
    )
    return current_df, synonyms_df


def build_gene2go(shared: Path) -> pd.DataFrame:
    """Ensembl ID -> sorted GO terms; an NCBI gene with several Ensembl IDs gives each of them its terms."""
    table = pd.read_csv(
        shared / "go_orgHs" / "human_gene2go_orgHs_2022-09.tsv.gz",
        sep="\t",
        dtype=str,
        usecols=["ensembl_ids", "go_id"],
    ).dropna()
    table["ensembl_id"] = table["ensembl_ids"].str.split(",")
    table = table.explode("ensembl_id")[["ensembl_id", "go_id"]].drop_duplicates()
    grouped = table.sort_values(["ensembl_id", "go_id"]).groupby("ensembl_id", sort=True)["go_id"]
    return grouped.agg(lambda terms: " ".join(t.removeprefix("GO:") for t in terms)).reset_index(name="go_terms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "src" / "sclong_tl" / "genes" / "data")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    current, synonyms = build_symbol_tables(args.shared)
    gene2go = build_gene2go(args.shared)
    for frame, name in ((current, "symbols_current"), (synonyms, "symbols_synonyms"), (gene2go, "gene2go")):
        path = args.out / f"{name}.tsv.gz"
        # mtime=0 in the gzip header keeps rebuilds byte-identical
        frame.to_csv(path, sep="\t", index=False, compression={"method": "gzip", "mtime": 0})
        print(
            f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {len(frame):,} rows, "
            f"{path.stat().st_size:,} bytes"
        )


if __name__ == "__main__":
    main()
