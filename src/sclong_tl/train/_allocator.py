"""Keep freed memory in the process between training steps (glibc ``malloc`` settings).

A CPU training step of the full-vocabulary blocks allocates and frees tensors of tens of megabytes hundreds of
times. glibc serves allocations above its mmap threshold with fresh ``mmap`` calls and returns freed heap to the
kernel, so every step pays for page faults on memory it had a moment before (measured on the default model: about
a quarter of a step in the kernel). Raising the mmap threshold to its maximum and keeping the freed top of the heap
makes later steps reuse the same pages. Memory use is unchanged in steady state (the step's peak is held anyway).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

logger = logging.getLogger(__name__)

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
# the largest mmap threshold glibc accepts on 64-bit systems (HEAP_MAX_SIZE / 2)
_MAX_MMAP_THRESHOLD = 32 << 20


def keep_freed_memory(*, top_pad: int = 256 << 20, trim_threshold: int = 2**31 - 1) -> bool:
    """Tune glibc's allocator for repeated large allocations; return whether it was applied.

    A no-op (False) where the C library is not glibc (macOS, Windows, musl).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    applied = all(
        mallopt(option, min(value, 2**31 - 1)) == 1
        for option, value in (
            (_M_MMAP_THRESHOLD, _MAX_MMAP_THRESHOLD),
            (_M_TRIM_THRESHOLD, trim_threshold),
            (_M_TOP_PAD, top_pad),
        )
    )
    logger.debug("glibc allocator tuned for training: %s", applied)
    return applied
