"""CPU facts and thread policy: instruction-set flags, the CPU budget of this process, torch's thread count.

Thread policy (``sclong_tl.settings.n_threads``), applied while a tool of this package runs torch work and undone
afterwards, so that a user's own ``torch.set_num_threads`` choice is what torch has again once the call returns:

- ``None`` (default, automatic): torch's current thread count, lowered to the CPUs this process may use — the
  smaller of its CPU affinity (``os.sched_getaffinity``) and its cgroup CPU quota (cgroup v2 ``cpu.max``, cgroup v1
  ``cpu.cfs_quota_us / cpu.cfs_period_us``, over the process's cgroup and its ancestors). The count is never
  raised: an explicit ``torch.set_num_threads(k)`` below the budget is kept as is.
- an integer ``k >= 1``: exactly ``k`` threads during the call.

OpenMP threads that wait for work spin by default, which costs little on idle cores but, when several processes
share the cores, burns the time slices the other processes need. ``OMP_WAIT_POLICY=PASSIVE`` (set before torch is
imported) makes them sleep instead; the package leaves the choice to the user, because on a 2-core Intel Xeon it
cost a single process 1.7x of its embedding speed with the default model (docs: FAQ, "CPU threads").
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Callable, Iterator
from functools import cache, wraps
from pathlib import Path
from typing import ParamSpec, TypeVar

logger = logging.getLogger(__name__)

#: flags of /proc/cpuinfo that give native bfloat16 matrix products on x86 (AVX512-BF16 dot products, AMX tiles)
BF16_FLAGS = ("amx_bf16", "avx512_bf16")
#: flags reported by :func:`cpu_summary`
REPORTED_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_fp16",
)


def read_cpu_flags(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> frozenset[str]:
    """The instruction-set flags of the first CPU listed in ``cpuinfo`` (empty when it cannot be read).

    Parameters
    ----------
    cpuinfo
        A file in the format of Linux's ``/proc/cpuinfo`` (``flags`` lines on x86, ``Features`` on ARM).

    Returns
    -------
    The flags, lower case.
    """
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return frozenset(value.lower().split())
    return frozenset()


@cache
def cpu_flags() -> frozenset[str]:
    """CPU flags of this machine (:func:`read_cpu_flags` of ``/proc/cpuinfo``, read once)."""
    return read_cpu_flags()


def cpu_model_name(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> str:
    """The ``model name`` of the first CPU in ``cpuinfo`` (``"unknown"`` when absent)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return "unknown"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "model name":
            return value.strip()
    return "unknown"


def has_native_bf16(flags: frozenset[str] | None = None) -> bool:
    """Whether the CPU multiplies bfloat16 matrices natively (AMX-BF16 or AVX512-BF16)."""
    flags = cpu_flags() if flags is None else flags
    return any(flag in flags for flag in BF16_FLAGS)


def cpu_summary() -> str:
    """One line: CPU model, the SIMD / matrix flags of :data:`REPORTED_FLAGS` it has, and the CPU budget."""
    flags = cpu_flags()
    present = [flag for flag in REPORTED_FLAGS if flag in flags]
    return (
        f"{cpu_model_name()}; flags: {' '.join(present) or 'none of ' + ', '.join(REPORTED_FLAGS)}; "
        f"affinity {len(affinity_cpus())} CPUs, cgroup quota {format_quota(cgroup_cpu_quota())}, "
        f"budget {cpu_budget()} threads"
    )


def format_quota(quota: float | None) -> str:
    """``"none"`` or the quota in CPUs."""
    return "none" if quota is None else f"{quota:g} CPUs"


