"""The pretraining loop (DESIGN.md section 2, item 9): masked-value reconstruction with Adam."""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._allocator import keep_freed_memory
from ._checkpoint import list_checkpoints, load_training_state, restore_rng_states, rng_states, save_training_state
from ._config import PretrainConfig
from ._data import ShardStream, StreamPosition
from ._distributed import DistributedContext, all_reduce_mean, init_distributed, no_sync, shutdown, wrap_model
from ._initial_model import build_initial_model
from ._masking import chosen_positions, mask_values
from ._schedule import warmup_cosine

logger = logging.getLogger(__name__)


def _mask_generator(seed: int, rank: int, micro_step: int) -> torch.Generator:
    """Masks depend only on (seed, rank, micro-step), so a resumed run draws exactly the same ones."""
    generator = torch.Generator()
    generator.manual_seed((seed * 1_000_003 + rank * 7_919 + micro_step) % (2**63))
    return generator


def _set_lr(optimizer: torch.optim.Optimizer, config: PretrainConfig, step: int) -> float:
    lr = config.lr * warmup_cosine(
        step, warmup_steps=config.warmup_steps, total_steps=config.steps, min_ratio=config.min_lr_ratio
    )
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


def _autocast(context: DistributedContext, enabled: bool) -> contextlib.AbstractContextManager:
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(context.device.type, dtype=torch.bfloat16)


def _masked_errors(
    network: torch.nn.Module, padded: torch.Tensor, generator: torch.Generator, context: DistributedContext, bf16: bool
) -> tuple[torch.Tensor, int]:
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


def _forward_loss(
    network: torch.nn.Module, values: torch.Tensor, generator: torch.Generator, context: DistributedContext, bf16: bool
) -> torch.Tensor:
    """Masked-reconstruction MSE of a micro-batch (0 when no gene was chosen)."""
    total, count = _masked_errors(network, torch.nn.functional.pad(values, (0, 1)), generator, context, bf16)
    return total / max(count, 1)


@torch.no_grad()
def validation_loss(
    module: torch.nn.Module, cells: Any, *, seed: int, context: DistributedContext, bf16: bool, batch_size: int
) -> float:
    """Masked-reconstruction MSE on held-out cells with fixed masks (comparable across steps and models).

    Parameters
    ----------
    module
        The scLong network (:class:`~sclong_tl.model.ScLong`, or a wrapper whose forward has its signature).
    cells
        Held-out cells as a scipy sparse ``(cells, genes)`` matrix of log-normalised values in vocabulary order.
    seed
        Seed of the masks; the same seed gives the same masks for every model.
    context
        The process's distributed context (device, rank).
    bf16
        Run under bf16 autocast.
    batch_size
        Cells per forward pass (the result does not depend on it).

    Returns
    -------
    The mean squared error over all masked genes of all cells (``nan`` when there are no cells).
    """
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

    with FSDP.state_dict_type(
        network, StateDictType.FULL_STATE_DICT, FullStateDictConfig(offload_to_cpu=True, rank0_only=True)
    ):
        return network.state_dict()


