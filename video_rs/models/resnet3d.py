"""The 3D ResNet(-RS) family: `ResNet3D`, its variant table, registered entry points, `build_model(cfg)`.

One file per model family, as timm does: the network is configured by keyword arguments; the
variant table names the architectures of the 3D ResNet-RS architecture specification (its depth ->
blocks table is `video_rs.config.depths.STAGE_BLOCKS`);
`build_model` is a thin map from cfg keys to those arguments. No module here reads the cfg.

Module names (stable; converters and checkpoints depend on them)::

    stem.conv1 / stem.conv2 / stem.conv3   ConvNormAct3d (.conv, .bn); v0 has conv1 only
    stem.pool                              MaxPool3d, or ConvNormAct3d for STEM_POOL "conv"
    stages.{0..3}                          res2..res5 (timm layer1..layer4)
    stages.i.blocks.j                      Bottleneck3D: conv_temporal, conv_spatial, conv_expand
                                           (timm conv1/bn1, conv2/bn2, conv3/bn3), self_gating.fc,
                                           se.fc1 / se.fc2 (timm se.fc1 / se.fc2), shortcut.conv /
                                           shortcut.bn (timm downsample.1 / downsample.2)
    head.dropout, head.fc                  classifier (timm fc)
"""
from __future__ import annotations

from functools import partial
from typing import Callable, Sequence

import torch
from torch import nn

from video_rs.config.depths import STAGE_BLOCKS
from video_rs.models.blocks import PADDING_MODES, ActLayer, Bottleneck3D, ClassifierHead3D, NormLayer, Stem3D

STAGE_WIDTHS = (64, 128, 256, 512)  # bottleneck width f per stage; outputs are 4f
STEM_WIDTH = 64
SELF_GATING_MODES = ("last", "all", "none")


def stage_drop_path_rates(init_rate: float, num_stages: int = 4) -> list[float]:
    """Stochastic-depth rate of each stage (res2 = 0): init_rate * (i + 2) / 5, as Model Garden does."""
    return [init_rate * (i + 2) / 5 for i in range(num_stages)]


def per_block_kernels(entry: int | Sequence[int], num_blocks: int) -> list[int]:
    """A stage's temporal kernels: one int for every block, or a list with one int per block."""
    if isinstance(entry, int):
        return [entry] * num_blocks
    kernels = list(entry)
    if len(kernels) != num_blocks:
        raise ValueError(f"{len(kernels)} temporal kernels given for a stage of {num_blocks} blocks")
    return kernels


