"""The training path of the Performer stacks computes the performer-pytorch modules' function, with gradients."""

from __future__ import annotations

import pytest
import torch

import sclong_tl as sl
from _performer_helpers import modules_path
from _reference_helpers import reference_inputs, reference_model_path
from sclong_tl.model.performer import ScLongPerformer
from sclong_tl.train._masking import chosen_positions, mask_values


def _perturbed_stack(dim: int, heads: int, dim_head: int, depth: int = 2) -> ScLongPerformer:
    torch.manual_seed(0)
    performer = ScLongPerformer(dim, depth, heads, dim_head, nb_features=11).train()
    performer.fix_projection_matrices_()
    with torch.no_grad():
        for parameter in performer.parameters():
            parameter.normal_(0.0, 0.5)  # LayerNorm affine and all biases away from their defaults
        performer.net.layers[0][0].fn.to_v.bias = torch.nn.Parameter(torch.randn(heads * dim_head))
    return performer


@pytest.mark.parametrize(("dim", "heads", "dim_head"), [(16, 1, 16), (24, 3, 8)])
def test_training_path_matches_modules_in_outputs_and_gradients(dim, heads, dim_head):
    performer = _perturbed_stack(dim, heads, dim_head)
    x = torch.randn(3, 37, dim) * 3.0
    x[1] *= 20.0  # per-cell key stabilisers differ
    weights = torch.randn(3, 37, dim)

    def run(use_modules: bool):
        performer.zero_grad()
        inputs = x.clone().requires_grad_(True)
        if use_modules:
            with modules_path():
                out = performer(inputs)
        else:
            out = performer(inputs)
        (out * weights).sum().backward()
        grads = {name: p.grad.clone() for name, p in performer.named_parameters()}
        return out.detach(), inputs.grad, grads

    fast, fast_input_grad, fast_grads = run(False)
    definition, definition_input_grad, definition_grads = run(True)
    torch.testing.assert_close(fast, definition, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast_input_grad, definition_input_grad, rtol=1e-4, atol=1e-4)
    assert fast_grads.keys() == definition_grads.keys()
    for name in fast_grads:
        torch.testing.assert_close(fast_grads[name], definition_grads[name], rtol=1e-4, atol=1e-4, msg=name)


def test_query_index_gives_the_full_outputs_at_those_tokens():
    performer = _perturbed_stack(16, 2, 8, depth=2)
    x = torch.randn(2, 50, 16)
    index = torch.tensor([[3, 7, 7, 49], [0, 1, 25, 30]])
    full = performer(x)
    at = performer(x, query_index=index)
    assert at.shape == (2, 4, 16)
    torch.testing.assert_close(at, full.gather(1, index.unsqueeze(-1).expand(-1, -1, 16)), rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(performer(x, query_index=index), at.detach(), rtol=1e-5, atol=1e-5)


def test_chosen_positions_pads_each_cell_with_its_last_position():
    chosen = torch.tensor([[False, True, False, True, True], [True, False, False, False, False], [False] * 5])
    index, valid = chosen_positions(chosen)
    assert index.tolist() == [[1, 3, 4], [0, 0, 0], [0, 0, 0]]
    assert valid.tolist() == [[True, True, True], [True, False, False], [False, False, False]]


@pytest.fixture(scope="module")
def reference_model(tmp_path_factory):
    return sl.load_model(reference_model_path(str(tmp_path_factory.mktemp("ref"))), device="cpu")


def test_reconstruction_at_masked_positions_equals_the_full_forward(reference_model):
    # the real reference checkpoint on its real cells, masked as in pretraining
    values = torch.nn.functional.pad(torch.from_numpy(reference_inputs("inputs")), (0, 1))
    masked, chosen = mask_values(values, generator=torch.Generator().manual_seed(0))
    index, valid = chosen_positions(chosen)
    module = reference_model.module.train()
    module.fix_projection_matrices_()
    full = module(masked)
    at = module(masked, positions=index)
    torch.testing.assert_close(at.reconstruction, full.reconstruction.gather(1, index), rtol=1e-5, atol=1e-5)
    with modules_path():
        definition = module(masked)
    torch.testing.assert_close(full.reconstruction, definition.reconstruction, rtol=1e-5, atol=1e-5)
    assert valid.any()
