"""GRN recovery on BEELINE mouse dendritic cells (paper Fig. 5 setting): AUPR ratio and EPR per method.

Data: ``../shared/data/beeline_mDC`` (Shalek 2014, 383 cells x 821 genes = TFs + 500 most variable genes,
log-normalised; mouse symbols upper-cased, matched to the human vocabulary by symbol) and its three ground
truths (cell-type-specific ChIP-seq, non-specific ChIP-seq, STRING). Every method is scored on the same genes:
those the scLong vocabulary covers. Candidate edges: the truth's TFs -> the truth's genes among them, self
edges excluded (see :mod:`sclong_tl.metrics`).

Methods: scLong similarity ("dot" = the reference's L1-normalised dot product, and "cosine") without refinement;
scLong init + DeepSEM refinement; DeepSEM from its uniform initialisation (1/(n-1) + U(0, 2e-4)); |Pearson|
correlation; the GO graph (Jaccard index of the two genes' GO annotations, the paper's "GO Graph").

Usage: ``python benchmarks/grn.py [--model PATH | --random-init] [--n-epochs N] [--threads T]``. Without
``--model`` the package's default pretrained model (``sclong-default``) is used; ``--random-init`` uses a
randomly initialised "tiny" model over the dataset's genes instead (a random-weights baseline, not scLong).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "beeline_mDC"
TRUTHS = {"cell-type ChIP-seq": "Specific", "non-specific ChIP-seq": "Non-Specific", "STRING": "STRING"}


def load_mdc() -> tuple[pd.DataFrame, list[str], dict[str, pd.DataFrame]]:
    """Expression (genes x cells), the TF list and the three ground truths."""
    if not SHARED.is_dir():
        sys.exit(f"BEELINE mDC data not found at {SHARED}")
    expression = pd.read_csv(SHARED / "Specific_mDC_TFs+500_ExpressionData.csv.gz", index_col=0)
    tfs = pd.read_csv(SHARED / "Specific_mDC_TFs+500_TF.csv")["TF"].astype(str).tolist()
    truths = {
        name: pd.read_csv(SHARED / f"{prefix}_mDC_TFs+500_network.csv")[["Gene1", "Gene2"]]
        for name, prefix in TRUTHS.items()
    }
    return expression, tfs, truths


def build_model(path: str | None, adata, *, random_init: bool = False):
    """The model given by ``--model``, else the default pretrained model; with ``random_init``, a random "tiny"
    model whose vocabulary is the dataset's genes found in the default vocabulary (with their GO graph)."""
    import sclong_tl as sl

    if not random_init:
        return sl.load_model(path or "default", device="cpu"), False
    from sclong_tl.genes import default_vocabulary

    vocabulary = default_vocabulary()
    positions = np.asarray(sl.pp.match_genes(adata, vocabulary).var_index)
    genes = [vocabulary[position] for position in np.unique(positions[positions >= 0])]
    return sl.ScLongModel.from_config("tiny", genes=genes, seed=0, device="cpu"), True


def to_frame(adjacency: np.ndarray, names: list[str]) -> pd.DataFrame:
    """All off-diagonal edges of a ``[source, target]`` matrix as ``source, target, weight``."""
    rows, cols = np.nonzero(~np.eye(len(names), dtype=bool))
    names_array = np.asarray(names, dtype=object)
    return pd.DataFrame({"source": names_array[rows], "target": names_array[cols], "weight": adjacency[rows, cols]})


