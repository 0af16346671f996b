"""The evaluation panel: scores scLong checkpoints side by side, in one run, on data none was pretrained on.

Tasks (``--tasks``; each in ``benchmarks/panel/``):

- ``reconstruction``: masked reconstruction on whole held-out datasets of several technologies (CellBench
  CEL-seq2 / Drop-seq, Baron pancreas inDrop, pbmc68k 10x), same masks for all rows, against a cell-mean and a
  gene-mean baseline;
- ``embedding``: zero-shot embedding (batch ASW, cell-type ASW, Leiden NMI / ARI) on CellBench and Baron;
- ``grn``: GRN on BEELINE mDC (AUPR ratio, EPR) against |Pearson|;
- ``perturbation``: Papalexi unseen-target Pearson / MSE against mean-change and No-Change.

Models: ``--model default`` (the bundled default), a ``.safetensors`` path, or ``LABEL=PATH``; repeat for more rows.
``--random-twin`` adds a randomly initialised model of the first model's shape. Prints one table and writes CSV.

Usage: python benchmarks/model_panel.py --model old=default --model new=run/model.safetensors --random-twin
"""

from __future__ import annotations

import argparse
import csv
import importlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

TASKS = ["reconstruction", "embedding", "grn", "perturbation"]


def print_table(rows: list[dict]) -> None:
    keys = sorted(
        {(row["task"], row["dataset"], row["metric"]) for row in rows}, key=lambda k: (TASKS.index(k[0]), k[1], k[2])
    )
    methods = list(dict.fromkeys(row["method"] for row in rows))
    values = {(row["task"], row["dataset"], row["metric"], row["method"]): row["value"] for row in rows}
    width = max(len(m) for m in methods) + 2
    for task, dataset, metric in keys:
        print(f"\n{task} / {dataset} / {metric}")
        for method in methods:
            value = values.get((task, dataset, metric, method))
            if value is not None:
                print(f"  {method:<{width}} {value:10.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="default, a path, or LABEL=PATH (repeat)")
    parser.add_argument("--random-twin", action="store_true", help="add the first model's random-init twin")
    parser.add_argument("--tasks", nargs="+", default=TASKS, choices=TASKS)
    parser.add_argument("--datasets", nargs="+", default=None, help="reconstruction datasets (default: all)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="shrink every task (a smoke run, not a result)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/model_panel.csv"))
    args = parser.parse_args()

    import torch
    from panel.common import HELD_OUT, load_models

    torch.set_num_threads(args.threads)
    models = load_models(args.model, random_twin=args.random_twin)
    rows: list[dict] = []
    for task in args.tasks:
        started = time.perf_counter()
        module = importlib.import_module(f"panel.{task}")
        datasets = args.datasets or (["baron"] if args.quick else list(HELD_OUT))
        rows.extend(module.run(models, datasets) if task == "reconstruction" else module.run(models, quick=args.quick))
        print(f"[{task}: {time.perf_counter() - started:.0f} s]", flush=True)
    print_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["task", "dataset", "method", "metric", "value"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
