"""Per-step learning-rate schedule of LaBraM's recipe: linear warm-up, then cosine decay.

``lr(s) = base · s / W`` for ``s < W`` warm-up steps, then
``min + (base − min) · ½ (1 + cos(π (s − W) / (S − W)))`` up to the last step ``S − 1``
(the released code's ``cosine_scheduler`` with ``start_warmup_value = 0``).
"""

from __future__ import annotations

import math


def lr_at(step: int, *, base_lr: float, min_lr: float, warmup_steps: int, total_steps: int) -> float:
    """Learning rate of optimisation step ``step`` (0-based) of ``total_steps``."""
    if step < warmup_steps:
        return base_lr * step / max(warmup_steps, 1)
    span = max(total_steps - warmup_steps, 1)
    t = min(step - warmup_steps, span) / span
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * t))


def set_lr(optimizer, lr: float) -> None:
    """Set every parameter group's lr to ``lr × group['lr_scale']`` (layer-wise decay)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
