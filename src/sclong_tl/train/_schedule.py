"""Learning-rate schedule: linear warm-up, then cosine decay, stepped once per optimiser step."""

from __future__ import annotations

import math


def warmup_cosine(step: int, *, warmup_steps: int, total_steps: int, min_ratio: float = 0.02) -> float:
    """Multiplier of the base learning rate at optimiser step ``step`` (0-based).

    The first step already trains at ``1 / warmup_steps`` of the rate (unlike the reference, whose first epoch
    runs at the minimum rate); after the warm-up the rate follows a half cosine down to ``min_ratio``.
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