class ResStage3D(nn.Module):
    """One stage (res2..res5): `blocks`, the first of which carries the strides and the projection.

    ::

        x (N,Cin,T,H,W) ── blocks[0] (strides ts, s) ── blocks[1:] ─> (N,4f,T/ts,H/s,W/s)
    """

    def __init__(
        self, in_channels: int, width: int, *, temporal_kernels: Sequence[int], temporal_stride: int,
        spatial_stride: int, self_gating: str, block_kwargs: dict,
    ) -> None:
        super().__init__()
        num_blocks = len(temporal_kernels)
        blocks = []
        for j, kernel in enumerate(temporal_kernels):
            first, last = j == 0, j == num_blocks - 1
            blocks.append(Bottleneck3D(
                in_channels if first else 4 * width, width, temporal_kernel=kernel,
                temporal_stride=temporal_stride if first else 1, spatial_stride=spatial_stride if first else 1,
                self_gating=self_gating == "all" or (self_gating == "last" and last),
                self_gating_after_se=self_gating == "all", **block_kwargs,
            ))
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class ResNet3D(nn.Module):
    """3D ResNet / ResNet-RS video classifier; defaults are the official Kinetics-400 R3D-RS-50 layout.

    ::

        clip (N,3,T,H,W)                                       e.g. 32x224x224 (st=2, pool ts=1)
          ── stem ─────────────────> (N,64,T/st/pt,H/4,W/4)     16x56x56
          ── stages.0 (res2) ──────> (N,256, ...)               16x56x56
          ── stages.1 (res3) ──────> (N,512, .../2)             16x28x28
          ── stages.2 (res4) ──────> (N,1024, .../4)            16x14x14
          ── stages.3 (res5) ──────> (N,2048, .../8)            16x7x7   = forward_features
          ── head (pool, dropout, fc) ─> logits (N,num_classes)

    Channel counts scale with `width_multiplier` (the stem too with `scale_stem_width`).
    BatchNorm is `nn.BatchNorm3d(eps=bn_eps, momentum=bn_momentum)`; for synchronised BN the
    trainer converts the built model with `torch.nn.SyncBatchNorm.convert_sync_batchnorm`.
    """

    def __init__(
        self, *, depth: int = 50, num_classes: int = 400, in_channels: int = 3, width_multiplier: float = 1.0,
        scale_stem_width: bool = False, stem: str = "v1", stem_temporal_kernel: int = 5,
        stem_temporal_stride: int = 2, stem_pool: str = "max", stem_pool_temporal_stride: int = 1,
        shortcut: str = "avgpool", se_ratio: float = 0.25, self_gating: str = "last",
        temporal_kernels: Sequence[int | Sequence[int]] = (1, 1, 3, 3), temporal_strides: Sequence[int] = (1, 1, 1, 1),
        spatial_strides: Sequence[int] = (1, 2, 2, 2), drop_path_rate: float = 0.0, dropout_rate: float = 0.0,
        bn_eps: float = 1e-5, bn_momentum: float = 0.1, zero_init_last: bool = False, padding: str = "symmetric",
        act_layer: ActLayer = nn.ReLU,
    ) -> None:
        super().__init__()
        if depth not in STAGE_BLOCKS:
            raise ValueError(f"depth must be one of {sorted(STAGE_BLOCKS)}, got {depth}")
        if self_gating not in SELF_GATING_MODES:
            raise ValueError(f"self_gating must be one of {SELF_GATING_MODES}, got {self_gating!r}")
        if padding not in PADDING_MODES:
            raise ValueError(f"padding must be one of {PADDING_MODES}, got {padding!r}")
        for name, values in (("temporal_kernels", temporal_kernels), ("temporal_strides", temporal_strides),
                             ("spatial_strides", spatial_strides)):
            if len(values) != 4:
                raise ValueError(f"{name} needs 4 entries (res2..res5), got {list(values)}")
        self.num_classes = num_classes
        norm_layer: NormLayer = partial(nn.BatchNorm3d, eps=bn_eps, momentum=bn_momentum)
        stem_width = int(STEM_WIDTH * width_multiplier) if scale_stem_width else STEM_WIDTH
        self.stem = Stem3D(
            in_channels=in_channels, out_channels=stem_width, stem_type=stem, temporal_kernel=stem_temporal_kernel,
            temporal_stride=stem_temporal_stride, pool=stem_pool, pool_temporal_stride=stem_pool_temporal_stride,
            padding=padding, norm_layer=norm_layer, act_layer=act_layer,
        )
        stages, channels = [], stem_width
        for i, (num_blocks, rate) in enumerate(zip(STAGE_BLOCKS[depth], stage_drop_path_rates(drop_path_rate))):
            width = int(STAGE_WIDTHS[i] * width_multiplier)
            stages.append(ResStage3D(
                channels, width, temporal_kernels=per_block_kernels(temporal_kernels[i], num_blocks),
                temporal_stride=temporal_strides[i], spatial_stride=spatial_strides[i], self_gating=self_gating,
                block_kwargs=dict(se_ratio=se_ratio, drop_path_rate=rate, shortcut=shortcut, padding=padding,
                                  norm_layer=norm_layer, act_layer=act_layer),
            ))
            channels = 4 * width
        self.stages = nn.Sequential(*stages)
        self.num_features = channels
        self.head = ClassifierHead3D(channels, num_classes, dropout_rate=dropout_rate)
        self._init_weights(zero_init_last)

    def _init_weights(self, zero_init_last: bool) -> None:
        """He (fan-out) conv kernels as timm and Model Garden; small head so initial logits are near 0."""
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.01)
                nn.init.zeros_(module.bias)
        if zero_init_last:
            for module in self.modules():
                if isinstance(module, Bottleneck3D):
                    module.zero_init_last()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Clip (N,3,T,H,W) -> res5 features (N,C,T',H',W')."""
        return self.stages(self.stem(x))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


# ----------------------------------------------------------------------------- variants
# Architecture only; regularisation rates (dropout, stochastic depth) come from the recipe / cfg.
_RS = dict(stem="v1", stem_temporal_kernel=5, stem_temporal_stride=2, stem_pool="max", stem_pool_temporal_stride=1,
           shortcut="avgpool", se_ratio=0.25, self_gating="last", temporal_kernels=(1, 1, 3, 3))
_BASELINE = dict(_RS, stem="v0", shortcut="conv", se_ratio=0.0, self_gating="none")
VARIANTS: dict[str, dict] = {
    **{f"resnet3d_rs{depth}": dict(_RS, depth=depth) for depth in STAGE_BLOCKS},
    "resnet3d_50": dict(_BASELINE, depth=50),  # Model Garden R3D-50: the study's row 0 network
}


def _entry_point(name: str) -> Callable[..., ResNet3D]:
    def build(**overrides) -> ResNet3D:
        return ResNet3D(**{**VARIANTS[name], **overrides})

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"{name}: ResNet3D({VARIANTS[name]}); keyword arguments override the table."
    return build


MODEL_ENTRYPOINTS: dict[str, Callable[..., ResNet3D]] = {name: _entry_point(name) for name in VARIANTS}
globals().update(MODEL_ENTRYPOINTS)  # resnet3d_rs50(...), resnet3d_50(...) importable as in timm


def list_models() -> list[str]:
    """Names of the registered variants."""
    return sorted(MODEL_ENTRYPOINTS)


def create_model(name: str, **overrides) -> ResNet3D:
    """Build a registered variant by name, e.g. ``create_model("resnet3d_rs101", num_classes=101)``."""
    if name not in MODEL_ENTRYPOINTS:
        raise ValueError(f"unknown model {name!r}; registered: {list_models()}")
    return MODEL_ENTRYPOINTS[name](**overrides)


def model_kwargs_from_cfg(cfg) -> dict:
    """The ResNet3D keyword arguments a cfg describes (MODEL.*, RESNET.*, BN.*)."""
    r = cfg.RESNET
    return dict(
        depth=r.DEPTH, num_classes=cfg.MODEL.NUM_CLASSES, width_multiplier=r.WIDTH_MULTIPLIER,
        scale_stem_width=r.SCALE_STEM_WIDTH, stem=r.STEM, stem_temporal_kernel=r.STEM_TEMPORAL_KERNEL,
        stem_temporal_stride=r.STEM_TEMPORAL_STRIDE, stem_pool=r.STEM_POOL,
        stem_pool_temporal_stride=r.STEM_POOL_TEMPORAL_STRIDE, shortcut=r.SHORTCUT, se_ratio=r.SE_RATIO,
        self_gating=r.SELF_GATING, temporal_kernels=list(r.TEMPORAL_KERNELS),
        temporal_strides=list(r.TEMPORAL_STRIDES), spatial_strides=list(r.SPATIAL_STRIDES),
        drop_path_rate=cfg.MODEL.DROPPATH_RATE, dropout_rate=cfg.MODEL.DROPOUT_RATE, bn_eps=cfg.BN.EPSILON,
        bn_momentum=cfg.BN.MOMENTUM, zero_init_last=r.ZERO_INIT_FINAL_BN, padding=r.PADDING,
    )


def build_model(cfg, *, device: torch.device | str | None = None) -> ResNet3D:
    """The model a cfg describes, on `device` (CPU by default; "meta" builds for free, no weights).

    BN.NORM_TYPE "sync_batchnorm" is the trainer's job: wrap the result with
    `torch.nn.SyncBatchNorm.convert_sync_batchnorm` once the process group exists.
    """
    if cfg.MODEL.ARCH != "resnet3d":
        raise ValueError(f"MODEL.ARCH {cfg.MODEL.ARCH!r} is not built here")
    with torch.device(device or "cpu"):
        return ResNet3D(**model_kwargs_from_cfg(cfg))
