"""Exponential moving average of the weights AND BatchNorm buffers (the RS recipe evaluates it).

Averaging the BN running statistics too is what Model Garden does; with BN momentum 1.0 (Keras
momentum 0) the EMA is then the only thing smoothing those statistics.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


class ModelEma:
    """`ema = d * ema + (1 - d) * weights` after each optimiser step.

    With `dynamic_decay`, d = min(decay, (1 + n) / (10 + n)) for the n-th update (TensorFlow's
    `num_updates` rule), so a short run does not average towards its random initialisation.
    """

    def __init__(self, model: nn.Module, *, decay: float, dynamic_decay: bool = True):
        self.module = copy.deepcopy(model).eval()
        for param in self.module.parameters():
            param.requires_grad_(False)
        self.decay = decay
        self.dynamic_decay = dynamic_decay
        self.num_updates = 0

    def current_decay(self) -> float:
        if self.dynamic_decay:
            return min(self.decay, (1.0 + self.num_updates) / (10.0 + self.num_updates))
        return self.decay

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        decay = self.current_decay()
        model_state = model.state_dict()
        for name, ema_value in self.module.state_dict().items():
            value = model_state[name].detach()
            if ema_value.dtype.is_floating_point:
                ema_value.lerp_(value.to(ema_value.dtype), 1.0 - decay)
            else:
                ema_value.copy_(value)  # counters such as num_batches_tracked
        self.num_updates += 1

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "num_updates": self.num_updates}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.num_updates = int(state["num_updates"])
