"""Seconds per cell of an scLong forward pass and its efficiency against same-run matrix products (random weights).

For a preset ("sclong-1b": the official size; "sclong-default" or "tiny" run in about a minute) this prints

- the CPU (model name, SIMD / AMX flags from /proc/cpuinfo, CPU affinity, cgroup quota) and torch's threads;
- the analytic FLOP count of one forward pass, listed by matrix-product shape;
- seconds per cell in float32 and in bfloat16 with the weights held in bfloat16 (``ScLong.set_weights_dtype_``;
  ``--autocast`` adds bfloat16 autocast over float32 weights, which casts the weights on every call);
- the efficiency of each: ``gemm_time / forward_time``, where ``gemm_time`` is the time, measured in the same run
  at the same precision and thread count, of the very matrix products the forward pass computes (every shape
  timed alone, times how often the forward uses it); 1.0 means the forward pass costs no more than its products.
  Also the rate of one large reference product (4096x1280 by 1280x5120) and the forward's fraction of it;
- the bfloat16 outputs' deviation from float32 (per-gene cosine similarity), and where the time goes (per block,
  and with ``--profile`` the most expensive operators of the bfloat16 forward).

With ``--feature-map-only`` it builds no model and times only the Performer attention between the q, k, v
projections and the output projection (random features, stabilisers, ``exp`` and the two attention products),
for each block of the preset, old and new side by side in alternating rounds: ``old`` the whole-tensor
implementation (``linear_attention_with_ones``: the training path's, which the inference path ran before and
still runs for narrow blocks), ``new`` the chunked one (``favor_attention``, the inference path of wide blocks),
in float32 and with bfloat16 inputs, each with its deviation from a float64 evaluation. ``--tokens`` caps the
tokens per block for a quick run.

Timings are only meaningful on an otherwise idle machine.

Usage: python benchmarks/forward_speed.py [--preset sclong-1b|sclong-default|tiny] [--cells 1] [--repeats 2]
       [--threads N] [--nnz 2500] [--device cpu|cuda] [--autocast] [--profile]
       python benchmarks/forward_speed.py --feature-map-only [--preset P] [--cells 1] [--tokens N] [--repeats 5]
"""

from __future__ import annotations

import argparse
import resource
import time
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
import torch

from sclong_tl._cpu import cpu_summary, has_native_bf16
from sclong_tl.model import ScLong, ScLongConfig, count_parameters, get_config
from sclong_tl.model.favor import favor_attention, linear_attention_with_ones, scale_projection

REFERENCE_GEMM = (4096, 1280, 5120)


@dataclass(frozen=True)
class Gemm:
    """``batch`` independent ``(m, k) @ (k, n)`` products."""

    batch: int
    m: int
    k: int
    n: int

    @property
    def flops(self) -> int:
        return 2 * self.batch * self.m * self.k * self.n


def performer_gemms(
    cells: int, tokens: int, width: int, depth: int, heads: int, dim_head: int, features: int, ff_mult: int
) -> Counter:
    """The matrix products of one fused inference pass through a Performer stack (performer_inference.py)."""
    rows, inner = cells * tokens, heads * dim_head
    per_layer = Counter(
        {
            Gemm(1, rows, width, inner): 2,  # q, k
            Gemm(1, rows, width, heads * (dim_head + 1)): 1,  # v with a ones column per head
            Gemm(1, rows * heads, dim_head, features): 2,  # random features of q and k
            Gemm(cells * heads, dim_head + 1, tokens, features): 1,  # [V | 1]^T K
            Gemm(cells * heads, tokens, features, dim_head + 1): 1,  # Q (K^T [V | 1])
            Gemm(1, rows, inner, width): 1,  # output projection
            Gemm(1, rows, width, ff_mult * width): 1,  # feed-forward
            Gemm(1, rows, ff_mult * width, width): 1,
        }
    )
    return Counter({gemm: count * depth for gemm, count in per_layer.items()})


