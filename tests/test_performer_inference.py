"""The fused inference path of the Performer stacks computes the same function as the training path."""

from __future__ import annotations

import pytest
import torch

import sclong_tl as sl
from _performer_helpers import modules_path
from _reference_helpers import reference_inputs, reference_model_path
from sclong_tl.model import performer_inference
from sclong_tl.model.performer import ScLongPerformer


def _both_paths(module: torch.nn.Module, x: torch.Tensor):
    with torch.no_grad():
        fused = module(x)
    with torch.no_grad(), modules_path():
        definition = module(x)
    return fused, definition


@pytest.fixture(scope="module")
def reference_model(tmp_path_factory):
    return sl.load_model(reference_model_path(str(tmp_path_factory.mktemp("ref"))), device="cpu")


@pytest.mark.parametrize("name", ["inputs", "inputs_masked"])
def test_whole_model_fused_path_matches_training_path(reference_model, name):
    # the real reference checkpoint on its real cells: mini encoder, 4-head large encoder and decoder
    values = torch.nn.functional.pad(torch.from_numpy(reference_inputs(name)), (0, 1))
    module = reference_model.module.eval()
    fused, definition = _both_paths(module, values)
    assert torch.equal(fused.top_indices, definition.top_indices)
    assert (fused.representations - definition.representations).abs().max() <= 1e-5
    assert (fused.reconstruction - definition.reconstruction).abs().max() <= 1e-5


@pytest.mark.parametrize(("dim", "heads", "dim_head"), [(16, 1, 16), (24, 3, 8)])
def test_stack_fused_path_matches_training_path_across_chunk_edges(monkeypatch, dim, heads, dim_head):
    # cells x tokens = 3 x 37 rows in feed-forward chunks of 16: chunks straddle cells and end short
    monkeypatch.setattr(performer_inference, "TOKEN_CHUNK", 16)
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
