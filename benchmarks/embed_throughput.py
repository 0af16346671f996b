"""Throughput and memory of sclong_tl.embed on a 100,000-cell backed .h5ad made by resampling real cells.

1. For each size N in ``--n-cells`` (default 100,000), writes (once; reused when present) a .h5ad of N cells
   drawn with replacement (``numpy.random.default_rng(0)``; smaller files hold a prefix of the same draws) from a
   real raw-count dataset (default: 10x pbmc3k from ../shared/data/pretrain_corpus, all genes), streamed to disk
   chunk by chunk, into ``--dir``.
2. Opens it with ``backed="r"`` in a fresh child process, runs ``sl.embed`` on it and prints the cells per second
   of the embed call and the child's peak RSS (``ru_maxrss``: everything, including Python, torch and the model).
   Several sizes show whether memory stays flat as the number of cells grows. ``--inputs-only`` runs just the
   input pipeline that embed streams through the model (``sl.pp.iter_model_inputs`` over the backed file: read,
   match, normalise, densify one chunk at a time) and is labelled so: a measurement of the data side alone, for
   sizes the model cannot get through in reasonable time on a shared 2-core machine.

Usage: python benchmarks/embed_throughput.py [--model PATH] [--threads 2] [--n-cells 1000 4000 100000]
       [--pooling mean] [--dir benchmarks/results]
Without --model: the default pretrained model when available, else a RANDOM-INIT model of the default model's
shape (see batch_integration.py; random weights run exactly as fast as trained ones).
Targets (issue 4): >= 20 cells/s on 2 cores and < 4 GB peak RSS for 100,000 cells.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parents[1] / "shared" / "data" / "pretrain_corpus" / "pbmc3k_raw_counts_2700cells.h5ad"
CHUNK = 5_000
MAX_CELLS = 10_000_000  # draws are made for this many cells so that smaller files are prefixes of larger ones


def write_resampled(source: Path, path: Path, n_cells: int) -> None:
    """Stream ``n_cells`` cells resampled with replacement from ``source`` into a CSR .h5ad at ``path``."""
    import anndata as ad
    import h5py
    import numpy as np
    import pandas as pd
    from anndata.io import sparse_dataset, write_elem
    from scipy import sparse

    real = ad.read_h5ad(source)
    X = sparse.csr_matrix(real.X)
    draws = np.random.default_rng(0).integers(0, real.n_obs, size=MAX_CELLS)[:n_cells]
    obs = pd.DataFrame({"source_cell": real.obs_names.to_numpy()[draws]}, index=[f"cell{i}" for i in range(n_cells)])
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with h5py.File(partial, "w") as f:
        write_elem(f, "obs", obs)
        write_elem(f, "var", pd.DataFrame(index=real.var_names.astype(str)))
        write_elem(f, "X", X[draws[:CHUNK]])
        stored = sparse_dataset(f["X"])
        for start in range(CHUNK, n_cells, CHUNK):
            stored.append(X[draws[start : start + CHUNK]])
        for key in ("obsm", "varm", "obsp", "varp", "layers", "uns"):
            write_elem(f, key, {})
    partial.rename(path)


def embed_child(args: argparse.Namespace) -> None:
    """Child process: embed the backed file; print a JSON result line."""
    import resource
    import warnings

    import anndata as ad
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from batch_integration import load_or_build_model

    import sclong_tl as sl

    warnings.filterwarnings("ignore", category=FutureWarning)
    model, label = load_or_build_model(args.model)
    backed = ad.read_h5ad(args.child, backed="r")
    start = time.perf_counter()
    if args.inputs_only:
        match = sl.pp.match_genes(backed, model.genes)
        embedding = np.zeros((backed.n_obs, 1), dtype=np.float32)
        for chunk_start, chunk in sl.pp.iter_model_inputs(backed, model.genes, gene_match=match):
            embedding[chunk_start : chunk_start + len(chunk), 0] = chunk.sum(axis=1)
        seconds = time.perf_counter() - start
        label = f"INPUTS ONLY (no forward pass), vocabulary of {label}"
        backed.uns["sclong"] = {"genes": match.to_dict()}
    else:
        out = sl.embed(backed, model, pooling=args.pooling, batch_size=args.batch_size, progress=False)
        seconds = time.perf_counter() - start
        assert out is None
        embedding = backed.obsm["X_sclong"]
    print(
        json.dumps(
            {
                "model": label,
                "cells": int(backed.n_obs),
                "seconds": seconds,
                "dims": int(embedding.shape[1]),
                "finite": bool(np.isfinite(embedding).all()),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "genes": backed.uns["sclong"]["genes"]["n_matched"],
                "batch_size": args.batch_size or model.default_batch_size(),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-cells", type=int, nargs="+", default=[100_000], help="cells per resampled file")
    parser.add_argument("--pooling", default="mean", choices=["mean", "paper"])
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--source", type=Path, default=SOURCE, help="real raw-count .h5ad to resample")
    parser.add_argument("--dir", type=Path, default=HERE / "results", help="where the resampled files go")
    parser.add_argument("--inputs-only", action="store_true", help="time the input pipeline without the model")
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        embed_child(args)
        return

    print(f"source {args.source.name}; threads {args.threads}; pooling {args.pooling}")
    print(
        f"{'cells':>8} {'seconds':>9} {'cells/s':>8} {'peak_RSS_MB':>11} {'dims':>5} {'genes':>6} {'batch':>5} "
        f"finite  model"
    )
    for n in args.n_cells:
        path = args.dir / f"resampled_{args.source.stem}_{n}.h5ad"
        if not path.is_file():
            start = time.perf_counter()
            write_resampled(args.source, path, n)
            print(
                f"(wrote {path.name}: {n:,} cells in {time.perf_counter() - start:.0f} s, "
                f"{path.stat().st_size / 2**20:,.0f} MB)"
            )
        command = [
            sys.executable,
            __file__,
            "--child",
            str(path),
            "--threads",
            str(args.threads),
            "--pooling",
            args.pooling,
        ]
        command += ["--model", args.model] if args.model else []
        command += ["--batch-size", str(args.batch_size)] if args.batch_size else []
        command += ["--inputs-only"] if args.inputs_only else []
        child = subprocess.run(command, capture_output=True, text=True, check=False)
        if child.returncode:
            print(f"{n:>8} child failed:\n{child.stderr[-2000:]}")
            continue
        result = json.loads(child.stdout.strip().splitlines()[-1])
        print(
            f"{result['cells']:>8,} {result['seconds']:>9.1f} {result['cells'] / result['seconds']:>8.2f} "
            f"{result['peak_rss_mb']:>11,.0f} {result['dims']:>5} {result['genes']:>6,} {result['batch_size']:>5} "
            f"{result['finite']!s:>6}  {result['model']}",
            flush=True,
        )


if __name__ == "__main__":
    main()
