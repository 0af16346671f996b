"""Pretraining throughput of two source trees side by side: ``sclong-tl pretrain`` runs alternating in rounds.

Each run is the real command (``python -m sclong_tl.train``) on the same real shards, config, batch size and seed,
in a child process whose ``PYTHONPATH`` points at one tree's ``src``; its rate is the median cells/s of the logged
windows after the first (warm-up) window, as written to ``metrics.csv``. Alternating the trees round by round
spreads any load on the machine over both.

Usage::

    git worktree add /tmp/old <commit>
    python benchmarks/train_speed.py --src /tmp/old/src --src src --data corpus/*.h5ad
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def run_once(src: Path, data: list[str], args: argparse.Namespace, work: Path) -> float:
    out = work / "run"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    cache = work.parent / "gene_graph.npz"
    if cache.exists():  # the vocabulary's GO graph, built once (same file format in both trees)
        shutil.copy(cache, out / "gene_graph.npz")
    env = {**os.environ, "PYTHONPATH": str(src.resolve())}
    command = [
        sys.executable,
        "-m",
        "sclong_tl.train",
        "--data",
        *data,
        "--config",
        args.config,
        "--out",
        str(out),
        "--steps",
        str(args.steps),
        "--batch-size",
        str(args.batch_size),
        "--lr",
        "1e-3",
        "--warmup",
        "2",
        "--log-every",
        str(args.log_every),
        "--validate-every",
        "100000",
        "--checkpoint-every",
        "100000",
        "--val-cells",
        "2",
        "--seed",
        "0",
    ]
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not cache.exists() and (out / "gene_graph.npz").exists():
        shutil.copy(out / "gene_graph.npz", cache)
    with open(out / "metrics.csv") as handle:
        rates = [float(row["cells_per_s"]) for row in csv.DictReader(handle)]
    return statistics.median(rates[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", action="append", type=Path, required=True, help="a tree's src folder (repeat)")
    parser.add_argument("--data", nargs="+", required=True)
    parser.add_argument("--config", default="sclong-default")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--log-every", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {str(src): [] for src in args.src}
    with tempfile.TemporaryDirectory() as tmp:
        for round_index in range(args.rounds):
            for src in args.src:
                rate = run_once(src, args.data, args, Path(tmp) / "work")
                rates[str(src)].append(rate)
                print(f"round {round_index + 1}: {src}: {rate:.2f} cells/s", flush=True)
    first = statistics.median(rates[str(args.src[0])])
    print(f"\n{'tree':<40} {'median cells/s':>15} {'runs':>30} {'vs first':>9}")
    for src, values in rates.items():
        median = statistics.median(values)
        print(f"{src:<40} {median:>15.2f} {' '.join(f'{v:.2f}' for v in values):>30} {median / first:>8.2f}x")


if __name__ == "__main__":
    main()
