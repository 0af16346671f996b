"""The pretraining loop (DESIGN.md section 2, item 9): masked-value reconstruction with Adam."""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._allocator import keep_freed_memory
from ._checkpoint import list_checkpoints, load_training_state, restore_rng_states, rng_states, save_training_state
from ._data import ShardStream, StreamPosition
from ._distributed import DistributedContext, all_reduce_mean, init_distributed, no_sync, shutdown, wrap_model
from ._masking import chosen_positions, mask_values
from ._schedule import warmup_cosine

logger = logging.getLogger(__name__)


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
    gene_init
        Initial gene tables of a new model: ``"go"`` (truncated SVD of the gene x GO-term matrix),
        ``"coexpression"`` (factorised co-expression of the training cells, Gene2vec's idea) or
        ``"go+coexpression"`` (half of the dimensions each); see :func:`sclong_tl.genes.coexpression_vectors`.
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
    gene_init: str = "go"
    extra: dict[str, Any] = field(default_factory=dict)


def _model_config(spec: str, n_genes: int) -> Any:
    from ..model import get_config

    path = Path(spec)
    if path.suffix == ".json" and path.is_file():
        return get_config({**json.loads(path.read_text()), "n_genes": n_genes})
    return get_config(spec, n_genes=n_genes)


def _vocabulary(config: PretrainConfig) -> list[str]:
    from ..genes import default_vocabulary

    if config.genes is None:
        return default_vocabulary()
    genes = [line.strip() for line in Path(config.genes).read_text().splitlines() if line.strip()]
    if len(set(genes)) != len(genes):
        raise ValueError(f"{config.genes} lists duplicated genes")
    return genes


def _gene_vectors(config: PretrainConfig, genes: list[str], dim: int, gene2go: dict) -> np.ndarray:
    """Initial gene tables of a new model, as ``config.gene_init`` asks (see :class:`PretrainConfig`)."""
    from ..genes import coexpression_vectors, initial_gene_vectors

    if config.gene_init not in ("go", "coexpression", "go+coexpression"):
        raise ValueError(f"gene_init must be 'go', 'coexpression' or 'go+coexpression', got {config.gene_init!r}")
    if config.gene_init == "go":
        return initial_gene_vectors(genes, dim, gene2go=gene2go, seed=config.seed)
    sample = ShardStream(config.data, genes, seed=config.seed, validation_fraction=config.validation_fraction,
                         min_genes=config.min_genes).training_sample()
    coexpression_dim = dim if config.gene_init == "coexpression" else dim - dim // 2
    coexpression, covered = coexpression_vectors(sample, coexpression_dim, seed=config.seed)
    go_dim = dim - coexpression_dim
    # genes the corpus does not cover keep GO-based vectors in the co-expression dimensions
    go = initial_gene_vectors(genes, max(go_dim, coexpression_dim), gene2go=gene2go, seed=config.seed)
    coexpression[~covered] = go[~covered, :coexpression_dim]
    if go_dim == 0:
        return coexpression
    return np.concatenate([go[:, :go_dim], coexpression], axis=1) / np.sqrt(2.0)


def _graph_and_vectors(config: PretrainConfig, genes: list[str], dim: int, cache: Path
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GO graph and initial gene vectors of the vocabulary, cached in the output folder."""
    from ..genes import build_go_graph, go_graph_edges, load_gene2go

    if cache.is_file():
        stored = np.load(cache, allow_pickle=False)
        if (stored["genes"].tolist() == genes and stored["vectors"].shape[1] == dim
                and str(stored.get("gene_init", "go")) == config.gene_init):
            return stored["edge_index"], stored["edge_weight"], stored["vectors"]
    gene2go = load_gene2go()
    edge_index, edge_weight = go_graph_edges(build_go_graph(gene2go, genes), genes)
    vectors = _gene_vectors(config, genes, dim, gene2go)
    np.savez(cache, genes=np.array(genes), edge_index=edge_index, edge_weight=edge_weight, vectors=vectors,
             gene_init=np.array(config.gene_init))
    return edge_index, edge_weight, vectors


def build_initial_model(config: PretrainConfig, out: Path) -> Any:
    """The model a run starts from: ``init`` if given, else a seeded random model of ``config.config``."""
    from ..models import ScLongModel, load_model

    if config.init:
        return load_model(config.init, device="cpu")
    genes = _vocabulary(config)
    model_config = _model_config(config.config, len(genes))
    edge_index, edge_weight, vectors = _graph_and_vectors(config, genes, model_config.base_dim,
                                                          out / "gene_graph.npz")
    return ScLongModel.from_config(model_config, genes=genes, seed=config.seed, gene_vectors=vectors,
                                   graph=(edge_index, edge_weight), name=config.name)


def _mask_generator(seed: int, rank: int, micro_step: int) -> torch.Generator:
    """Masks depend only on (seed, rank, micro-step), so a resumed run draws exactly the same ones."""
    generator = torch.Generator()
    generator.manual_seed((seed * 1_000_003 + rank * 7_919 + micro_step) % (2**63))
    return generator


def _set_lr(optimizer: torch.optim.Optimizer, config: PretrainConfig, step: int) -> float:
    lr = config.lr * warmup_cosine(step, warmup_steps=config.warmup_steps, total_steps=config.steps,
                                   min_ratio=config.min_lr_ratio)
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


def _autocast(context: DistributedContext, enabled: bool) -> contextlib.AbstractContextManager:
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(context.device.type, dtype=torch.bfloat16)


def _masked_errors(network: torch.nn.Module, padded: torch.Tensor, generator: torch.Generator,
                   context: DistributedContext, bf16: bool) -> tuple[torch.Tensor, int]:
    """Sum of squared reconstruction errors on the chosen genes of masked ``padded`` cells, and their number.

    The network computes its output at the chosen genes only (``positions=``), the only place the loss reads.
    """
    masked, chosen = mask_values(padded, generator=generator)
    index, valid = chosen_positions(chosen)
    target = padded.gather(1, index).to(context.device)
    valid = valid.to(context.device)
    with _autocast(context, bf16):
        output = network(masked.to(context.device), positions=index.to(context.device))
    errors = (output.reconstruction.float() - target) ** 2
    return torch.where(valid, errors, torch.zeros_like(errors)).sum(), int(valid.sum())


def _forward_loss(network: torch.nn.Module, values: torch.Tensor, generator: torch.Generator,
                  context: DistributedContext, bf16: bool) -> torch.Tensor:
    """Masked-reconstruction MSE of a micro-batch (0 when no gene was chosen)."""
    total, count = _masked_errors(network, torch.nn.functional.pad(values, (0, 1)), generator, context, bf16)
    return total / max(count, 1)


@torch.no_grad()
def validation_loss(module: torch.nn.Module, cells: Any, *, seed: int, context: DistributedContext,
                    bf16: bool, batch_size: int) -> float:
    """Masked-reconstruction MSE on held-out cells with fixed masks (comparable across steps and models)."""
    if cells.shape[0] == 0:
        return float("nan")
    was_training = module.training
    module.eval()
    total, weight = 0.0, 0
    for start in range(0, cells.shape[0], batch_size):
        values = torch.from_numpy(cells[start : start + batch_size].toarray().astype(np.float32))
        padded = torch.nn.functional.pad(values, (0, 1))
        errors, count = _masked_errors(module, padded, _mask_generator(seed, 10_000 + start, 0), context, bf16)
        total += float(errors)
        weight += count
    module.train(was_training)
    return total / max(weight, 1)


def full_state_dict(network: torch.nn.Module, module: torch.nn.Module, *, fsdp: bool) -> dict[str, torch.Tensor]:
    """The complete model weights (gathered to rank 0 on the CPU under FSDP)."""
    if not fsdp:
        return module.state_dict()
    from torch.distributed.fsdp import FullStateDictConfig, StateDictType
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    with FSDP.state_dict_type(network, StateDictType.FULL_STATE_DICT,
                              FullStateDictConfig(offload_to_cpu=True, rank0_only=True)):
        return network.state_dict()


def pretrain(config: PretrainConfig) -> Path:
    """Run (or resume) masked-value pretraining; return the path of the final ``model.safetensors``.

    Launch under ``torchrun --nproc_per_node G -m sclong_tl.train ...`` for data-parallel training; a plain
    process trains alone on ``config.device``.
    """
    out = Path(config.out)
    context = init_distributed(config.device)
    if context.device.type == "cpu":
        keep_freed_memory()
    try:
        return _pretrain(config, out, context)
    finally:
        shutdown(context)


def _pretrain(config: PretrainConfig, out: Path, context: DistributedContext) -> Path:
    from tqdm.auto import tqdm

    if config.steps < 1 or config.batch_size < 1 or config.grad_accum < 1:
        raise ValueError("steps, batch_size and grad_accum must be positive")
    out.mkdir(parents=True, exist_ok=True)
    bf16 = context.device.type == "cuda" if config.bf16 is None else config.bf16
    torch.manual_seed(config.seed + context.rank)

    model = build_initial_model(config, out)
    module = model.module.to(context.device).train()
    network = wrap_model(module, context, fsdp=config.fsdp)
    optimizer = torch.optim.Adam(network.parameters(), lr=config.lr)
    stream = ShardStream(config.data, model.genes, seed=config.seed, validation_fraction=config.validation_fraction,
                         min_genes=config.min_genes, rank=context.rank, world_size=context.world_size,
                         thinning=config.thinning, thinning_min_keep=config.thinning_min_keep)
    # under FSDP every rank takes part in the (sharded) validation forward; under DDP only the main rank scores
    scorers = context.is_main or config.fsdp
    evaluated = network if config.fsdp else module
    validation = stream.validation_cells(config.validation_cells) if scorers else None

    step, position = 0, StreamPosition()
    checkpoints = out / "checkpoints"
    if config.resume and list_checkpoints(checkpoints):
        state = load_training_state(list_checkpoints(checkpoints)[-1])
        module.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = int(state["step"])
        position = StreamPosition(int(state["epoch"]), int(state["consumed"]))
        restore_rng_states(state["rng"])
        logger.info("resumed from step %d (epoch %d, %d cells into it)", step, position.epoch, position.consumed)

    metrics_path = out / "metrics.csv"
    if context.is_main:
        (out / "run.json").write_text(json.dumps({**asdict(config), "world_size": context.world_size,
                                                  "train_cells": stream.n_train_cells}, indent=2, default=str))
        if step == 0 or not metrics_path.exists():
            metrics_path.write_text("step,epoch,lr,loss,val_loss,cells_per_s,skipped_cells,elapsed_s\n")

    def batches():
        nonlocal position
        while True:
            yield from stream.iter_epoch(position, config.batch_size)
            position = StreamPosition(position.epoch + 1, 0)

    def checkpoint() -> None:
        weights = full_state_dict(network, module, fsdp=config.fsdp)
        if context.is_main:
            save_training_state(checkpoints, step, {
                "model": weights, "optimizer": optimizer.state_dict() if not config.fsdp else {}, "step": step,
                "epoch": position.epoch, "consumed": position.consumed, "rng": rng_states(),
            })

    stream_iter = batches()
    started = time.perf_counter()
    window_cells, window_start, losses = 0, time.perf_counter(), []
    bar = tqdm(total=config.steps, initial=step, disable=not context.is_main, desc="pretraining", unit="step")
    while step < config.steps:
        lr = _set_lr(optimizer, config, step)
        optimizer.zero_grad(set_to_none=True)
        step_loss = 0.0
        for micro in range(config.grad_accum):
            values, after = next(stream_iter)
            generator = _mask_generator(config.seed, context.rank, step * config.grad_accum + micro)
            with no_sync(network, skip=micro < config.grad_accum - 1):
                loss = _forward_loss(network, torch.from_numpy(values), generator, context, bf16)
                (loss / config.grad_accum).backward()
            step_loss += float(loss.detach()) / config.grad_accum
            window_cells += len(values)
            position = after
        if config.clip_grad_norm:
            clip = getattr(network, "clip_grad_norm_", None)
            if clip is not None:
                clip(config.clip_grad_norm)
            else:
                torch.nn.utils.clip_grad_norm_(network.parameters(), config.clip_grad_norm)
        optimizer.step()
        step += 1
        bar.update(1)
        step_loss = all_reduce_mean(step_loss, context)
        losses.append(step_loss)
        if not math.isfinite(step_loss):
            raise RuntimeError(f"loss became {step_loss} at step {step}; lower the learning rate")

        validate = step % config.validate_every == 0 or step == config.steps
        val_loss = float("nan")
        if validate and scorers:
            val_loss = validation_loss(evaluated, validation, seed=config.seed, context=context, bf16=bf16,
                                       batch_size=config.batch_size)
        if context.is_main and (step % config.log_every == 0 or validate):
            rate = window_cells * context.world_size / max(time.perf_counter() - window_start, 1e-9)
            mean_loss = float(np.mean(losses))
            with open(metrics_path, "a", newline="") as handle:
                csv.writer(handle).writerow([step, position.epoch, f"{lr:.3e}", f"{mean_loss:.5f}",
                                             "" if math.isnan(val_loss) else f"{val_loss:.5f}", f"{rate:.2f}",
                                             stream.skipped_cells, f"{time.perf_counter() - started:.1f}"])
            bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{lr:.2e}",
                            **({"val": f"{val_loss:.4f}"} if validate else {}))
            logger.info("step %d loss %.5f lr %.2e %.1f cells/s%s", step, mean_loss, lr, rate,
                        "" if math.isnan(val_loss) else f" val {val_loss:.5f}")
            window_cells, window_start, losses = 0, time.perf_counter(), []
        if step % config.checkpoint_every == 0 or step == config.steps:
            checkpoint()
    bar.close()

    final = out / "model.safetensors"
    weights = full_state_dict(network, module, fsdp=config.fsdp)
    if context.is_main:
        module.load_state_dict(weights)
        module.eval()
        model.name = config.name
        model.save(final, storage_dtype=config.storage_dtype, provenance={
            "trained_by": "sclong-tl pretrain", "steps": step, "batch_size": config.batch_size,
            "grad_accum": config.grad_accum, "world_size": context.world_size, "lr": config.lr,
            "data": [Path(path).name for path in config.data], "seed": config.seed,
        })
        logger.info("wrote %s", final)
    return final
