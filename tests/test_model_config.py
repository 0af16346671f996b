"""Model configuration, presets and the exact parameter count."""

from __future__ import annotations

import pytest
import torch

from sclong_tl.model import PRESETS, ScLong, count_parameters, get_config


def _build(config):
    edges = torch.tensor([[0, 1, 1], [0, 0, 1]])
    return ScLong(config, edges, torch.tensor([1.0, 0.5, 1.0]))


def test_official_preset_has_published_parameter_count():
    config = get_config("sclong-1b")
    assert (config.n_genes, config.base_dim, config.top_k) == (27_874, 200, 4096)
    assert (config.large_dim, config.large_depth, config.large_heads, config.large_dim_head) == (1280, 42, 32, 64)
    assert (config.mini_depth, config.mini_heads, config.dec_depth, config.dec_heads) == (2, 8, 2, 8)
    assert config.features_per_head(64) == 266
    assert count_parameters(config) == 1_006_086_461


@pytest.mark.parametrize(
    "overrides",
    [
        dict(n_genes=40, top_k=7),
        dict(
            n_genes=33,
            top_k=5,
            base_dim=12,
            large_dim=20,
            large_depth=3,
            large_heads=4,
            large_dim_head=3,
            mini_depth=2,
            mini_heads=2,
            mini_dim_head=6,
            dec_depth=2,
            dec_heads=3,
            dec_dim_head=5,
            ff_mult=2,
            expression_hidden=7,
            go_layers=2,
        ),
    ],
)
def test_parameter_formula_matches_built_model(overrides):
    config = get_config("tiny", **overrides)
    module = _build(config)
    assert count_parameters(config) == sum(p.numel() for p in module.parameters())


def test_state_dict_uses_official_key_layout():
    keys = set(_build(get_config("tiny", n_genes=10, top_k=3)).state_dict())
    for key in [
        "token_emb.fc1.weight",
        "mask_emb.weight",
        "pos_emb.emb.weight",
        "go_conv.emb.weight",
        "go_conv.sim_layers.0.lin.weight",
        "mini_encoder.calls_since_last_redraw",
        "large_encoder.net.layers.0.0.fn.to_q.weight",
        "large_encoder.net.layers.0.0.fn.fast_attention.projection_matrix",
        "mini_encoder.net.layers.0.1.fn.fn.w1.weight",
        "decoder.net.layers.0.0.fn.to_out.bias",
        "base_to_large.weight",
        "large_in_norm.weight",
        "large_to_base.weight",
        "large_to_base_out_norm.weight",
        "decode_norm.weight",
        "exp_to_out.weight",
    ]:
        assert key in keys
    assert not any("proj_updater" in key or "to_q.bias" in key for key in keys)


def test_presets_and_bad_configs():
    assert {"sclong-1b", "tiny"} <= set(PRESETS)
    with pytest.raises(ValueError, match="unknown scLong preset"):
        get_config("huge")
    with pytest.raises(ValueError, match="top_k"):
        get_config("tiny", n_genes=10, top_k=50)
    with pytest.raises(ValueError, match="divisible"):
        get_config("tiny", n_genes=10, large_heads=3)
    with pytest.raises(ValueError, match="unknown scLong config keys"):
        get_config({"n_genes": 5, "depth": 3})
    config = get_config("tiny", n_genes=12)
    assert get_config(config.to_dict()) == config


def test_wrong_input_width_is_rejected():
    module = _build(get_config("tiny", n_genes=10, top_k=3))
    with pytest.raises(ValueError, match="11 positions"):
        module(torch.zeros(2, 10))


def test_go_table_cached_at_inference_and_recomputed_after_weight_change():
    module = _build(get_config("tiny", n_genes=10, top_k=3)).eval()
    with torch.inference_mode():
        first = module._gene_tables()[1]
        assert module._gene_tables()[1] is first
    with torch.no_grad():
        module.go_conv.emb.weight.add_(1.0)
    with torch.inference_mode():
        assert not torch.equal(module._gene_tables()[1], first)


def test_vocabulary_smaller_than_top_k_routes_everything_to_the_large_encoder():
    config = get_config("tiny", n_genes=6)
    assert config.top_k == 7
    module = _build(config).eval()
    with torch.inference_mode():
        output = module(torch.rand(2, 7))
    assert output.representations.shape == (2, 7, config.base_dim)
    assert torch.isfinite(output.reconstruction).all()