def forward_gemms(config: ScLongConfig, cells: int, nnz: int) -> Counter:
    """All matrix products of one inference forward pass of ``cells`` cells with ``nnz`` expressed genes each."""
    c = config
    d, big, k, positions = c.base_dim, c.large_dim, c.top_k, c.n_positions
    gemms: Counter = Counter()
    gemms[Gemm(1, cells * nnz, c.expression_hidden, d)] += 1  # expression encoder (fc1 has K = 1: not counted)
    gemms[Gemm(1, cells * k, d, big)] += 1  # base_to_large
    gemms[Gemm(1, cells * k, big, d)] += 1  # large_to_base
    gemms += performer_gemms(
        cells, k, big, c.large_depth, c.large_heads, c.large_dim_head, c.features_per_head(c.large_dim_head), c.ff_mult
    )
    if positions > k:
        gemms += performer_gemms(
            cells,
            positions - k,
            d,
            c.mini_depth,
            c.mini_heads,
            c.mini_dim_head,
            c.features_per_head(c.mini_dim_head),
            c.ff_mult,
        )
    gemms += performer_gemms(
        cells, positions, d, c.dec_depth, c.dec_heads, c.dec_dim_head, c.features_per_head(c.dec_dim_head), c.ff_mult
    )
    gemms[Gemm(1, cells * positions, d, 1)] += 1  # reconstruction head
    return gemms


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_gemm(gemm: Gemm, dtype: torch.dtype, device: torch.device, repeats: int) -> float:
    """Best-of-``repeats`` seconds of one product of this shape (after a warm-up)."""
    shape_a = (gemm.m, gemm.k) if gemm.batch == 1 else (gemm.batch, gemm.m, gemm.k)
    shape_b = (gemm.k, gemm.n) if gemm.batch == 1 else (gemm.batch, gemm.k, gemm.n)
    a = torch.randn(shape_a, device=device).to(dtype)
    b = torch.randn(shape_b, device=device).to(dtype)
    out = torch.matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        torch.matmul(a, b, out=out)
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def gemm_time(gemms: Counter, dtype: torch.dtype, device: torch.device, repeats: int) -> float:
    """Seconds the forward pass's products take when each is run alone: the roofline of this run."""
    with torch.inference_mode():
        return sum(count * time_gemm(gemm, dtype, device, repeats) for gemm, count in gemms.items())


def realistic_cells(n_genes: int, nnz: int, cells: int, seed: int) -> torch.Tensor:
    """Cells in model space: nnz expressed genes with log-normalised-like values (max 10), pad 0."""
    rng = np.random.default_rng(seed)
    values = np.zeros((cells, n_genes + 1), dtype=np.float32)
    for row in range(cells):
        counts = rng.negative_binomial(1, 0.3, size=nnz) + 1
        logged = np.log1p(counts / counts.sum() * 1e4)
        values[row, rng.choice(n_genes, size=nnz, replace=False)] = logged * 10 / logged.max()
    return torch.from_numpy(values)


def timed_forward(module: ScLong, cells: torch.Tensor, dtype: torch.dtype, device: torch.device, repeats: int):
    """Best-of-``repeats`` seconds of a forward pass (after one warm-up) and its output."""
    times = []
    output = None
    for attempt in range(repeats + 1):
        synchronize(device)
        start = time.perf_counter()
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            output = module(cells)
        synchronize(device)
        if attempt:
            times.append(time.perf_counter() - start)
    return min(times), output


def block_profile(module: ScLong, cells: torch.Tensor, dtype: torch.dtype) -> dict[str, float]:
    """Wall time spent in each top-level block (forward hooks)."""
    spent: dict[str, float] = defaultdict(float)
    starts: dict[str, float] = {}
    handles = []
    for name in (
        "token_emb",
        "go_conv",
        "mini_encoder",
        "base_to_large",
        "large_encoder",
        "large_to_base",
        "decoder",
        "exp_to_out",
    ):
        block = getattr(module, name)
        handles.append(block.register_forward_pre_hook(lambda m, a, n=name: starts.__setitem__(n, time.perf_counter())))
        handles.append(
            block.register_forward_hook(
                lambda m, a, o, n=name: spent.__setitem__(n, spent[n] + time.perf_counter() - starts[n])
            )
        )
    total_start = time.perf_counter()
    with torch.inference_mode(), torch.autocast(cells.device.type, dtype=dtype, enabled=dtype != torch.float32):
        module(cells)
    total = time.perf_counter() - total_start
    for handle in handles:
        handle.remove()
    spent["other (top-k, embeddings, norms, merge)"] = total - sum(spent.values())
    spent["total"] = total
    return dict(spent)


def operator_profile(module: ScLong, cells: torch.Tensor, dtype: torch.dtype, rows: int = 15) -> str:
    """The operators with the most self time in one forward pass (torch.profiler), with their input dtypes."""
    from torch.profiler import ProfilerActivity, profile

    with (
        profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof,
        torch.inference_mode(),
        torch.autocast(cells.device.type, dtype=dtype, enabled=dtype != torch.float32),
    ):
        module(cells)
    return prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=rows)