def go_jaccard(ensembl_ids: list[str]) -> np.ndarray:
    """Jaccard index of the genes' GO-term sets (0 for genes without annotations)."""
    from scipy import sparse

    from sclong_tl.genes import load_gene2go

    gene2go = load_gene2go()
    terms = {term: index for index, term in enumerate(sorted({t for g in ensembl_ids for t in gene2go.get(g, ())}))}
    rows, cols = [], []
    for row, gene in enumerate(ensembl_ids):
        for term in gene2go.get(gene, ()):
            rows.append(row)
            cols.append(terms[term])
    member = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(ensembl_ids), len(terms)))
    shared = (member @ member.T).toarray()
    sizes = np.asarray(member.sum(axis=1)).ravel()
    union = sizes[:, None] + sizes[None, :] - shared
    return np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="scLong model file (default: the bundled default model)")
    parser.add_argument("--random-init", action="store_true", help="use a random-init tiny model instead")
    parser.add_argument("--n-epochs", type=int, default=None, help="DeepSEM epochs (default: grn's default)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.model and args.random_init:
        parser.error("--model and --random-init exclude each other")

    import anndata as ad
    import torch

    import sclong_tl as sl

    torch.set_num_threads(args.threads)
    n_epochs = args.n_epochs if args.n_epochs is not None else sl.grn.__kwdefaults__["n_epochs"]
    clock = time.perf_counter()
    expression, _, truths = load_mdc()
    adata = ad.AnnData(expression.T.astype(np.float32))
    model, is_random = build_model(args.model, adata, random_init=args.random_init)
    print(f"model: {model!r}")
    if is_random:
        print("NOTE: random-init weights: the 'scLong' rows below are a random-weights baseline, not scLong.")
    print(f"load data + model: {time.perf_counter() - clock:.1f} s")

    timings: dict[str, float] = {}
    clock = time.perf_counter()
    selection = sl.tl.select_network_genes(adata, model)
    statistics, model_inputs = sl.tl.encode_network_genes(adata, model, selection, progress=False)
    timings["scLong encoding"] = time.perf_counter() - clock
    names = selection.names
    print(
        f"data: {adata.n_obs} cells x {adata.n_vars} genes; {len(names)} matched to the vocabulary "
        f"(evaluated genes); DeepSEM: {n_epochs} epochs"
    )

    adjacencies: dict[str, np.ndarray] = {}
    for similarity in ("dot", "cosine"):
        adjacencies[f"scLong init ({similarity})"] = sl.tl.initial_adjacency(statistics.similarity(similarity))
    refine_inputs = {
        "scLong + refine (dot)": adjacencies["scLong init (dot)"],
        "DeepSEM (uniform init)": np.full((len(names), len(names)), 1.0 / (len(names) - 1)),
    }
    for label, start in refine_inputs.items():
        clock = time.perf_counter()
        adjacencies[label], history = sl.tl.refine_adjacency(
            model_inputs, start, n_epochs=n_epochs, random_state=args.seed
        )
        timings[label] = time.perf_counter() - clock
        if history:
            print(
                f"{label}: DeepSEM loss epoch 1 {history[0]['total']:.3f} -> epoch {len(history)} "
                f"{history[-1]['total']:.3f} (reconstruction {history[-1]['reconstruction']:.3f})"
            )
    values = expression.loc[names].to_numpy(dtype=np.float64)
    adjacencies["Pearson |r|"] = np.abs(np.nan_to_num(np.corrcoef(values)))
    ensembl = [model.genes[position] for position in selection.positions]
    adjacencies["GO graph (Jaccard)"] = go_jaccard(ensembl)

    clock = time.perf_counter()
    rows = []
    for method, adjacency in adjacencies.items():
        net = to_frame(adjacency, names)
        row = {"method": method}
        for truth_name, truth in truths.items():
            row[f"{truth_name} AUPRr"] = sl.metrics.aupr_ratio(net, truth, names)
            row[f"{truth_name} EPR"] = sl.metrics.epr(net, truth, names)
        rows.append(row)
    timings["metrics"] = time.perf_counter() - clock
    table = pd.DataFrame(rows).set_index("method")
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 3):
        print(table)
    print("timings (s): " + ", ".join(f"{name} {seconds:.1f}" for name, seconds in timings.items()))


if __name__ == "__main__":
    main()
