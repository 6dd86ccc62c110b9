"""Building blocks of the 3D ResNet(-RS): padding-aware layers, stem, bottleneck, SE, gating, drop path.

Blocks take their parts as typed keyword-only arguments (`norm_layer`, `act_layer`, rates, flags)
and never see the cfg. Tensors are `N, C, T, H, W`.

Module names are part of the interface (checkpoints and the timm / Model Garden converters depend
on them): `ConvNormAct3d` always holds `.conv` and `.bn`; a bottleneck holds `conv_temporal`,
`conv_spatial`, `conv_expand`, optional `self_gating`, `se`, `shortcut`, and `drop_path`.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import StochasticDepth

Triple = tuple[int, int, int]
NormLayer = Callable[[int], nn.Module]
ActLayer = Callable[[], nn.Module]
PADDING_MODES = ("symmetric", "same")


def _triple(value: int | Sequence[int]) -> Triple:
    return tuple(value) if isinstance(value, Sequence) else (value, value, value)  # type: ignore[return-value]


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "same" padding (before, after) for one axis: output is ceil(size / stride).

    The odd pixel goes AFTER, so a stride-2 3-wide kernel on an even input pads (0, 1) where
    PyTorch's symmetric padding would pad (1, 1) and shift the sampling grid by one pixel.
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pad_same(x: torch.Tensor, kernel: Triple, stride: Triple, value: float = 0.0) -> torch.Tensor:
    """Pad the T, H, W axes of `x` as TensorFlow's "same" would for this kernel and stride."""
    pads: list[int] = []
    for axis in (2, 1, 0):  # F.pad lists the last axis first
        pads.extend(same_padding(x.shape[2 + axis], kernel[axis], stride[axis]))
    return F.pad(x, pads, value=value) if any(pads) else x


class Conv3dSame(nn.Conv3d):
    """nn.Conv3d with TensorFlow "same" padding computed from the input size at run time.

    A subclass (not a wrapper) so its state-dict keys equal a plain `nn.Conv3d`'s.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(pad_same(x, self.kernel_size, self.stride))


class MaxPool3dSame(nn.MaxPool3d):
    """nn.MaxPool3d with TensorFlow "same" padding; padded cells never win (-inf)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(pad_same(x, _triple(self.kernel_size), _triple(self.stride), float("-inf")))