def attention_blocks(config: ScLongConfig) -> dict[str, tuple[int, int, int, int]]:
    """Tokens, heads, head width and random features of each Performer block of a config."""
    c = config
    blocks = {"large encoder": (c.top_k, c.large_heads, c.large_dim_head)}
    if c.n_positions > c.top_k:
        blocks["mini encoder"] = (c.n_positions - c.top_k, c.mini_heads, c.mini_dim_head)
    blocks["decoder"] = (c.n_positions, c.dec_heads, c.dec_dim_head)
    return {name: (*shape, c.features_per_head(shape[2])) for name, shape in blocks.items()}


def feature_map_benchmark(config: ScLongConfig, args: argparse.Namespace, device: torch.device) -> None:
    """Old (whole-tensor) and new (chunked) attention feature map side by side, alternating rounds per block."""
    implementations = {"old": linear_attention_with_ones, "new": favor_attention}
    print(f"feature map only, {args.cells} cell(s); seconds per call, best and median of {args.repeats} rounds")
    for name, (tokens, heads, dim_head, features) in attention_blocks(config).items():
        tokens = min(tokens, args.tokens) if args.tokens else tokens
        generator = torch.Generator().manual_seed(0)
        shape = (args.cells, tokens, heads, dim_head)
        q, k = (torch.randn(shape, generator=generator).to(device) for _ in range(2))
        v_with_ones = torch.randn((*shape[:-1], dim_head + 1), generator=generator).to(device)
        v_with_ones[..., -1] = 1.0
        projection = scale_projection(torch.randn(features, dim_head, generator=generator)).to(device)
        with torch.inference_mode():
            reference = linear_attention_with_ones(q.double(), k.double(), v_with_ones.double(), projection.double())
        print(f"  {name}: {tokens} tokens x {heads} heads x {features} features (head width {dim_head})")
        for dtype in (torch.float32, torch.bfloat16):
            inputs = (q.to(dtype), k.to(dtype), v_with_ones.to(dtype), projection)
            times: dict[str, list[float]] = {label: [] for label in implementations}
            outputs = {}
            with torch.inference_mode():
                for attempt in range(args.repeats + 1):  # the first round warms up
                    for label, implementation in implementations.items():
                        synchronize(device)
                        start = time.perf_counter()
                        outputs[label] = implementation(*inputs)
                        synchronize(device)
                        if attempt:
                            times[label].append(time.perf_counter() - start)
            deviations = []
            for label, output in outputs.items():
                out, ref = output.double().flatten(2), reference.flatten(2)
                error = float((out - ref).abs().max() / ref.abs().max())
                cosine = float(torch.nn.functional.cosine_similarity(out, ref, dim=-1).min())
                deviations.append(f"{label} max rel error {error:.1e}, min cosine {cosine:.6f}")
            best = {label: min(values) for label, values in times.items()}
            median = {label: float(np.median(values)) for label, values in times.items()}
            print(
                f"    {str(dtype).removeprefix('torch.'):9s} old {best['old']:8.4f} s (median {median['old']:8.4f})  "
                f"new {best['new']:8.4f} s (median {median['new']:8.4f})  old/new {best['old'] / best['new']:5.2f}x "
                f"(medians {median['old'] / median['new']:5.2f}x)"
            )
            print(f"              vs float64: {'; '.join(deviations)}")


