"""The converted reference checkpoint reproduces the reference implementation's outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sclong_tl as sl
from _reference_helpers import reference_inputs, reference_model_path, reference_outputs

INPUTS = ["inputs", "inputs_masked"]


# measured: at most 9.5e-7 (float32 rounding) on both inputs of fixture A; a 10x margin
PARITY_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return sl.load_model(reference_model_path(str(tmp_path_factory.mktemp("ref"))), device="cpu")


@pytest.mark.parametrize("name", INPUTS)
def test_encode_matches_reference_one_cell_at_a_time(model, name):
    expected_repr, expected_recon, _ = reference_outputs(name)
    representations, reconstruction = model.encode(reference_inputs(name), batch_size=8)
    assert representations.shape == (8, 2000, 32) and reconstruction.shape == (8, 2000)
    assert np.abs(representations - expected_repr[:, :-1]).max() <= PARITY_TOLERANCE
    assert np.abs(reconstruction - expected_recon[:, :-1]).max() <= PARITY_TOLERANCE


@pytest.mark.parametrize("name", INPUTS)
def test_top_k_selection_matches_cpu_topk_of_reference(model, name):
    _, _, expected_top = reference_outputs(name)
    values = torch.nn.functional.pad(torch.from_numpy(reference_inputs(name)), (0, 1))
    with torch.inference_mode():
        output = model.module(values)
    np.testing.assert_array_equal(output.top_indices.numpy(), expected_top)
    # the pad column is part of the layout: its outputs are returned by the module too
    expected_repr, _, _ = reference_outputs(name)
    assert np.abs(output.representations.numpy() - expected_repr).max() <= PARITY_TOLERANCE


def test_cell_output_independent_of_batch_and_order(model):
    values = reference_inputs("inputs_masked")
    alone = np.concatenate([model.encode(values[i : i + 1])[0] for i in range(len(values))])
    batched = model.encode(values, batch_size=8)[0]
    order = np.random.default_rng(0).permutation(len(values))
    shuffled = model.encode(values[order], batch_size=8)[0][np.argsort(order)]
    assert np.abs(alone - batched).max() <= 1e-5
    assert np.abs(shuffled - batched).max() <= 1e-5


def test_masked_genes_never_enter_top_k(model):
    values = reference_inputs("inputs").copy()
    top_before = set(
        model.module(torch.nn.functional.pad(torch.from_numpy(values[:1]), (0, 1))).top_indices[0].tolist()
    )
    chosen = sorted(top_before)[:10]
    values[0, [c for c in chosen if c < values.shape[1]]] = -10.0
    with torch.inference_mode():
        top_after = model.module(torch.nn.functional.pad(torch.from_numpy(values[:1]), (0, 1))).top_indices[0]
    assert not set(top_after.tolist()) & set(chosen)


def test_masked_and_unmasked_inputs_differ_only_through_mask(model):
    # a masked gene's reconstruction must not see its true value: changing the value under the mask is a no-op
    values = reference_inputs("inputs_masked")
    masked_positions = values[0] <= -1
    assert masked_positions.any()
    altered = values.copy()
    altered[0, masked_positions] = -3.5
    np.testing.assert_array_equal(model.encode(values[:1])[1], model.encode(altered[:1])[1])


def test_inference_does_not_change_weights(model):
    before = {k: v.clone() for k, v in model.module.state_dict().items()}
    model.encode(reference_inputs("inputs_masked")[:2])
    after = model.module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