def create_conv3d(
    in_channels: int, out_channels: int, kernel_size: Triple, *, stride: Triple = (1, 1, 1),
    padding: str = "symmetric", bias: bool = False,
) -> nn.Conv3d:
    """A conv with symmetric `k // 2` padding, or TF "same" padding where it differs (a stride > 1).

    With stride 1 and odd kernels both modes pad alike, so only striding layers become `Conv3dSame`.
    """
    if padding == "same" and any(s > 1 for s in stride):
        return Conv3dSame(in_channels, out_channels, kernel_size, stride=stride, padding=0, bias=bias)
    return nn.Conv3d(in_channels, out_channels, kernel_size, stride=stride,
                     padding=tuple(k // 2 for k in kernel_size), bias=bias)


def create_max_pool3d(kernel_size: Triple, *, stride: Triple, padding: str = "symmetric") -> nn.MaxPool3d:
    """Max-pool with symmetric or TF "same" padding (see `create_conv3d`)."""
    if padding == "same" and any(s > 1 for s in stride):
        return MaxPool3dSame(kernel_size, stride=stride)
    return nn.MaxPool3d(kernel_size, stride=stride, padding=tuple(k // 2 for k in kernel_size))


class ConvNormAct3d(nn.Module):
    """conv -> BN -> activation (`act_layer=None`: no activation). Children: `conv`, `bn`, `act`."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: Triple, *, stride: Triple = (1, 1, 1),
        padding: str = "symmetric", norm_layer: NormLayer = nn.BatchNorm3d, act_layer: ActLayer | None = nn.ReLU,
    ) -> None:
        super().__init__()
        self.conv = create_conv3d(in_channels, out_channels, kernel_size, stride=stride, padding=padding)
        self.bn = norm_layer(out_channels)
        self.act = act_layer() if act_layer is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class SqueezeExcite3D(nn.Module):
    """Spatio-temporal squeeze-excitation: channel weights from the clip's mean feature.

    ::

        x (N,C,T,H,W) ── mean T,H,W ─> (N,C,1,1,1) ── fc1 1x1x1 ─> (N,r,1,1,1) ── ReLU
                      ── fc2 1x1x1 ─> (N,C,1,1,1) ── sigmoid ── * x ─> (N,C,T,H,W)

    `fc1`/`fc2` are biased 1x1x1 convs, like timm's `SEModule`, so 2D SE weights inflate as they are.
    """

    def __init__(self, channels: int, *, reduced_channels: int, act_layer: ActLayer = nn.ReLU) -> None:
        super().__init__()
        self.fc1 = nn.Conv3d(channels, reduced_channels, 1, bias=True)
        self.act = act_layer()
        self.fc2 = nn.Conv3d(reduced_channels, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.fc2(self.act(self.fc1(x.mean(dim=(2, 3, 4), keepdim=True))))
        return x * scale.sigmoid()


def se_channels(out_channels: int, se_ratio: float) -> int:
    """Model Garden's SE width rule: r = max(1, int(4f * se_ratio)), with 4f the block output."""
    return max(1, int(out_channels * se_ratio))


class SelfGating3D(nn.Module):
    """S3D-G self-gating: mean over T,H,W -> biased 1x1x1 conv (C->C) -> sigmoid -> multiply. Shape kept."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Conv3d(channels, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x.mean(dim=(2, 3, 4), keepdim=True)).sigmoid()


class DropPath(StochasticDepth):
    """Stochastic depth: drop the whole residual branch per sample with rate `p` in training.

    torchvision's `StochasticDepth` in "row" mode (one decision per sample); survivors are scaled by
    1/(1-p) so the expected output equals the eval-mode (identity) output. It holds no tensors, so
    checkpoints do not see it.
    """

    def __init__(self, p: float = 0.0) -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop path rate must be in [0, 1), got {p}")
        super().__init__(p, mode="row")


class ProjectionShortcut3D(nn.Module):
    """Shortcut when channels or strides change: `pool` (or Identity) -> 1x1x1 `conv` -> `bn`.

    ``"avgpool"`` (ResNet-D, the paper; timm's ``downsample``): AvgPool3d((ts,s,s)) then a stride-1
    conv, no pooling when both strides are 1. ``"conv"`` (Model Garden 3D): the conv strides. Same
    parameters either way. ``ceil_mode`` + ``count_include_pad=False`` keep odd sizes in step with
    the main path and equal TF "same" pooling for kernel == stride::

        x (N,Cin,T,H,W) ── [avgpool (ts,s,s)] ── conv 1x1x1 [stride (ts,s,s)] ── BN ─> (N,Cout,T/ts,H/s,W/s)
    """

    def __init__(
        self, in_channels: int, out_channels: int, *, temporal_stride: int, spatial_stride: int,
        mode: str = "avgpool", padding: str = "symmetric", norm_layer: NormLayer = nn.BatchNorm3d,
    ) -> None:
        super().__init__()
        stride = (temporal_stride, spatial_stride, spatial_stride)
        strided = stride != (1, 1, 1)
        if mode == "avgpool":
            self.pool = nn.AvgPool3d(stride, stride, ceil_mode=True, count_include_pad=False) if strided else nn.Identity()
            conv_stride = (1, 1, 1)
        elif mode == "conv":
            self.pool = nn.Identity()
            conv_stride = stride
        else:
            raise ValueError(f"shortcut must be 'avgpool' or 'conv', got {mode!r}")
        self.conv = create_conv3d(in_channels, out_channels, (1, 1, 1), stride=conv_stride, padding=padding)
        self.bn = norm_layer(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(self.pool(x)))


class Bottleneck3D(nn.Module):
    """The 3D ResNet-RS bottleneck, in the architecture specification's order (stride on the 3x3, ResNet-D / v1.5)::

        x (N,Cin,T,H,W)
          ── conv_temporal (kt,1,1) stride (ts,1,1) ── BN ── ReLU   (N,f,T/ts,H,W)
          ── conv_spatial  (1,3,3)  stride (1,s,s)  ── BN ── ReLU   (N,f,T/ts,H/s,W/s)
          ── conv_expand   (1,1,1) -> 4f            ── BN           (N,4f,T/ts,H/s,W/s)
          ── [self_gating if before SE] ── [se] ── [self_gating if after SE] ── drop_path
          + shortcut(x) ── ReLU                                      (N,4f,T/ts,H/s,W/s)
    """

    def __init__(
        self, in_channels: int, width: int, *, expansion: int = 4, temporal_kernel: int = 1,
        temporal_stride: int = 1, spatial_stride: int = 1, se_ratio: float = 0.0, self_gating: bool = False,
        self_gating_after_se: bool = False, drop_path_rate: float = 0.0, shortcut: str = "avgpool",
        padding: str = "symmetric", norm_layer: NormLayer = nn.BatchNorm3d, act_layer: ActLayer = nn.ReLU,
    ) -> None:
        super().__init__()
        out_channels = width * expansion
        layer = dict(padding=padding, norm_layer=norm_layer)
        self.conv_temporal = ConvNormAct3d(in_channels, width, (temporal_kernel, 1, 1),
                                           stride=(temporal_stride, 1, 1), act_layer=act_layer, **layer)
        self.conv_spatial = ConvNormAct3d(width, width, (1, 3, 3), stride=(1, spatial_stride, spatial_stride),
                                          act_layer=act_layer, **layer)
        self.conv_expand = ConvNormAct3d(width, out_channels, (1, 1, 1), act_layer=None, **layer)
        self.self_gating = SelfGating3D(out_channels) if self_gating else None
        self.self_gating_after_se = self_gating_after_se
        self.se = (SqueezeExcite3D(out_channels, reduced_channels=se_channels(out_channels, se_ratio), act_layer=act_layer)
                   if se_ratio > 0 else None)
        self.drop_path = DropPath(drop_path_rate)
        needs_projection = in_channels != out_channels or temporal_stride > 1 or spatial_stride > 1
        self.shortcut = (ProjectionShortcut3D(in_channels, out_channels, temporal_stride=temporal_stride,
                                              spatial_stride=spatial_stride, mode=shortcut, **layer)
                         if needs_projection else nn.Identity())
        self.act = act_layer()

    def zero_init_last(self) -> None:
        """Start the residual branch at zero, so the block is the identity (plus shortcut) at init."""
        nn.init.zeros_(self.conv_expand.bn.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv_expand(self.conv_spatial(self.conv_temporal(x)))
        if self.self_gating is not None and not self.self_gating_after_se:
            y = self.self_gating(y)
        if self.se is not None:
            y = self.se(y)
        if self.self_gating is not None and self.self_gating_after_se:
            y = self.self_gating(y)
        return self.act(self.drop_path(y) + self.shortcut(x))


class Stem3D(nn.Module):
    """The stem: ``"v1"`` deep stem (ResNet-D) or ``"v0"`` single 7x7 conv, then the stem pool.

    ::

        v1: x (N,3,T,H,W) ── conv1 (kt,3,3) stride (st,2,2) 3->w/2 ── conv2 (1,3,3) w/2->w/2
                          ── conv3 (1,3,3) w/2->w         (each conv -> BN -> ReLU)   (N,w,T/st,H/2,W/2)
        v0: x (N,3,T,H,W) ── conv1 (kt,7,7) stride (st,2,2) 3->w -> BN -> ReLU        (N,w,T/st,H/2,W/2)
        pool "max":  max-pool (3 if pt>1 else 1, 3, 3) stride (pt,2,2)                (N,w,T/st/pt,H/4,W/4)
        pool "conv": conv (3 if pt>1 else 1, 3, 3) stride (pt,2,2) w->w -> BN -> ReLU  (same shape)

    w = 64 at width 1 (v1: 32, 32, 64). The "conv" pool and deep stem match timm's ``resnetrs*``
    (``conv1`` = our conv1..conv3, ``maxpool`` = our ``pool``) so 2D weights inflate one-to-one.
    """

    def __init__(
        self, *, in_channels: int = 3, out_channels: int = 64, stem_type: str = "v1", temporal_kernel: int = 5,
        temporal_stride: int = 2, pool: str = "max", pool_temporal_stride: int = 1, padding: str = "symmetric",
        norm_layer: NormLayer = nn.BatchNorm3d, act_layer: ActLayer = nn.ReLU,
    ) -> None:
        super().__init__()
        layer = dict(padding=padding, norm_layer=norm_layer, act_layer=act_layer)
        first_stride = (temporal_stride, 2, 2)
        if stem_type == "v1":
            mid = out_channels // 2
            self.conv1 = ConvNormAct3d(in_channels, mid, (temporal_kernel, 3, 3), stride=first_stride, **layer)
            self.conv2 = ConvNormAct3d(mid, mid, (1, 3, 3), **layer)
            self.conv3 = ConvNormAct3d(mid, out_channels, (1, 3, 3), **layer)
        elif stem_type == "v0":
            self.conv1 = ConvNormAct3d(in_channels, out_channels, (temporal_kernel, 7, 7), stride=first_stride, **layer)
            self.conv2 = self.conv3 = None
        else:
            raise ValueError(f"stem must be 'v0' or 'v1', got {stem_type!r}")
        pool_kernel = (3 if pool_temporal_stride > 1 else 1, 3, 3)
        pool_stride = (pool_temporal_stride, 2, 2)
        if pool == "max":
            self.pool = create_max_pool3d(pool_kernel, stride=pool_stride, padding=padding)
        elif pool == "conv":
            self.pool = ConvNormAct3d(out_channels, out_channels, pool_kernel, stride=pool_stride, **layer)
        else:
            raise ValueError(f"stem pool must be 'max' or 'conv', got {pool!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in (self.conv1, self.conv2, self.conv3):
            if conv is not None:
                x = conv(x)
        return self.pool(x)


class ClassifierHead3D(nn.Module):
    """Global average pool over T,H,W -> `dropout` -> linear `fc`::

        x (N,C,T,H,W) ── pool ─> (N,C) ── dropout ── fc ─> logits (N,num_classes)
    """

    def __init__(self, in_features: int, num_classes: int, *, dropout_rate: float = 0.0) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout_rate)
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.pool(x).flatten(1)))
