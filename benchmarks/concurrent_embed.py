"""Slowdown of sclong_tl.embed when two processes embed at once on the same cores, against one alone.

Runs ``sl.embed`` on the same cells first in one worker process, then in two worker processes started together
(each loads the model and the data first, then all start embedding at the same moment), and prints each embed
call's seconds and the slowdown of the pair against the single run. When the pair shares the cores fairly the
slowdown is about 2 (each process gets half the CPU time); far more than 2 means the processes fight over the
cores (OpenMP threads spinning while they wait, more threads than CPUs).

Each worker is a fresh Python process with the environment of this one, plus ``OMP_WAIT_POLICY`` when
``--wait-policy`` is ``passive`` or ``active`` (``both`` measures each; ``inherit`` leaves the environment as it is:
OpenMP's own default when the variable is unset) and ``sl.settings.n_threads`` when ``--threads`` is
given (default: sclong_tl's automatic policy: torch's count lowered to the process's CPU affinity and quota).

Timings are only meaningful on an otherwise idle machine.

Usage: python benchmarks/concurrent_embed.py [--model tiny|default|PATH] [--data H5AD] [--cells 50]
       [--processes 2] [--threads N] [--wait-policy inherit|passive|active|both] [--pooling mean] [--repeats 1]
Without --data: the committed CellBench subset (tests/data/embed, 120 cells). ``--model tiny`` (default) is a
randomly initialised "tiny" model over that fixture's vocabulary, written to a temporary file first.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURE = HERE.parent / "tests" / "data" / "embed"


def worker(args: argparse.Namespace) -> None:
    """One embed, started when the go file appears; prints a JSON line with its timings."""
    import anndata as ad
    import torch

    import sclong_tl as sl

    sl.settings.verbosity = 0
    if args.threads:
        sl.settings.n_threads = args.threads
    adata = ad.read_h5ad(args.data)[: args.cells].copy()
    model = sl.load_model(args.model, device="cpu", dtype=args.dtype)
    Path(args.ready).touch()
    while not Path(args.go).exists():
        time.sleep(0.005)
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        sl.embed(adata, model, pooling=args.pooling, copy=True, progress=False)
        seconds.append(time.perf_counter() - start)
    from sclong_tl._cpu import torch_threads

    torch_count = torch.get_num_threads()
    with torch_threads() as threads:
        pass
    print(
        json.dumps(
            {
                "seconds": min(seconds),
                "threads": threads,
                "torch_threads": torch_count,
                "wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"),
            }
        )
    )


def run_group(n: int, args: argparse.Namespace, model: str, wait_policy: str, folder: Path) -> list[dict]:
    """Start ``n`` workers, release them together, and return their JSON results."""
    env = dict(os.environ)
    if wait_policy != "inherit":
        env["OMP_WAIT_POLICY"] = wait_policy.upper()
    go = folder / f"go-{n}-{wait_policy}"
    ready = [folder / f"ready-{n}-{wait_policy}-{i}" for i in range(n)]
    command = [
        sys.executable,
        __file__,
        "--worker",
        "--model",
        model,
        "--data",
        str(args.data),
        "--cells",
        str(args.cells),
        "--pooling",
        args.pooling,
        "--repeats",
        str(args.repeats),
        "--go",
        str(go),
    ]
    if args.threads:
        command += ["--threads", str(args.threads)]
    if args.dtype:
        command += ["--dtype", args.dtype]
    processes = [
        subprocess.Popen([*command, "--ready", str(path)], env=env, stdout=subprocess.PIPE, text=True) for path in ready
    ]
    while not all(path.exists() for path in ready):
        if any(process.poll() not in (None, 0) for process in processes):
            raise RuntimeError("a worker failed before starting")
        time.sleep(0.01)
    go.touch()
    results = []
    for process in processes:
        out, _ = process.communicate()
        if process.returncode:
            raise RuntimeError(f"a worker failed (exit {process.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def tiny_model_file(folder: Path) -> str:
    """A random "tiny" model over the fixture vocabulary, saved into ``folder``."""
    import numpy as np

    import sclong_tl as sl

    stored = np.load(FIXTURE / "vocabulary_go.npz")
    genes = [str(g) for g in stored["genes"]]
    model = sl.ScLongModel.from_config(
        "tiny", genes=genes, graph=(stored["edge_index"], stored["edge_weight"]), seed=0, top_k=128
    )
    return str(model.save(folder / "tiny.safetensors"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--data", type=Path, default=FIXTURE / "cellbench_subset.h5ad")
    parser.add_argument("--cells", type=int, default=50)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="sl.settings.n_threads in each worker")
    parser.add_argument("--dtype", default=None, help="weights dtype of the workers' model (e.g. bfloat16)")
    parser.add_argument("--wait-policy", default="inherit", choices=["inherit", "passive", "active", "both"])
    parser.add_argument("--pooling", default="mean")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ready", help=argparse.SUPPRESS)
    parser.add_argument("--go", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    from sclong_tl._cpu import cpu_summary

    print(f"CPU: {cpu_summary()}")
    policies = ["passive", "active"] if args.wait_policy == "both" else [args.wait_policy]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = tiny_model_file(folder) if args.model == "tiny" else args.model
        print(
            f"model {args.model}, {args.cells} cells of {args.data.name}, pooling {args.pooling}, "
            f"{args.processes} processes at once"
        )
        for policy in policies:
            alone = run_group(1, args, model, policy, folder)[0]
            together = run_group(args.processes, args, model, policy, folder)
            seconds = [result["seconds"] for result in together]
            slowdown = max(seconds) / alone["seconds"]
            print(
                f"OMP_WAIT_POLICY {alone['wait_policy']}, {alone['threads']} threads per process: one alone "
                f"{alone['seconds']:.2f} s ({args.cells / alone['seconds']:.1f} cells/s); {args.processes} at once "
                f"{', '.join(f'{s:.2f}' for s in seconds)} s -> slowdown {slowdown:.2f}x "
                f"(fair sharing: about {args.processes}x)"
            )


if __name__ == "__main__":
    main()
