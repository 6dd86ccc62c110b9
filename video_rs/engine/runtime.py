"""How a model runs on this machine: device placement, input preparation, AMP, DDP, compile.

Clips travel as uint8 (4x less host->device traffic than float) and become float on the device:

    uint8 [B,C,T,H,W] (pinned) --non_blocking--> device [--RandAugment, training, AUG.ON_DEVICE]
        --normalize--> float --channels_last_3d (CUDA)--> model under autocast (bf16 on CUDA; fp32 on CPU)

Train and eval both go through `Runtime`, so the fast path is the only path.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from video_rs.data.transforms import ClipRandAugment, normalize_clips
from video_rs.engine.distributed import get_world_size


@dataclass
class Runtime:
    device: torch.device
    mean: tuple[float, ...]
    std: tuple[float, ...]
    amp_dtype: torch.dtype | None = None  # None: full fp32
    channels_last: bool = False
    train_augment: Callable[[torch.Tensor], torch.Tensor] | None = None  # on uint8 batches, training only

    @classmethod
    def from_cfg(cls, cfg, device: torch.device) -> "Runtime":
        cuda = device.type == "cuda"
        amp = None
        if cuda and cfg.TRAIN.MIXED_PRECISION:
            amp = torch.bfloat16 if cfg.TRAIN.AMP_DTYPE == "bfloat16" else torch.float16
        augment = None
        if cfg.AUG.ENABLE and cfg.AUG.ON_DEVICE and cfg.AUG.RANDAUG_NUM_OPS > 0:
            augment = ClipRandAugment(cfg.AUG.RANDAUG_NUM_OPS, cfg.AUG.RANDAUG_MAGNITUDE)
        return cls(device=device, mean=tuple(cfg.DATA.MEAN), std=tuple(cfg.DATA.STD), amp_dtype=amp,
                   channels_last=cuda and cfg.TRAIN.CHANNELS_LAST, train_augment=augment)

    def prepare(self, clips: torch.Tensor, *, train: bool = False) -> torch.Tensor:
        """uint8 clips from the loader -> (augmented, if `train`) normalised float model input on the device."""
        clips = clips.to(self.device, non_blocking=True)
        if train and self.train_augment is not None:
            clips = self.train_augment(clips)
        clips = normalize_clips(clips, self.mean, self.std)
        if self.channels_last:
            clips = clips.contiguous(memory_format=torch.channels_last_3d)
        return clips

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """Enabled only for fp16 (bf16 has fp32's range and needs no loss scaling)."""
        return torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)

    def place(self, model: nn.Module) -> nn.Module:
        """Move a bare model to the device in the memory format its inputs will have."""
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last_3d)
        return model


def wrap_for_training(model: nn.Module, cfg, device: torch.device) -> nn.Module:
    """DDP when several processes, then optional torch.compile; the bare `model` stays the one to save."""
    wrapped = model
    if get_world_size() > 1:
        ids = [device.index] if device.type == "cuda" else None
        wrapped = nn.parallel.DistributedDataParallel(model, device_ids=ids)  # buffers follow rank 0: identical EMA everywhere
    if cfg.TRAIN.COMPILE:
        wrapped = torch.compile(wrapped)
    return wrapped


def maybe_sync_batchnorm(model: nn.Module, cfg) -> nn.Module:
    """BN.NORM_TYPE sync_batchnorm: batch statistics over all ranks (small per-GPU batches)."""
    if cfg.BN.NORM_TYPE == "sync_batchnorm" and get_world_size() > 1:
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model
