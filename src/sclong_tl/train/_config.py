"""Settings of a pretraining run (the CLI flags of ``sclong-tl pretrain``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class PretrainConfig:
    """Settings of a pretraining run (the CLI flags of ``sclong-tl pretrain``).

    Attributes
    ----------
    data
        ``.h5ad`` shards (raw counts or log1p; symbols or Ensembl IDs).
    out
        Output folder: ``model.safetensors``, ``checkpoints/``, ``metrics.csv``, ``run.json``.
    config
        Model preset name (``"tiny"``, ``"sclong-1b"``) or a JSON file of :class:`~sclong_tl.model.ScLongConfig`
        fields (``n_genes`` is taken from the vocabulary).
    init
        Start from this model file (our ``.safetensors``) instead of a random initialisation.
    genes
        Vocabulary file (one Ensembl ID a line); default :func:`sclong_tl.genes.default_vocabulary`.
    steps
        Optimiser steps.
    batch_size, grad_accum
        Cells per micro-batch (per process) and micro-batches per optimiser step.
    lr, warmup_steps, min_lr_ratio
        Peak learning rate (the paper: 5e-5), linear warm-up steps, cosine floor as a fraction of ``lr``.
    clip_grad_norm
        Gradient-norm clipping (the paper: 100).
    bf16
        bf16 autocast (default on CUDA when left None).
    seed
        Seed of the initialisation, the data order and the masks (each rank derives its own).
    validation_fraction, validation_cells, validate_every
        Held-out fraction per shard, how many held-out cells to score, and how often (steps).
    checkpoint_every, log_every
        Steps between checkpoints and between log lines.
    min_genes
        Cells with fewer expressed vocabulary genes are skipped (and counted).
    resume
        Continue from the newest checkpoint in ``out/checkpoints``.
    fsdp
        Shard the model with FSDP (CUDA, for the 1B preset).
    device
        ``"auto"``, ``"cpu"``, ``"cuda"``.
    storage_dtype
        ``"float16"`` stores the final model at half size.
    name
        Name recorded in the final model.
    thinning, thinning_min_keep
        Depth augmentation: fraction of training cells (of count shards) binomially thinned, and the smallest
        keep probability (see :class:`~sclong_tl.train.ShardStream`).
    pooling, pooling_max_cells
        Depth augmentation towards deeper cells: fraction of training cells summed with other cells of their
        shard, and the most cells summed.
    gene_subset, gene_subset_min_keep
        Gene-panel augmentation: fraction of training cells that keep only a random part of their genes, and the
        smallest fraction kept.
    gene_init
        Initial gene tables of a new model: ``"go"`` (truncated SVD of the gene x GO-term matrix),
        ``"coexpression"`` (factorised co-expression of the training cells, Gene2vec's idea) or
        ``"go+coexpression"`` (half of the dimensions each); see :func:`sclong_tl.genes.coexpression_vectors`.
    keep_best
        Also write ``model-best.safetensors``: the weights of the lowest validation loss so far (a resumed run
        starts its comparison afresh; not under FSDP).
    """

    data: list[str]
    out: str
    config: str = "tiny"
    init: str | None = None
    genes: str | None = None
    steps: int = 1000
    batch_size: int = 4
    grad_accum: int = 1
    lr: float = 5e-5
    warmup_steps: int = 100
    min_lr_ratio: float = 0.02
    clip_grad_norm: float = 100.0
    bf16: bool | None = None
    seed: int = 0
    validation_fraction: float = 0.02
    validation_cells: int = 128
    validate_every: int = 100
    checkpoint_every: int = 200
    log_every: int = 10
    min_genes: int = 200
    resume: bool = False
    fsdp: bool = False
    device: str = "auto"
    storage_dtype: str | None = None
    name: str = "sclong-pretrained"
    thinning: float = 0.0
    thinning_min_keep: float = 0.1
    pooling: float = 0.0
    pooling_max_cells: int = 8
    gene_subset: float = 0.0
    gene_subset_min_keep: float = 0.05
    gene_init: str = "go"
    keep_best: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
