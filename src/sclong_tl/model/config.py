"""Model configuration: a dataclass, the named presets and the exact parameter count."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

OFFICIAL_N_GENES = 27_874


@dataclass(frozen=True)
class ScLongConfig:
    """Hyper-parameters of an scLong network.

    The token layout is ``n_genes`` vocabulary positions followed by one pad position that is always 0, as in
    the official release (``n_positions = n_genes + 1``).

    Attributes
    ----------
    n_genes
        Vocabulary size (without the pad position).
    base_dim
        Width ``d`` of the gene tokens, the mini encoder and the decoder.
    top_k
        Number of highest-valued positions per cell routed to the large encoder.
    large_dim, large_depth, large_heads, large_dim_head
        Width, layers, heads and head width of the large encoder.
    mini_depth, mini_heads, mini_dim_head
        Layers, heads and head width of the mini encoder (width ``base_dim``).
    dec_depth, dec_heads, dec_dim_head
        Layers, heads and head width of the full-length decoder (width ``base_dim``).
    nb_features
        FAVOR+ random features per head; ``None`` uses ``int(dim_head * ln(dim_head))`` (266 for 64).
    ff_mult
        Feed-forward expansion factor.
    expression_hidden
        Hidden width of the expression encoder ``Linear(1, h) -> ReLU -> Linear(h, d)``.
    go_layers
        SGConv layers of the GO gene encoder.
    mask_threshold
        Input values ``<=`` this are [MASK] tokens.
    feature_redraw_interval
        Training forward calls between redraws of the random features.
    gene_table_dtype
        Storage dtype of the directly added gene table (``pos_emb``); the official release keeps it in
        float64, which our converter preserves.
    """

    n_genes: int
    base_dim: int = 200
    top_k: int = 4096
    large_dim: int = 1280
    large_depth: int = 42
    large_heads: int = 32
    large_dim_head: int = 64
    mini_depth: int = 2
    mini_heads: int = 8
    mini_dim_head: int = 64
    dec_depth: int = 2
    dec_heads: int = 8
    dec_dim_head: int = 64
    nb_features: int | None = None
    ff_mult: int = 4
    expression_hidden: int = 50
    go_layers: int = 1
    mask_threshold: float = -1.0
    feature_redraw_interval: int = 1000
    gene_table_dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.n_genes < 1:
            raise ValueError(f"n_genes must be positive, got {self.n_genes}")
        if not 0 < self.top_k <= self.n_positions:
            raise ValueError(f"top_k must be in [1, n_genes + 1 = {self.n_positions}], got {self.top_k}")
        if self.gene_table_dtype not in ("float32", "float64"):
            raise ValueError(f"gene_table_dtype must be 'float32' or 'float64', got {self.gene_table_dtype!r}")
        for name in (
            "base_dim",
            "large_dim",
            "large_heads",
            "large_dim_head",
            "mini_heads",
            "mini_dim_head",
            "dec_heads",
            "dec_dim_head",
            "ff_mult",
            "expression_hidden",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        # performer-pytorch requires each block's width to split evenly over its heads
        for width, heads in (("base_dim", "mini_heads"), ("large_dim", "large_heads"), ("base_dim", "dec_heads")):
            if getattr(self, width) % getattr(self, heads):
                raise ValueError(f"{width}={getattr(self, width)} must be divisible by {heads}={getattr(self, heads)}")

    @property
    def n_positions(self) -> int:
        """Token positions per cell: the vocabulary plus the trailing pad."""
        return self.n_genes + 1

    def features_per_head(self, dim_head: int) -> int:
        """FAVOR+ random features used by a block with heads of width ``dim_head``."""
        if self.nb_features is not None:
            return self.nb_features
        return int(dim_head * math.log(dim_head))

    def replace(self, **changes: Any) -> ScLongConfig:
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dictionary of all fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ScLongConfig:
        """Build a config from :meth:`to_dict` output, refusing unknown keys."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown scLong config keys: {sorted(unknown)}")
        return cls(**values)


