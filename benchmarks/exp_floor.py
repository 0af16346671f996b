"""Cost and gain of flooring the inference path's ``exp`` arguments (``sclong_tl.model.favor.EXP_FLOOR``).

Times :func:`sclong_tl.model.favor.row_features_` (the random-feature map of the wide blocks' chunked attention)
on one cache-sized chunk of the 1B model's shape (32 heads x 266 features, 64 wide), with the floor and with the
floor disabled (``EXP_FLOOR = -inf``: the same passes, no argument changed), side by side in alternating rounds,
for queries of increasing size. At the larger sizes most stabilised arguments fall below -87, where ``exp`` gives
subnormal floats, which CPUs compute far more slowly. Prints the share of arguments below the floor, the median
time of each variant and their ratio, and the largest difference of the features (bounded by ``exp(-87)``).

Usage: python benchmarks/exp_floor.py [--threads 1] [--repeats 9] [--dtype float32|bfloat16]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from sclong_tl.model import favor


def time_features(q: torch.Tensor, projection_t: torch.Tensor, out: torch.Tensor, floor: float) -> float:
    favor.EXP_FLOOR = floor
    start = time.perf_counter()
    favor.row_features_(q, projection_t, out)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    heads, dim_head, n_features = 32, 64, 266
    tokens = favor.chunk_tokens(torch.device("cpu"), heads, n_features)
    generator = torch.Generator().manual_seed(0)
    projection = favor.scale_projection(torch.randn(n_features, dim_head, generator=generator))
    projection_t = projection.t().contiguous().to(dtype)
    floor = favor.EXP_FLOOR
    print(f"one chunk: {tokens} tokens x {heads} heads x {n_features} features, {args.dtype}, {args.threads} thread(s)")
    print("query scale | args below floor | floored ms | unfloored ms | unfloored / floored | max |difference|")
    for scale in (1.0, 3.0, 6.0, 10.0):
        q = (torch.randn(1, tokens, heads, dim_head, generator=generator) * scale).to(dtype)
        floored, unfloored = torch.empty(1, heads, tokens, n_features), torch.empty(1, heads, tokens, n_features)
        with torch.inference_mode():
            projected = torch.nn.functional.linear(q.transpose(1, 2).float(), projection_t.t().float())
            arguments = projected - favor.norm_offset(q.transpose(1, 2).float()).unsqueeze(-1)
            below = float((arguments - projected.amax(-1, keepdim=True) < floor).float().mean())
            times: dict[str, list[float]] = {"floored": [], "unfloored": []}
            for _ in range(args.repeats):
                times["floored"].append(time_features(q, projection_t, floored, floor))
                times["unfloored"].append(time_features(q, projection_t, unfloored, -math.inf))
        favor.EXP_FLOOR = floor
        a, b = statistics.median(times["floored"]), statistics.median(times["unfloored"])
        difference = float((floored - unfloored).abs().max())
        print(f"{scale:11.1f} | {below:16.2f} | {a * 1e3:10.2f} | {b * 1e3:12.2f} | {b / a:19.2f} | {difference:.1e}")


if __name__ == "__main__":
    main()
