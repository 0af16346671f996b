"""Run under ``torchrun --nproc_per_node 2``: tiny pretraining that records, per rank and step, gradients and weights.

Each rank records, for every optimizer step of :func:`sclong_tl.train.pretrain`: its local gradient (summed over
micro-batches from tensor hooks, before any all-reduce), the gradient the optimizer uses, and the weights after
the step; it saves them to ``<out>/rank<r>.pt`` (tensors only; read back with ``weights_only=True``).
Usage: python -m torch.distributed.run --standalone --nproc_per_node 2 _ddp_sync_worker.py OUT SHARD... -- GENES
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from sclong_tl.train import PretrainConfig, pretrain


def _accumulator(buffer: torch.Tensor):
    def hook(grad: torch.Tensor) -> None:  # returns None: the gradient itself is left unchanged
        buffer.add_(grad)

    return hook


def main() -> None:
    out, rest = Path(sys.argv[1]), sys.argv[2:]
    shards, genes = rest[: rest.index("--")], rest[rest.index("--") + 1]
    records: dict[str, list[torch.Tensor]] = {"local": [], "used": [], "weights": []}
    local: list[torch.Tensor] = []
    original_init, original_step = torch.optim.Adam.__init__, torch.optim.Adam.step

    def init(self, params, *args, **kwargs):
        original_init(self, params, *args, **kwargs)
        for parameter in (p for group in self.param_groups for p in group["params"]):
            buffer = torch.zeros_like(parameter)
            local.append(buffer)
            parameter.register_hook(_accumulator(buffer))  # the local gradient, before any all-reduce

    def step(self, *args, **kwargs):
        parameters = [p for group in self.param_groups for p in group["params"]]
        records["local"].append(torch.cat([g.flatten() for g in local]).clone())
        records["used"].append(
            torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in parameters]).clone()
        )
        result = original_step(self, *args, **kwargs)
        records["weights"].append(torch.cat([p.detach().flatten() for p in parameters]).clone())
        for buffer in local:
            buffer.zero_()
        return result

    torch.optim.Adam.__init__, torch.optim.Adam.step = init, step
    config = PretrainConfig(
        data=shards,
        out=str(out / "run"),
        config="tiny",
        genes=genes,
        batch_size=4,
        lr=3e-3,
        warmup_steps=1,
        min_genes=50,
        validation_cells=8,
        seed=5,
        steps=3,
        grad_accum=2,
        clip_grad_norm=0.0,
        validate_every=100,
        checkpoint_every=100,
        device="cpu",
    )
    pretrain(config)
    rank = int(os.environ["RANK"])
    torch.save({key: torch.stack(values) for key, values in records.items()}, out / f"rank{rank}.pt")


if __name__ == "__main__":
    main()
