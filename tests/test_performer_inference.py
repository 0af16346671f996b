"""The fused inference path of the Performer stacks computes the same function as the training path."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import sclong_tl as sl
from _performer_helpers import modules_path
from _reference_helpers import reference_inputs, reference_model_path, reference_outputs
from sclong_tl.model import favor, performer_inference
from sclong_tl.model.favor import favor_attention, linear_attention_with_ones, scale_projection, token_chunks
from sclong_tl.model.performer import ScLongPerformer

BOTH_PATHS = pytest.mark.parametrize("chunked_min", [0, 1 << 40], ids=["chunked", "whole-tensor"])


def _both_paths(module: torch.nn.Module, x: torch.Tensor):
    with torch.no_grad():
        fused = module(x)
    with torch.no_grad(), modules_path():
        definition = module(x)
    return fused, definition


@pytest.fixture(scope="module")
def reference_model(tmp_path_factory):
    return sl.load_model(reference_model_path(str(tmp_path_factory.mktemp("ref"))), device="cpu")


@BOTH_PATHS
@pytest.mark.parametrize("name", ["inputs", "inputs_masked"])
def test_whole_model_fused_path_matches_training_path(monkeypatch, reference_model, name, chunked_min):
    # the real reference checkpoint on its real cells: mini encoder, 4-head large encoder and decoder
    monkeypatch.setattr(performer_inference, "CHUNKED_MIN_FEATURES", chunked_min)
    monkeypatch.setattr(performer_inference, "CHUNKED_MIN_ELEMENTS", 0)
    values = torch.nn.functional.pad(torch.from_numpy(reference_inputs(name)), (0, 1))
    module = reference_model.module.eval()
    fused, definition = _both_paths(module, values)
    assert torch.equal(fused.top_indices, definition.top_indices)
    assert (fused.representations - definition.representations).abs().max() <= 1e-5
    assert (fused.reconstruction - definition.reconstruction).abs().max() <= 1e-5


@BOTH_PATHS
@pytest.mark.parametrize(("dim", "heads", "dim_head"), [(16, 1, 16), (24, 3, 8)])
def test_stack_fused_path_matches_training_path_across_chunk_edges(monkeypatch, dim, heads, dim_head, chunked_min):
    # cells x tokens = 3 x 37 rows in feed-forward chunks of 16: chunks straddle cells and end short; attention
    # chunks of 5 tokens of one cell
    monkeypatch.setattr(performer_inference, "TOKEN_CHUNK", 16)
    monkeypatch.setattr(performer_inference, "CHUNKED_MIN_FEATURES", chunked_min)
    monkeypatch.setattr(performer_inference, "CHUNKED_MIN_ELEMENTS", 0)
    monkeypatch.setattr(favor, "FEATURE_CHUNK_ELEMENTS", 5 * heads * 11)
    torch.manual_seed(0)
    performer = ScLongPerformer(dim, 2, heads, dim_head, nb_features=11).eval()
    with torch.no_grad():
        for parameter in performer.parameters():
            parameter.normal_(0.0, 0.5)  # LayerNorm affine and all biases away from their defaults
        performer.net.layers[0][0].fn.to_v.bias = torch.nn.Parameter(torch.randn(heads * dim_head))
    x = torch.randn(3, 37, dim) * 3.0
    x[1] *= 20.0  # one cell far larger than the others: the per-cell key stabilisers differ
    before = x.clone()
    fused, definition = _both_paths(performer, x)
    assert torch.equal(x, before), "the input must not be changed"
    torch.testing.assert_close(fused, definition, rtol=1e-5, atol=1e-5)
    # a cell's output does not depend on the other cells in its batch
    with torch.no_grad():
        alone = torch.cat([performer(x[i : i + 1]) for i in range(len(x))])
    torch.testing.assert_close(alone, fused, rtol=1e-5, atol=1e-5)


def test_fused_path_under_bfloat16_autocast(reference_model):
    values = torch.nn.functional.pad(torch.from_numpy(reference_inputs("inputs")), (0, 1))
    module = reference_model.module.eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fused, definition = _both_paths(module, values)
    reference = _both_paths(module, values)[1]
    assert fused.representations.dtype == definition.representations.dtype
    assert torch.isfinite(fused.representations).all()
    fused_error = (fused.representations.float() - reference.representations).abs().mean()
    definition_error = (definition.representations.float() - reference.representations).abs().mean()
    assert 0 < fused_error <= 2 * definition_error + 1e-3  # bf16 took effect, and costs no more than in the modules


def _attention_inputs(cells=3, tokens=37, heads=3, dim_head=8, features=11, scale=1.0, seed=0):
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(cells, tokens, heads, dim_head, generator=generator) * scale
    k = torch.randn(cells, tokens, heads, dim_head, generator=generator) * scale
    k[1] *= 4.0  # per-cell key stabilisers differ
    k[-1, :5] *= 3.0  # and so do the rows of one cell
    v_with_ones = torch.randn(cells, tokens, heads, dim_head + 1, generator=generator)
    v_with_ones[..., -1] = 1.0
    projection = scale_projection(torch.randn(features, dim_head, generator=generator))
    return q, k, v_with_ones, projection


@pytest.mark.parametrize("chunk_tokens", [5, 37, 80, 1000], ids=["in-cell", "one-cell", "two-cells", "all"])
@pytest.mark.parametrize("scale", [0.3, 1.0, 4.0], ids=["small", "unit", "eps-dominated"])
def test_chunked_attention_is_the_whole_tensor_attention(monkeypatch, chunk_tokens, scale):
    monkeypatch.setattr(favor, "FEATURE_CHUNK_ELEMENTS", chunk_tokens * 3 * 11)
    q, k, v_with_ones, projection = _attention_inputs(scale=scale)
    with torch.inference_mode():
        # the same function: equal up to float64 rounding
        exact = linear_attention_with_ones(*(t.double() for t in (q, k, v_with_ones, projection)))
        chunked64 = favor_attention(*(t.double() for t in (q, k, v_with_ones, projection)))
        # float32: as close to the exact result as the whole-tensor path (measured: 3e-7 and 4e-7)
        whole = linear_attention_with_ones(q, k, v_with_ones, projection)
        chunked = favor_attention(q, k, v_with_ones, projection)
    assert chunked64.dtype == torch.float64 and chunked.dtype == torch.float32
    torch.testing.assert_close(chunked64, exact, rtol=1e-12, atol=1e-12)
    scale_out = exact.abs().max()
    assert (chunked.double() - exact).abs().max() <= 2e-6 * scale_out
    assert (chunked - whole).abs().max() <= 2e-6 * scale_out


def test_chunked_features_are_never_subnormal():
    # large queries: most stabilised exp arguments lie far below -87 and would give (slow) subnormal floats
    q, _, _, projection = _attention_inputs(scale=10.0)
    projection_t = projection.t().contiguous()
    out = torch.empty(q.shape[0], q.shape[2], q.shape[1], projection.shape[0])
    with torch.inference_mode():
        favor.row_features_(q, projection_t, out)
        unfloored = nn.functional.linear(q.transpose(1, 2), projection)
        unfloored = unfloored - favor.norm_offset(q.transpose(1, 2)).unsqueeze(-1) - unfloored.amax(-1, keepdim=True)
    assert float((unfloored < favor.EXP_FLOOR).float().mean()) > 0.5  # the floor is exercised
    tiny = torch.finfo(torch.float32).tiny
    assert not bool(((out > 0) & (out < tiny)).any())
    assert float(out.min()) >= math.exp(favor.EXP_FLOOR) * (1 - 1e-6)


def test_chunked_attention_of_a_cell_does_not_depend_on_its_batch(monkeypatch):
    monkeypatch.setattr(favor, "FEATURE_CHUNK_ELEMENTS", 7 * 3 * 11)
    q, k, v_with_ones, projection = _attention_inputs()
    with torch.inference_mode():
        batch = favor_attention(q, k, v_with_ones, projection)
        alone = torch.cat(
            [favor_attention(q[i : i + 1], k[i : i + 1], v_with_ones[i : i + 1], projection) for i in range(3)]
        )
    torch.testing.assert_close(alone, batch, rtol=1e-6, atol=1e-7)


def test_chunked_attention_in_bfloat16_stays_close_to_float32():
    # 1B-like heads (64 wide, 266 features), keys of some tokens far larger than the rest
    q, k, v_with_ones, projection = _attention_inputs(cells=2, tokens=300, heads=2, dim_head=64, features=266)
    with torch.inference_mode():
        exact = linear_attention_with_ones(q, k, v_with_ones, projection)
        bf16_inputs = (q.bfloat16(), k.bfloat16(), v_with_ones.bfloat16(), projection)
        chunked = favor_attention(*bf16_inputs)
        whole = linear_attention_with_ones(*bf16_inputs)
    assert chunked.dtype == torch.bfloat16
    assert not torch.equal(chunked.float(), exact)

    def cosine(out):
        return torch.nn.functional.cosine_similarity(out.float().flatten(2), exact.flatten(2), dim=-1)

    assert float(cosine(chunked).min()) >= 0.9999
    # float32 exp and stabilisers: no less accurate than the all-bfloat16 whole-tensor path (measured: 0.7x)
    assert (chunked.float() - exact).abs().mean() <= (whole.float() - exact).abs().mean()


def test_chunked_attention_is_chosen_for_wide_long_blocks_only():
    choose = performer_inference.use_chunked_attention
    # the 1B model's blocks at their real lengths: large encoder, mini encoder, decoder
    assert choose(4096, 32, 266) and choose(23_779, 8, 266) and choose(27_875, 8, 266)
    # measured slower: 8 wide heads over 2,048 tokens; the default model's narrow blocks
    assert not choose(2048, 8, 266)
    assert not choose(512, 4, 44) and not choose(27_214, 1, 44)


def test_token_chunks_cover_every_token_once():
    for cells, tokens, chunk in [(3, 37, 5), (3, 37, 37), (5, 7, 15), (1, 4, 100)]:
        covered = torch.zeros(cells, tokens, dtype=torch.int64)
        for cell_range, token_range in token_chunks(cells, tokens, chunk):
            block = covered[cell_range, token_range]
            assert block.numel() <= max(chunk, tokens)
            assert block.shape[0] == 1 or block.shape[1] == tokens  # one cell's tokens, or whole cells
            covered[cell_range, token_range] += 1
        assert torch.equal(covered, torch.ones_like(covered))


@pytest.mark.parametrize("name", ["inputs", "inputs_masked"])
def test_chunked_path_reproduces_reference_outputs(monkeypatch, reference_model, name):
    # fixture A's blocks are narrow (whole-tensor path by default): force the chunked one, in chunks of 3 tokens
    monkeypatch.setattr(performer_inference, "CHUNKED_MIN_FEATURES", 0)
    monkeypatch.setattr(performer_inference, "CHUNKED_MIN_ELEMENTS", 0)
    monkeypatch.setattr(favor, "FEATURE_CHUNK_ELEMENTS", 1)
    expected_repr, expected_recon, _ = reference_outputs(name)
    values = torch.nn.functional.pad(torch.from_numpy(reference_inputs(name)), (0, 1))
    with torch.inference_mode():
        output = reference_model.module.eval()(values)
    assert np.abs(output.representations.numpy() - expected_repr).max() <= 1e-5
    assert np.abs(output.reconstruction.numpy() - expected_recon).max() <= 1e-5


def test_chunked_path_under_bfloat16_keeps_per_gene_cosine(monkeypatch, reference_model):
    monkeypatch.setattr(performer_inference, "CHUNKED_MIN_FEATURES", 0)
    monkeypatch.setattr(performer_inference, "CHUNKED_MIN_ELEMENTS", 0)
    values = torch.nn.functional.pad(torch.from_numpy(reference_inputs("inputs")), (0, 1))
    module = reference_model.module.eval()
    with torch.inference_mode():
        exact = module(values).representations
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = module(values).representations
    assert not torch.equal(bf16.float(), exact)
    cosine = torch.nn.functional.cosine_similarity(bf16.float().flatten(0, 1), exact.flatten(0, 1), dim=-1)
    assert float(cosine.min()) >= 0.999
