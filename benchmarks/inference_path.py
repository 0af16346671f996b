"""Fused inference path vs the module-by-module path of the Performer stacks, side by side on real cells.

Both paths compute the same function (tests/test_performer_inference.py). Here the default model (or
``--model``) encodes the same real 10x pbmc3k cells with each path, alternating in rounds so that both see the
same machine load, and the script prints cells per second per round, the medians, their ratio and the largest
difference between the two paths' per-gene representations.

- fused: ``torch.inference_mode()``, as ``sl.embed`` runs (``model/performer_inference.py``);
- modules: the performer-pytorch modules, run with gradients switched on but no parameter requiring one (so no
  autograd graph is built; the difference is the path alone).

Usage: python benchmarks/inference_path.py [--model PATH] [--cells 24] [--rounds 5] [--batch-size 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from batch_integration import load_or_build_model
from embed_throughput import SOURCE


def real_inputs(model, n_cells: int) -> np.ndarray:
    """Model-space inputs of ``n_cells`` real pbmc3k cells (a fixed random draw)."""
    import anndata as ad

    import sclong_tl as sl

    adata = ad.read_h5ad(SOURCE)
    adata = adata[np.random.default_rng(0).choice(adata.n_obs, n_cells, replace=False)].copy()
    chunks = [chunk for _, chunk in sl.pp.iter_model_inputs(adata, model.genes)]
    return np.concatenate([np.asarray(chunk.todense()) if hasattr(chunk, "todense") else chunk for chunk in chunks])


def encode(module, values: torch.Tensor, batch_size: int, *, fused: bool) -> torch.Tensor:
    outputs = []
    context = torch.inference_mode() if fused else torch.enable_grad()
    with context:
        for start in range(0, len(values), batch_size):
            outputs.append(module(values[start : start + batch_size]).representations)
    return torch.cat(outputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--cells", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, label = load_or_build_model(args.model)
    module = model.module.eval().requires_grad_(False)
    values = torch.nn.functional.pad(torch.from_numpy(real_inputs(model, args.cells)), (0, 1))
    print(f"{label}; {args.cells} real pbmc3k cells, batch {args.batch_size}, {torch.get_num_threads()} threads")

    encode(module, values[: args.batch_size], args.batch_size, fused=True)  # warm-up
    speeds: dict[str, list[float]] = {"fused": [], "modules": []}
    outputs = {}
    for round_index in range(args.rounds):
        for path in ("fused", "modules") if round_index % 2 == 0 else ("modules", "fused"):
            start = time.perf_counter()
            outputs[path] = encode(module, values, args.batch_size, fused=path == "fused")
            speeds[path].append(args.cells / (time.perf_counter() - start))
        print(
            f"round {round_index + 1}: fused {speeds['fused'][-1]:6.2f} cells/s   "
            f"modules {speeds['modules'][-1]:6.2f} cells/s",
            flush=True,
        )
    fused, modules = statistics.median(speeds["fused"]), statistics.median(speeds["modules"])
    difference = float((outputs["fused"] - outputs["modules"]).abs().max())
    print(f"median: fused {fused:.2f} cells/s, modules {modules:.2f} cells/s, ratio {fused / modules:.3f}")
    print(f"max |fused - modules| over the per-gene representations: {difference:.2e}")


if __name__ == "__main__":
    main()