def efficiency_line(label: str, forward: float, gemms: float, flops: int, peak: float, cells: int) -> str:
    return (
        f"  {label:24s} {forward / cells:9.3f} s/cell   {flops / forward / 1e12:7.3f} TFLOP/s   "
        f"same-run GEMMs {gemms / cells:8.3f} s/cell -> efficiency {gemms / forward:5.2f}   "
        f"(of the {peak / 1e12:.2f} TFLOP/s reference product: {flops / forward / peak:5.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="sclong-1b", help="sclong-1b, sclong-default or tiny")
    parser.add_argument("--cells", type=int, default=1, help="cells per forward pass")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--gemm-repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--nnz", type=int, default=2500, help="expressed genes per test cell")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--autocast", action="store_true", help="also time bf16 autocast over float32 weights")
    parser.add_argument("--profile", action="store_true", help="print the costliest operators of the bf16 pass")
    parser.add_argument(
        "--feature-map-only", action="store_true", help="time only the attention feature map, old vs new"
    )
    parser.add_argument("--tokens", type=int, default=None, help="with --feature-map-only: at most this many tokens")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    config = get_config(args.preset)
    print(f"CPU: {cpu_summary()}")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, oneDNN "
        f"{'on' if torch.backends.mkldnn.is_available() else 'OFF'}, device {device}"
    )
    if device.type == "cpu" and not has_native_bf16():
        print("note: no AMX-BF16 / AVX512-BF16 on this CPU: bfloat16 products are emulated")
    if args.feature_map_only:
        feature_map_benchmark(config, args, device)
        return

    gemms = forward_gemms(config, args.cells, args.nnz)
    flops = sum(g.flops * count for g, count in gemms.items())
    print(
        f"preset {args.preset}: {count_parameters(config):,} parameters; {flops / args.cells / 1e12:.3f} TFLOP "
        f"per cell in matrix products ({len(gemms)} shapes; the 5 largest shares:)"
    )
    for gemm, count in sorted(gemms.items(), key=lambda item: -item[0].flops * item[1])[:5]:
        print(
            f"    {count:4d} x [{gemm.batch} x ({gemm.m} x {gemm.k}) @ ({gemm.k} x {gemm.n})]  "
            f"{gemm.flops * count / flops:6.1%}"
        )

    build_start = time.perf_counter()
    torch.manual_seed(0)
    n = config.n_positions
    ring = torch.arange(n - 1)
    edge_index = torch.stack([torch.cat([ring, ring]), torch.cat([ring, (ring + 1) % (n - 1)])])
    module = ScLong(config, edge_index, torch.full((edge_index.shape[1],), 0.5)).eval().to(device)
    print(f"built in {time.perf_counter() - build_start:.1f} s; peak RSS {peak_rss_gb():.2f} GB")
    cells = realistic_cells(config.n_genes, min(args.nnz, config.n_genes), args.cells, seed=0).to(device)

    reference = Gemm(1, *REFERENCE_GEMM)
    results = []
    for dtype in (torch.float32, torch.bfloat16):
        with torch.inference_mode():
            peak = reference.flops / time_gemm(reference, dtype, device, args.gemm_repeats)
        results.append((dtype, peak, gemm_time(gemms, dtype, device, args.gemm_repeats)))
    (_, peak32, gemm32), (_, peak16, gemm16) = results
    print(
        f"reference product {REFERENCE_GEMM}: float32 {peak32 / 1e12:.3f} TFLOP/s, bfloat16 {peak16 / 1e12:.3f} "
        f"TFLOP/s ({peak16 / peak32:.2f}x)"
    )
    if device.type == "cpu" and has_native_bf16() and peak16 < 1.5 * peak32:
        print(
            "WARNING: bfloat16 products are not faster than float32 although the CPU has native bfloat16: "
            "torch does not reach the AMX / AVX512-BF16 kernels here"
        )

    fp32_time, fp32_out = timed_forward(module, cells, torch.float32, device, args.repeats)
    lines = [efficiency_line("float32", fp32_time, gemm32, flops, peak32, args.cells)]
    if args.autocast:
        autocast_time, _ = timed_forward(module, cells, torch.bfloat16, device, args.repeats)
        lines.append(efficiency_line("bf16 autocast (recast)", autocast_time, gemm16, flops, peak16, args.cells))
    fp32_blocks = block_profile(module, cells, torch.float32)
    module.set_weights_dtype_(torch.bfloat16)
    bf16_time, bf16_out = timed_forward(module, cells, torch.bfloat16, device, args.repeats)
    lines.append(efficiency_line("bf16 weights held", bf16_time, gemm16, flops, peak16, args.cells))
    print("forward pass (best of repeats, per cell):")
    print("\n".join(lines))
    print(f"  bf16 held vs float32: {fp32_time / bf16_time:.2f}x faster; peak RSS {peak_rss_gb():.2f} GB")
    if device.type == "cuda":
        print(f"  peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GB")

    a = fp32_out.representations.float().cpu().flatten(0, 1)
    b = bf16_out.representations.float().cpu().flatten(0, 1)
    cosine = torch.nn.functional.cosine_similarity(a, b, dim=-1)
    recon = (fp32_out.reconstruction.float() - bf16_out.reconstruction.float()).abs().max()
    print(
        f"bf16 vs float32 per-gene representations: mean cosine {float(cosine.mean()):.6f}, min cosine "
        f"{float(cosine.min()):.6f} (aim >= 0.999); reconstruction max abs diff {float(recon):.4f}"
    )

    bf16_blocks = block_profile(module, cells, torch.bfloat16)
    print(f"time per block (s per forward of {args.cells} cell(s)):     float32   bf16 held")
    for name, seconds in fp32_blocks.items():
        print(f"  {name:40s} {seconds:9.3f} {bf16_blocks[name]:10.3f}")
    if args.profile:
        print(operator_profile(module, cells, torch.bfloat16))


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


if __name__ == "__main__":
    main()
