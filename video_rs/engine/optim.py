"""SGD with the RS parameter groups, and the per-iteration learning-rate schedule.

Parameter groups: weight decay applies to conv and linear kernels only; BatchNorm parameters and
every other bias get `BN.WEIGHT_DECAY` (0 in the RS recipe). The self-gating kernels and biases get none
at all, as in Model Garden, whose self-gating conv is built without the regulariser the other convs get.
The classifier head may train at `TRAIN.HEAD_LR_MULT` times the schedule's rate (fine-tuning). Frozen parameters
(`requires_grad=False`) are left out, so a linear probe's optimizer only holds the head.

The schedule is a pure function of the iteration, so resuming needs only the iteration count:

    lr
    ^        ___
    |      /     ``--.__          cosine: linear warmup to BASE_LR, then half a cosine to
    |    /               ``-._       COSINE_END_LR at the last iteration of MAX_EPOCH
    |  /                      `-.
    +--------------------------------> iteration
      warmup
"""
from __future__ import annotations

import math

import torch
from torch import nn

from video_rs.models.blocks import SelfGating3D

_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def build_param_groups(model: nn.Module, *, weight_decay: float, norm_weight_decay: float,
                       head_lr_mult: float = 1.0, head_prefix: str = "head.") -> list[dict]:
    """Split trainable parameters into (backbone|head) x (decay|no-decay|self-gating) groups with `lr_mult`."""
    norm_params = {id(p) for m in model.modules() if isinstance(m, _NORM_TYPES) for p in m.parameters(recurse=False)}
    gating_params = {id(p) for m in model.modules() if isinstance(m, SelfGating3D) for p in m.parameters()}
    decay_of = {"decay": weight_decay, "no_decay": norm_weight_decay, "self_gating": 0.0}
    groups: dict[tuple[bool, str], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        in_head = name.startswith(head_prefix) or f".{head_prefix}" in name  # DDP/compile wrappers prefix names
        if id(param) in gating_params:
            kind = "self_gating"
        elif id(param) in norm_params or param.ndim <= 1:
            kind = "no_decay"
        else:
            kind = "decay"
        groups.setdefault((in_head, kind), []).append(param)
    return [
        {"params": params, "weight_decay": decay_of[kind], "lr_mult": head_lr_mult if in_head else 1.0}
        for (in_head, kind), params in sorted(groups.items())
    ]


def build_optimizer(model: nn.Module, cfg) -> torch.optim.Optimizer:
    """SGD (Nesterov optional; the RS recipe) or AdamW over `build_param_groups`; the schedule sets each group's lr."""
    groups = build_param_groups(
        model,
        weight_decay=cfg.SOLVER.WEIGHT_DECAY,
        norm_weight_decay=cfg.BN.WEIGHT_DECAY,
        head_lr_mult=cfg.TRAIN.HEAD_LR_MULT,
    )
    if not groups:
        raise ValueError("the model has no trainable parameters (is everything frozen?)")
    if cfg.SOLVER.OPTIMIZING_METHOD == "adamw":  # small, short runs (the CPU demo); weight decay stays per group
        return torch.optim.AdamW(groups, lr=cfg.SOLVER.BASE_LR)
    momentum = cfg.SOLVER.MOMENTUM
    return torch.optim.SGD(
        groups, lr=cfg.SOLVER.BASE_LR, momentum=momentum, nesterov=cfg.SOLVER.NESTEROV and momentum > 0
    )


def lr_at(step: float, *, total_steps: int, warmup_steps: float, base_lr: float, policy: str,
          warmup_start_lr: float = 0.0, end_lr: float = 0.0, steps: tuple = (0.0,), lrs: tuple = (1.0,)) -> float:
    """Learning rate at iteration `step` (0-based) of `total_steps`.

    Warmup rises linearly from `warmup_start_lr` to the value the policy has at the end of
    warmup (PySlowFast's rule), so the curve is continuous whatever the policy.
    """
    def policy_lr(s: float) -> float:
        frac = min(max(s / max(total_steps, 1), 0.0), 1.0)
        if policy == "cosine":
            return end_lr + (base_lr - end_lr) * 0.5 * (1.0 + math.cos(math.pi * frac))
        if policy == "steps_with_relative_lrs":
            index = max(i for i, start in enumerate(steps) if start <= frac)
            return base_lr * lrs[index]
        raise ValueError(f"unknown LR policy {policy!r}")

    if step < warmup_steps:
        target = policy_lr(warmup_steps)
        return warmup_start_lr + (target - warmup_start_lr) * step / warmup_steps
    return policy_lr(step)


class LRSchedule:
    """Per-iteration schedule from the SOLVER keys; `state_dict` is just the iteration count."""

    def __init__(self, optimizer: torch.optim.Optimizer, cfg, steps_per_epoch: int):
        self.optimizer = optimizer
        self.total_steps = cfg.SOLVER.MAX_EPOCH * steps_per_epoch
        self.kwargs = dict(
            total_steps=self.total_steps,
            warmup_steps=cfg.SOLVER.WARMUP_EPOCHS * steps_per_epoch,
            base_lr=cfg.SOLVER.BASE_LR,
            policy=cfg.SOLVER.LR_POLICY,
            warmup_start_lr=cfg.SOLVER.WARMUP_START_LR,
            end_lr=cfg.SOLVER.COSINE_END_LR,
            steps=tuple(cfg.SOLVER.STEPS),
            lrs=tuple(cfg.SOLVER.LRS),
        )
        self.step_count = 0

    def lr(self) -> float:
        return lr_at(self.step_count, **self.kwargs)

    def apply(self) -> float:
        """Set every group's lr for the current iteration (call before optimizer.step)."""
        lr = self.lr()
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_mult", 1.0)
        return lr

    def step(self) -> None:
        self.step_count += 1

    def state_dict(self) -> dict:
        return {"step_count": self.step_count}

    def load_state_dict(self, state: dict) -> None:
        self.step_count = int(state["step_count"])
