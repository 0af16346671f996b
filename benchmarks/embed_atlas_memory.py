"""Peak memory of ``sclong-tl embed`` against the number of cells: flat, also for the wide "paper" pooling.

1. For each size N in ``--n-cells`` (default 500), writes (once; reused when present) a ``.h5ad`` of N cells
   resampled from a real raw-count dataset (``embed_throughput.write_resampled``: 10x pbmc3k, all genes, streamed
   to disk), into ``--dir``.
2. Runs ``sclong-tl embed FILE --out FILE.zarr`` in a fresh child process (a wrapper process reads the command's
   peak RSS, ``ru_maxrss`` of its child: everything, including Python, torch and the model) and prints cells,
   seconds, peak RSS and, for comparison, the size an in-memory ``sl.embed`` result of that width would take.
   ``--in-memory`` also measures ``sl.embed`` on the backed file, which holds the whole embedding in memory.
3. With two sizes or more, prints the growth of the peak RSS per 100,000 cells and its extrapolation to
   1,000,000 cells (a straight line through the smallest and the largest size).

Usage: python benchmarks/embed_atlas_memory.py [--n-cells 1000 10000 100000] [--model PATH] [--pooling paper]
       [--threads 2] [--batch-size N] [--in-memory] [--dir benchmarks/results]
Without --model: the default pretrained model when available, else a RANDOM-INIT model of its shape, saved to a
temporary file (random weights take the same memory as trained ones).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from embed_throughput import SOURCE, write_resampled

HERE = Path(__file__).resolve().parent
# runs a command and prints the peak RSS (kB on Linux) of the process tree it waited for
WRAPPER = (
    "import resource, subprocess, sys, time; start = time.perf_counter(); code = subprocess.run(sys.argv[1:])"
    ".returncode; print('RESULT', code, time.perf_counter() - start, "
    "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def model_file(path: str | None, folder: Path) -> tuple[str, str]:
    """A model the command can load (a file or a registered name) and a label saying what it is."""
    from batch_integration import load_or_build_model

    model, label = load_or_build_model(path)
    if path is not None:
        return path, label
    if model.path is not None:
        return model.path, label
    saved = folder / "model.safetensors"
    model.save(saved)
    return str(saved), label


def measure(command: list[str], threads: int) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of ``command`` run in a fresh process."""
    source = str(Path(__file__).resolve().parents[1] / "src")
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "PYTHONWARNINGS": "ignore",
        "PYTHONPATH": os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p),
    }
    result = subprocess.run(
        [sys.executable, "-c", WRAPPER, *command], capture_output=True, text=True, env=env, check=False
    )
    line = [row for row in result.stdout.splitlines() if row.startswith("RESULT")]
    if not line or line[-1].split()[1] != "0":
        raise RuntimeError(f"the command failed: {' '.join(command)}\n{result.stderr[-3000:]}")
    _, _, seconds, peak_kb = line[-1].split()
    return float(seconds), int(peak_kb) / 1024


def in_memory_child(path: str, model: str, pooling: str, batch_size: int | None) -> None:
    """Child of ``--in-memory``: ``sl.embed`` on the backed file (the whole embedding in memory)."""
    import anndata as ad

    import sclong_tl as sl

    backed = ad.read_h5ad(path, backed="r")
    sl.embed(backed, model, pooling=pooling, batch_size=batch_size, device="cpu", progress=False)
    backed.file.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-cells", type=int, nargs="+", default=[500], help="cells per resampled file")
    parser.add_argument("--model", default=None, help="a .safetensors file (default: the default model)")
    parser.add_argument("--pooling", default="paper", choices=["paper", "mean"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--source", type=Path, default=SOURCE, help="real raw-count .h5ad to resample")
    parser.add_argument("--dir", type=Path, default=HERE / "results", help="where the resampled files go")
    parser.add_argument("--in-memory", action="store_true", help="also measure sl.embed (result in memory)")
    parser.add_argument("--child", nargs=4, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        path, model, pooling, batch_size = args.child
        in_memory_child(path, model, pooling, int(batch_size) or None)
        return

    with tempfile.TemporaryDirectory(prefix="embed_atlas_memory_") as scratch:
        model, label = model_file(args.model, Path(scratch))
        print(f"source {args.source.name}; model {label}; pooling {args.pooling}; threads {args.threads}")
        print(
            f"{'cells':>9} {'how':>10} {'seconds':>9} {'cells/s':>8} {'peak_RSS_MB':>11} {'dims':>6} "
            f"{'in-memory result MB':>19}"
        )
        rows = []
        for n in args.n_cells:
            path = args.dir / f"resampled_{args.source.stem}_{n}.h5ad"
            if not path.is_file():
                start = time.perf_counter()
                write_resampled(args.source, path, n)
                print(f"(wrote {path.name}: {n:,} cells in {time.perf_counter() - start:.0f} s)")
            out = Path(scratch) / f"{n}.zarr"
            command = [
                "-m",
                "sclong_tl.cli",
                "embed",
                str(path),
                "--out",
                str(out),
                "--model",
                model,
                "--pooling",
                args.pooling,
                "--device",
                "cpu",
                "--no-progress",
            ]
            command += ["--batch-size", str(args.batch_size)] if args.batch_size else []
            seconds, peak = measure([sys.executable, *command], args.threads)
            attributes = json.loads((out / "0" / "zarr.json").read_text())["attributes"]
            dims = int(attributes["uns"]["params"]["n_dims"])
            in_memory_mb = 4 * n * dims / 2**20
            rows.append((n, peak))
            print(
                f"{n:>9,} {'command':>10} {seconds:>9.1f} {n / seconds:>8.2f} {peak:>11,.0f} {dims:>6,} "
                f"{in_memory_mb:>19,.0f}",
                flush=True,
            )
            shutil.rmtree(out)
            if args.in_memory:
                child = [sys.executable, __file__, "--child", str(path), model, args.pooling, str(args.batch_size or 0)]
                seconds, peak = measure(child, args.threads)
                print(
                    f"{n:>9,} {'sl.embed':>10} {seconds:>9.1f} {n / seconds:>8.2f} {peak:>11,.0f} {dims:>6,} "
                    f"{in_memory_mb:>19,.0f}",
                    flush=True,
                )
        if len(rows) >= 2:
            (n0, peak0), (n1, peak1) = min(rows), max(rows)
            slope = (peak1 - peak0) / (n1 - n0) * 100_000
            if n0 < 10 * 256:
                print(
                    "note: the smallest size holds fewer than 10 blocks of 256 cells; below that the one block in "
                    "memory still grows with the size, so the slope overstates growth (use >= 2,560 cells)"
                )
            print(
                f"command: peak RSS grows {slope:,.1f} MB per 100,000 cells ({n0:,} -> {n1:,} cells); "
                f"extrapolated to 1,000,000 cells: {peak0 + slope * (1_000_000 - n0) / 100_000:,.0f} MB"
            )


if __name__ == "__main__":
    main()