def pretrain(config: PretrainConfig) -> Path:
    """Run (or resume) masked-value pretraining.

    Launch under ``torchrun --nproc_per_node G -m sclong_tl.train ...`` for data-parallel training; a plain
    process trains alone on ``config.device``.

    Parameters
    ----------
    config
        The run's settings (see :class:`PretrainConfig`; the CLI flags of ``sclong-tl pretrain``).

    Returns
    -------
    The path of the final ``model.safetensors`` in ``config.out``. The folder also holds ``checkpoints/``,
    ``metrics.csv`` (training and validation loss per step), ``run.json`` and, with ``keep_best``,
    ``model-best.safetensors``.
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
    if config.steps < 1 or config.batch_size < 1 or config.grad_accum < 1:
        raise ValueError("steps, batch_size and grad_accum must be positive")
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed + context.rank)
    run = _Run(config, out, context)
    run.resume_if_asked()
    run.write_run_record()
    run.train()
    return run.save_final()


class _Run:
    """One pretraining run's state: model, optimiser, data stream, position, and the metrics log."""

    def __init__(self, config: PretrainConfig, out: Path, context: DistributedContext) -> None:
        self.config, self.out, self.context = config, out, context
        self.bf16 = context.device.type == "cuda" if config.bf16 is None else config.bf16
        self.model = build_initial_model(config, out)
        self.module = self.model.module.to(context.device).train()
        self.network = wrap_model(self.module, context, fsdp=config.fsdp)
        # foreach: one multi-tensor update instead of a loop over the parameters (the default on CUDA only)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=config.lr, foreach=True)
        self.stream = ShardStream(
            config.data,
            self.model.genes,
            seed=config.seed,
            validation_fraction=config.validation_fraction,
            min_genes=config.min_genes,
            rank=context.rank,
            world_size=context.world_size,
            thinning=config.thinning,
            thinning_min_keep=config.thinning_min_keep,
            pooling=config.pooling,
            pooling_max_cells=config.pooling_max_cells,
            gene_subset=config.gene_subset,
            gene_subset_min_keep=config.gene_subset_min_keep,
        )
        # under FSDP every rank takes part in the (sharded) validation forward; under DDP only the main rank scores
        self.scorers = context.is_main or config.fsdp
        self.evaluated = self.network if config.fsdp else self.module
        self.validation = self.stream.validation_cells(config.validation_cells) if self.scorers else None
        self.step, self.position = 0, StreamPosition()
        self.checkpoints = out / "checkpoints"
        self.metrics_path = out / "metrics.csv"
        self.started = time.perf_counter()
        self.best_val_loss = float("inf")
        self.window_cells, self.window_start = 0, time.perf_counter()
        self.losses: list[float] = []

    def resume_if_asked(self) -> None:
        """Continue from the newest checkpoint (weights, optimiser, stream position, RNG states)."""
        if not (self.config.resume and list_checkpoints(self.checkpoints)):
            return
        state = load_training_state(list_checkpoints(self.checkpoints)[-1])
        self.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.position = StreamPosition(int(state["epoch"]), int(state["consumed"]))
        restore_rng_states(state["rng"])
        logger.info(
            "resumed from step %d (epoch %d, %d cells into it)", self.step, self.position.epoch, self.position.consumed
        )

    def write_run_record(self) -> None:
        if not self.context.is_main:
            return
        record = {
            **asdict(self.config),
            "world_size": self.context.world_size,
            "train_cells": self.stream.n_train_cells,
        }
        (self.out / "run.json").write_text(json.dumps(record, indent=2, default=str))
        if self.step == 0 or not self.metrics_path.exists():
            self.metrics_path.write_text("step,epoch,lr,loss,val_loss,cells_per_s,skipped_cells,elapsed_s\n")

    def _batches(self) -> Iterator[np.ndarray]:
        while True:
            for values, after in self.stream.iter_epoch(self.position, self.config.batch_size):
                self.position = after  # a checkpoint after this batch's step resumes after it
                yield values
            self.position = StreamPosition(self.position.epoch + 1, 0)

    def train(self) -> None:
        from tqdm.auto import tqdm

        config = self.config
        batches = self._batches()
        bar = tqdm(
            total=config.steps, initial=self.step, disable=not self.context.is_main, desc="pretraining", unit="step"
        )
        while self.step < config.steps:
            lr = _set_lr(self.optimizer, config, self.step)
            loss = self._optimizer_step(batches)
            self.step += 1
            bar.update(1)
            self.losses.append(loss)
            validate = self.step % config.validate_every == 0 or self.step == config.steps
            val_loss = self._validate() if validate else float("nan")
            if validate and config.keep_best:
                self._save_if_best(val_loss)
            if self.step % config.log_every == 0 or validate:
                self._log(lr, val_loss, bar)
            if self.step % config.checkpoint_every == 0 or self.step == config.steps:
                self._checkpoint()
        bar.close()

    def _optimizer_step(self, batches: Iterator[np.ndarray]) -> float:
        """One optimiser step over ``grad_accum`` micro-batches; the step's mean loss over all ranks."""
        config, network = self.config, self.network
        self.optimizer.zero_grad(set_to_none=True)
        step_loss = 0.0
        for micro in range(config.grad_accum):
            values = next(batches)
            generator = _mask_generator(config.seed, self.context.rank, self.step * config.grad_accum + micro)
            with no_sync(network, skip=micro < config.grad_accum - 1):
                loss = _forward_loss(network, torch.from_numpy(values), generator, self.context, self.bf16)
                (loss / config.grad_accum).backward()
            step_loss += float(loss.detach()) / config.grad_accum
            self.window_cells += len(values)
        if config.clip_grad_norm:
            clip = getattr(network, "clip_grad_norm_", None)
            if clip is not None:
                clip(config.clip_grad_norm)
            else:
                torch.nn.utils.clip_grad_norm_(network.parameters(), config.clip_grad_norm)
        self.optimizer.step()
        step_loss = all_reduce_mean(step_loss, self.context)
        if not math.isfinite(step_loss):
            raise RuntimeError(f"loss became {step_loss} at step {self.step + 1}; lower the learning rate")
        return step_loss

    def _validate(self) -> float:
        if not self.scorers:
            return float("nan")
        return validation_loss(
            self.evaluated,
            self.validation,
            seed=self.config.seed,
            context=self.context,
            bf16=self.bf16,
            batch_size=self.config.batch_size,
        )

    def _log(self, lr: float, val_loss: float, bar: Any) -> None:
        if not self.context.is_main:
            return
        rate = self.window_cells * self.context.world_size / max(time.perf_counter() - self.window_start, 1e-9)
        mean_loss = float(np.mean(self.losses))
        with open(self.metrics_path, "a", newline="") as handle:
            csv.writer(handle).writerow(
                [
                    self.step,
                    self.position.epoch,
                    f"{lr:.3e}",
                    f"{mean_loss:.5f}",
                    "" if math.isnan(val_loss) else f"{val_loss:.5f}",
                    f"{rate:.2f}",
                    self.stream.skipped_cells,
                    f"{time.perf_counter() - self.started:.1f}",
                ]
            )
        bar.set_postfix(
            loss=f"{mean_loss:.4f}", lr=f"{lr:.2e}", **({} if math.isnan(val_loss) else {"val": f"{val_loss:.4f}"})
        )
        logger.info(
            "step %d loss %.5f lr %.2e %.1f cells/s%s",
            self.step,
            mean_loss,
            lr,
            rate,
            "" if math.isnan(val_loss) else f" val {val_loss:.5f}",
        )
        self.window_cells, self.window_start, self.losses = 0, time.perf_counter(), []

    def _checkpoint(self) -> None:
        weights = full_state_dict(self.network, self.module, fsdp=self.config.fsdp)
        if self.context.is_main:
            save_training_state(
                self.checkpoints,
                self.step,
                {
                    "model": weights,
                    "optimizer": self.optimizer.state_dict() if not self.config.fsdp else {},
                    "step": self.step,
                    "epoch": self.position.epoch,
                    "consumed": self.position.consumed,
                    "rng": rng_states(),
                },
            )

    def _save_if_best(self, val_loss: float) -> None:
        """Keep the weights of the best validation loss so far as ``model-best.safetensors`` (not under FSDP)."""
        if self.config.fsdp or not self.context.is_main or not val_loss < self.best_val_loss:
            return
        self.best_val_loss = val_loss
        self._write_model(self.out / "model-best.safetensors", val_loss=val_loss)

    def _write_model(self, path: Path, **extra: Any) -> None:
        """Save the main rank's model (its module holds the full weights) with the run's provenance."""
        config = self.config
        self.model.name = config.name
        self.model.save(
            path,
            storage_dtype=config.storage_dtype,
            provenance={
                "trained_by": "sclong-tl pretrain",
                "steps": self.step,
                "batch_size": config.batch_size,
                "grad_accum": config.grad_accum,
                "world_size": self.context.world_size,
                "lr": config.lr,
                "data": [Path(p).name for p in config.data],
                "seed": config.seed,
                "thinning": config.thinning,
                "pooling": config.pooling,
                "gene_subset": config.gene_subset,
                "gene_init": config.gene_init,
                **extra,
            },
        )
        logger.info("wrote %s (step %d)", path, self.step)

    def save_final(self) -> Path:
        final = self.out / "model.safetensors"
        weights = full_state_dict(self.network, self.module, fsdp=self.config.fsdp)
        if self.context.is_main:
            self.module.load_state_dict(weights)
            self.module.eval()
            self._write_model(final)
        return final