PRESETS: dict[str, dict[str, Any]] = {
    # the published 1B model (DESIGN.md section 2, item 8)
    "sclong-1b": dict(n_genes=OFFICIAL_N_GENES),
    # the bundled default model: full vocabulary, full-length blocks as narrow as "tiny" so that embedding runs
    # at >= 20 cells/s on 2 CPU cores; a wider top-k branch where compute is cheap (512 tokens)
    "sclong-default": dict(
        n_genes=OFFICIAL_N_GENES,
        base_dim=16,
        top_k=512,
        large_dim=64,
        large_depth=2,
        large_heads=4,
        large_dim_head=16,
        mini_depth=1,
        mini_heads=1,
        mini_dim_head=16,
        dec_depth=1,
        dec_heads=1,
        dec_dim_head=16,
        expression_hidden=16,
    ),
    # small but complete; pretrains on a 2-core CPU in seconds (tests, quick trials)
    "tiny": dict(
        n_genes=OFFICIAL_N_GENES,
        base_dim=16,
        top_k=256,
        large_dim=32,
        large_depth=1,
        large_heads=2,
        large_dim_head=16,
        mini_depth=1,
        mini_heads=1,
        mini_dim_head=16,
        dec_depth=1,
        dec_heads=1,
        dec_dim_head=16,
        expression_hidden=16,
    ),
}


def get_config(preset: str | ScLongConfig | dict[str, Any], **overrides: Any) -> ScLongConfig:
    """Return the configuration of a named preset (or a dict / config), with fields overridden.

    Parameters
    ----------
    preset
        A name from :data:`PRESETS` (``"sclong-1b"``, ``"tiny"``), a config, or a dict of fields.
    **overrides
        Fields to change, e.g. ``n_genes=2000``. When a preset's ``top_k`` exceeds a smaller overridden
        vocabulary and ``top_k`` is not given, it is lowered to ``n_genes + 1``.

    Returns
    -------
    The configuration.
    """
    if isinstance(preset, ScLongConfig):
        return preset.replace(**overrides) if overrides else preset
    if isinstance(preset, dict):
        return ScLongConfig.from_dict({**preset, **overrides})
    if preset not in PRESETS:
        raise ValueError(f"unknown scLong preset {preset!r}; available: {sorted(PRESETS)}")
    values = {**PRESETS[preset], **overrides}
    if "top_k" not in overrides:
        values["top_k"] = min(values.get("top_k", 4096), values["n_genes"] + 1)
    return ScLongConfig.from_dict(values)


def _performer_parameters(dim: int, depth: int, heads: int, dim_head: int, ff_mult: int) -> int:
    inner = heads * dim_head
    attention = 2 * dim + 3 * dim * inner + inner * dim + dim  # pre-norm, q/k/v (no bias), out (bias)
    feed_forward = 2 * dim + dim * ff_mult * dim + ff_mult * dim + ff_mult * dim * dim + dim
    return depth * (attention + feed_forward)


def count_parameters(config: ScLongConfig) -> int:
    """Number of trainable parameters of :class:`~sclong_tl.model.ScLong` for ``config``, without building it.

    Parameters
    ----------
    config
        The model's hyper-parameters (:func:`get_config` turns a preset name into one).

    Returns
    -------
    The parameter count; the official ``"sclong-1b"`` preset gives 1,006,086,461.
    """
    d, big, positions, hidden = config.base_dim, config.large_dim, config.n_positions, config.expression_hidden
    total = (hidden + hidden) + (hidden * d + d)  # expression encoder fc1, fc2
    total += 2 * d + d  # token_norm, mask embedding
    total += 2 * positions * d  # the two gene tables
    total += config.go_layers * (d * d + d)  # SGConv linear layers
    total += _performer_parameters(d, config.mini_depth, config.mini_heads, config.mini_dim_head, config.ff_mult)
    total += (d * big + big) + 2 * big  # base_to_large, large_in_norm
    total += _performer_parameters(big, config.large_depth, config.large_heads, config.large_dim_head, config.ff_mult)
    total += (big * d + d) + 2 * d  # large_to_base, its norm
    total += _performer_parameters(d, config.dec_depth, config.dec_heads, config.dec_dim_head, config.ff_mult)
    total += 2 * d + (d + 1)  # decode_norm, exp_to_out
    return total
