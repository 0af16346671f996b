"""Seconds per cell of the official-size scLong ("sclong-1b" preset, random weights) on this machine.

Prints, for one cell: fp32 time, bf16-autocast time (CPU, and CUDA when present), peak memory, where the fp32
time goes (per block), and the bf16 output's deviation from fp32 (max abs difference and mean cosine
similarity of the per-gene representations).

Usage: python benchmarks/forward_speed.py [--repeats 2] [--threads N] [--preset sclong-1b] [--nnz 2500]
"""

from __future__ import annotations

import argparse
import resource
import time
from collections import defaultdict

import numpy as np
import torch

from sclong_tl.model import ScLong, count_parameters, get_config


def realistic_cell(n_genes: int, nnz: int, seed: int) -> torch.Tensor:
    """A cell in model space: nnz expressed genes with log-normalised-like values (max 10), pad 0."""
    rng = np.random.default_rng(seed)
    values = np.zeros(n_genes + 1, dtype=np.float32)
    counts = rng.negative_binomial(1, 0.3, size=nnz) + 1
    logged = np.log1p(counts / counts.sum() * 1e4)
    values[rng.choice(n_genes, size=nnz, replace=False)] = logged * 10 / logged.max()
    return torch.from_numpy(values)[None]


def timed_forward(module: ScLong, cell: torch.Tensor, dtype: torch.dtype, device: torch.device, repeats: int):
    times = []
    output = None
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            output = module(cell.to(device))
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times), output


def block_profile(module: ScLong, cell: torch.Tensor) -> dict[str, float]:
    """fp32 wall time spent in each top-level block (forward hooks)."""
    spent: dict[str, float] = defaultdict(float)
    starts: dict[str, float] = {}
    handles = []
    for name in ("token_emb", "go_conv", "mini_encoder", "large_encoder", "decoder", "base_to_large",
                 "large_to_base", "exp_to_out"):
        block = getattr(module, name)
        handles.append(block.register_forward_pre_hook(lambda m, a, n=name: starts.__setitem__(n, time.perf_counter())))
        handles.append(block.register_forward_hook(
            lambda m, a, o, n=name: spent.__setitem__(n, spent[n] + time.perf_counter() - starts[n])))
    total_start = time.perf_counter()
    with torch.inference_mode():
        module(cell)
    total = time.perf_counter() - total_start
    for handle in handles:
        handle.remove()
    spent["other (top-k, embeddings, merge)"] = total - sum(spent.values())
    spent["total"] = total
    return dict(spent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="sclong-1b")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--nnz", type=int, default=2500, help="expressed genes in the test cell")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    config = get_config(args.preset)
    print(f"preset {args.preset}: {count_parameters(config):,} parameters; torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads")
    build_start = time.perf_counter()
    torch.manual_seed(0)
    n = config.n_positions
    ring = torch.arange(n - 1)
    edge_index = torch.stack([torch.cat([ring, ring]), torch.cat([ring, (ring + 1) % (n - 1)])])
    module = ScLong(config, edge_index, torch.full((edge_index.shape[1],), 0.5)).eval()
    print(f"built in {time.perf_counter() - build_start:.1f} s; peak RSS {peak_rss_gb():.2f} GB")
    cell = realistic_cell(config.n_genes, args.nnz, seed=0)

    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        module.to(device)
        fp32_time, fp32_out = timed_forward(module, cell, torch.float32, device, args.repeats)
        bf16_time, bf16_out = timed_forward(module, cell, torch.bfloat16, device, args.repeats)
        a = fp32_out.representations.float().cpu()[0]
        b = bf16_out.representations.float().cpu()[0]
        cosine = torch.nn.functional.cosine_similarity(a, b, dim=-1)
        print(f"[{device.type}] fp32: {fp32_time:.2f} s/cell   bf16 autocast: {bf16_time:.2f} s/cell   "
              f"speed-up {fp32_time / bf16_time:.2f}x")
        print(f"[{device.type}] bf16 vs fp32 representations: max abs diff {float((a - b).abs().max()):.4f}, "
              f"mean cosine {float(cosine.mean()):.5f}, min cosine {float(cosine.min()):.5f}; reconstruction max "
              f"abs diff {float((fp32_out.reconstruction - bf16_out.reconstruction).abs().max()):.4f}")
        if device.type == "cuda":
            print(f"[cuda] peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GB")
    module.to("cpu")
    print(f"peak RSS {peak_rss_gb():.2f} GB")
    print("fp32 CPU time per block (s):")
    for name, seconds in block_profile(module, cell).items():
        print(f"  {name:34s} {seconds:8.2f}")


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


if __name__ == "__main__":
    main()
