"""bfloat16 weights held once: conversion, accuracy against float32 on real cells, no per-call weight casts."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import sclong_tl as sl
from _embed_helpers import cellbench, tiny_model, vocabulary_graph
from sclong_tl._anndata import expression_matrix
from sclong_tl.pp import detect_values, iter_model_inputs


@cache
def bf16_tiny_model():
    """A second copy of the tiny model (same seed, so the same weights), holding bfloat16 weights."""
    genes, edge_index, edge_weight = vocabulary_graph()
    model = sl.ScLongModel.from_config("tiny", genes=genes, graph=(edge_index, edge_weight), seed=0, top_k=128)
    return model.to(dtype="bfloat16")


def real_inputs(n_cells: int = 12) -> np.ndarray:
    adata = cellbench()[:n_cells]
    kind = detect_values(expression_matrix(adata, None))
    return np.concatenate(
        [chunk for _, chunk in iter_model_inputs(adata, tiny_model().genes, value_kind=kind, chunk_size=n_cells)]
    )


class WeightCasts(TorchDispatchMode):
    """Records the storage addresses of the tensors cast from float32 to bfloat16 inside a forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: set[int] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func.overloadpacket in (torch.ops.aten.to, torch.ops.aten._to_copy):
            target = kwargs.get("dtype", next((a for a in args[1:] if isinstance(a, torch.dtype)), None))
            if target == torch.bfloat16 and args[0].dtype == torch.float32:
                self.sources.add(args[0].data_ptr())
        return func(*args, **kwargs)


def test_conversion_keeps_norms_tables_and_head_in_float32():
    model = bf16_tiny_model()
    module = model.module
    assert model.weights_dtype == "bfloat16" and "dtype=bfloat16" in repr(model)
    linear_dtypes = {
        layer.weight.dtype
        for name, layer in module.named_modules()
        if isinstance(layer, torch.nn.Linear)
        and name.split(".")[0] in ("mini_encoder", "large_encoder", "decoder", "base_to_large", "large_to_base")
    }
    assert linear_dtypes == {torch.bfloat16}
    for name, parameter in module.named_parameters():
        if "norm" in name or name.startswith(("token_emb", "pos_emb", "go_conv", "exp_to_out", "mask_emb")):
            assert parameter.dtype in (torch.float32, torch.float64), name
    assert all(buffer.dtype == torch.float32 for name, buffer in module.named_buffers() if "projection" in name)
    bf16_bytes = sum(p.numel() * p.element_size() for p in module.parameters())
    fp32_bytes = sum(p.numel() * p.element_size() for p in tiny_model().module.parameters())
    assert bf16_bytes < fp32_bytes


def test_bf16_weights_match_float32_per_gene_on_real_cells():
    values = real_inputs()
    reference, reference_reconstruction = tiny_model().encode(values)
    model = bf16_tiny_model()
    assert model.compute_dtype() == torch.bfloat16  # bfloat16 weights compute in bfloat16 by default
    representations, reconstruction = model.encode(values)
    assert representations.dtype == np.float32 and reconstruction.dtype == np.float32
    assert not np.array_equal(representations, reference)  # bfloat16 really ran
    cosine = torch.nn.functional.cosine_similarity(
        torch.from_numpy(representations), torch.from_numpy(reference), dim=-1
    )
    assert float(cosine.min()) >= 0.999, float(cosine.min())
    scale = np.abs(reference_reconstruction).max()
    assert np.abs(reconstruction - reference_reconstruction).max() < 0.02 * scale
    # a cell's result does not depend on its batch, also in bfloat16
    single, _ = model.encode(values[3:4], batch_size=1)
    np.testing.assert_array_equal(single[0], representations[3])


def test_bf16_weights_are_not_cast_again_in_a_forward_pass():
    values = real_inputs(2)
    float32_model = tiny_model()
    with WeightCasts() as autocast_casts:
        float32_model.forward_batch(values, dtype="bfloat16")
    w1 = float32_model.module.large_encoder.net.layers[0][1].fn.fn.w1.weight
    assert w1.data_ptr() in autocast_casts.sources  # the probe sees autocast casting float32 weights per call
    model = bf16_tiny_model()
    with WeightCasts() as held_casts:
        model.forward_batch(values)
    held = {tensor.data_ptr() for tensor in (*model.module.parameters(), *model.module.buffers())}
    assert held_casts.sources and not held_casts.sources & held  # activations are cast, no weight or buffer


def test_float32_results_need_float32_weights():
    model = bf16_tiny_model()
    with pytest.raises(ValueError, match="bfloat16 weights"):
        model.forward_batch(real_inputs(1), dtype="float32")
    with pytest.raises(ValueError, match="float32 or"):
        model.module.set_weights_dtype_(torch.float16)


def test_embed_by_path_loads_bf16_weights_once(tmp_path):
    path = tiny_model().save(tmp_path / "tiny.safetensors")
    adata = cellbench()[:6]
    half = sl.embed(adata, str(path), pooling="mean", dtype="bfloat16", device="cpu", copy=True, progress=False)
    full = sl.embed(adata, str(path), pooling="mean", device="cpu", copy=True, progress=False)
    assert half.uns["sclong"]["params"]["dtype"] == "bfloat16"
    assert half.uns["sclong"]["params"]["weights_dtype"] == "bfloat16"
    assert full.uns["sclong"]["params"]["weights_dtype"] == "float32"
    a, b = half.obsm["X_sclong"], full.obsm["X_sclong"]
    assert not np.array_equal(a, b)
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() >= 0.999
    loaded = sl.load_model(str(path), device="cpu", dtype="bf16")
    assert loaded.weights_dtype == "bfloat16"
    # a loaded float32 model passed with dtype="bfloat16" stays float32 (autocast), the caller's object unchanged
    model = sl.load_model(str(path), device="cpu")
    again = sl.embed(adata, model, pooling="mean", dtype="bfloat16", copy=True, progress=False)
    assert model.weights_dtype == "float32" and again.uns["sclong"]["params"]["weights_dtype"] == "float32"