# ------------------------------------------------------------------------------------------- CPU budget
def affinity_cpus() -> set[int]:
    """CPUs this process may run on (``os.sched_getaffinity``; all CPUs where that is unavailable)."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return set(range(os.cpu_count() or 1))


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _v2_quota(directory: Path) -> float | None:
    """``cpu.max`` of one cgroup v2 directory: ``"max 100000"`` (no limit) or ``"<quota> <period>"``."""
    text = _read(directory / "cpu.max")
    if not text:
        return None
    parts = text.split()
    if parts[0] == "max":
        return None
    try:
        quota = int(parts[0])
        period = int(parts[1]) if len(parts) > 1 else 100_000
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _v1_quota(directory: Path) -> float | None:
    """``cpu.cfs_quota_us / cpu.cfs_period_us`` of one cgroup v1 directory (quota -1: no limit)."""
    quota_text, period_text = _read(directory / "cpu.cfs_quota_us"), _read(directory / "cpu.cfs_period_us")
    if quota_text is None or period_text is None:
        return None
    try:
        quota, period = int(quota_text), int(period_text)
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _ancestors(root: Path, relative: str) -> list[Path]:
    """``root/relative`` and its parents up to ``root`` (the limits of every ancestor apply)."""
    parts = [part for part in relative.strip("/").split("/") if part and part not in (".", "..")]
    return [root.joinpath(*parts[:depth]) for depth in range(len(parts), -1, -1)]


def cgroup_cpu_quota(
    *, proc_cgroup: str | os.PathLike = "/proc/self/cgroup", root: str | os.PathLike = "/sys/fs/cgroup"
) -> float | None:
    """The CPU quota of this process's cgroup in CPUs (e.g. 1.5), or None when there is none.

    The smallest quota over the process's cgroup and its ancestors, for cgroup v2 (``cpu.max``) and v1 (the ``cpu``
    controller's ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``). Inside a container the cgroup directory is
    usually the mount root itself, which is also read.

    Parameters
    ----------
    proc_cgroup
        The process's cgroup membership file (lines ``hierarchy:controllers:path``).
    root
        Where the cgroup file systems are mounted.

    Returns
    -------
    The quota in CPUs, or None for no quota (or nothing readable).
    """
    root = Path(root)
    membership = _read(Path(proc_cgroup)) or ""
    quotas: list[float] = []
    v2_paths, v1_paths = [], []
    for line in membership.splitlines():
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        _, controllers, path = fields
        if controllers == "":
            v2_paths.append(path)
        elif "cpu" in controllers.split(","):
            v1_paths.append((controllers, path))
    directories: list[tuple[Path, bool]] = []
    for path in v2_paths or (["/"] if (root / "cpu.max").exists() else []):
        directories += [(directory, True) for directory in _ancestors(root, path)]
    for controllers, path in v1_paths or [("cpu", "/")]:
        for mount in dict.fromkeys((root / controllers, root / "cpu", root / "cpu,cpuacct")):
            if mount.is_dir():
                # ancestors end at the mount itself: a container without a cgroup namespace sees its own cgroup
                # as the mount root while /proc/self/cgroup names the host path
                directories += [(directory, False) for directory in _ancestors(mount, path)]
                break
    for directory, is_v2 in directories:
        quota = _v2_quota(directory) if is_v2 else _v1_quota(directory)
        if quota is not None:
            quotas.append(quota)
    return min(quotas) if quotas else None


def thread_budget(affinity: int, quota: float | None) -> int:
    """Threads that fit the CPU budget: the affinity count, lowered to the quota rounded down, at least 1."""
    budget = max(1, affinity)
    if quota is not None:
        budget = min(budget, max(1, math.floor(quota + 1e-9)))
    return budget


def cpu_budget() -> int:
    """Threads this process can keep busy: :func:`thread_budget` of its affinity and cgroup quota."""
    return thread_budget(len(affinity_cpus()), cgroup_cpu_quota())


# ------------------------------------------------------------------------------------------ thread policy
def resolve_threads(current: int, setting: int | None, budget: int) -> int:
    """Threads for a call: ``setting`` when given, else ``current`` lowered to ``budget`` (never raised)."""
    if setting is not None:
        return setting
    return max(1, min(current, budget))


@contextlib.contextmanager
def torch_threads() -> Iterator[int]:
    """Run torch work with the thread count of the policy (module docstring); restore the previous count after.

    Yields
    ------
    The thread count in use.
    """
    import torch

    from ._settings import settings

    previous = torch.get_num_threads()
    wanted = resolve_threads(previous, settings.n_threads, cpu_budget() if settings.n_threads is None else 0)
    if wanted == previous:
        yield previous
        return
    logger.debug("torch threads %d -> %d for this call", previous, wanted)
    torch.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        torch.set_num_threads(previous)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def with_torch_threads(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorate a tool so that its whole run uses :func:`torch_threads`."""

    @wraps(function)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with torch_threads():
            return function(*args, **kwargs)

    return wrapper


_warned_bf16 = False


def warn_if_bf16_is_emulated() -> None:
    """Log a warning (once per process) when bfloat16 on this CPU lacks native instructions or oneDNN."""
    global _warned_bf16
    if _warned_bf16:
        return
    import torch

    reason = None
    if not torch.backends.mkldnn.is_available():
        reason = "this torch build has no oneDNN (mkldnn), so bfloat16 matrix products use slow reference kernels"
    elif not has_native_bf16() and cpu_flags():
        reason = (
            "this CPU has neither AMX-BF16 nor AVX512-BF16, so bfloat16 matrix products are emulated and "
            "are usually slower than float32"
        )
    if reason is not None:
        logger.warning("bfloat16 on CPU: %s; consider dtype='float32'", reason)
    _warned_bf16 = True
