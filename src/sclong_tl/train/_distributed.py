"""torch.distributed set-up for ``torchrun``: DDP (NCCL on CUDA, gloo on CPU), optional FSDP on CUDA."""

from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass(frozen=True)
class DistributedContext:
    """The place of the current process in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self) -> bool:
        """True when more than one process trains."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on the process that logs and writes files."""
        return self.rank == 0


def init_distributed(
    device: str = "auto", *, backend: str | None = None, timeout: datetime.timedelta | None = None
) -> DistributedContext:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1); pick this rank's device.

    Parameters
    ----------
    device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ...; on CUDA each rank takes the GPU of its ``LOCAL_RANK``.
    backend
        Process-group backend when this call creates the group (default NCCL on CUDA, gloo on CPU).
    timeout
        How long collective calls wait (default: torch's).

    Returns
    -------
    This process's :class:`DistributedContext`.
    """
    from sclong_tl._device import resolve_device

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    resolved = resolve_device(device)
    if resolved.type == "cuda":
        resolved = torch.device("cuda", local_rank if world_size > 1 else (resolved.index or 0))
        torch.cuda.set_device(resolved)
    if world_size <= 1:
        return DistributedContext(device=resolved)
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend=backend or ("nccl" if resolved.type == "cuda" else "gloo"), timeout=timeout)
    return DistributedContext(dist.get_rank(), dist.get_world_size(), local_rank, resolved)


def wrap_model(module: nn.Module, context: DistributedContext, *, fsdp: bool = False) -> nn.Module:
    """Wrap for data-parallel training: DDP, or FSDP sharding each Performer layer (CUDA only)."""
    if not context.enabled:
        return module
    if fsdp:
        if context.device.type != "cuda":
            raise RuntimeError("FSDP needs CUDA devices; use plain DDP on CPU")
        from performer_pytorch.performer_pytorch import PreLayerNorm
        from torch.distributed.fsdp import FullyShardedDataParallel
        from torch.distributed.fsdp.wrap import ModuleWrapPolicy

        return FullyShardedDataParallel(
            module, auto_wrap_policy=ModuleWrapPolicy({PreLayerNorm}), device_id=context.device, use_orig_params=True
        )
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [context.device.index] if context.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids)


def no_sync(wrapped: nn.Module, skip: bool) -> contextlib.AbstractContextManager:
    """Skip gradient all-reduce on accumulation micro-steps that are not the last one."""
    sync_off = getattr(wrapped, "no_sync", None)
    if skip and callable(sync_off):
        return sync_off()
    return contextlib.nullcontext()


def all_reduce_mean(value: float, context: DistributedContext) -> float:
    """Average a number over ranks."""
    if not context.enabled:
        return value
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64, device=context.device)
    dist.all_reduce(tensor)
    return float(tensor) / context.world_size


def shutdown(context: DistributedContext) -> None:
    """Leave the process group."""
    if context.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
