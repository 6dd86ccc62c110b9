"""Clip transforms on uint8 video tensors: crops, resizes, flip, RandAugment, then (on the device) normalise.

Every transform treats a clip as one image batch, so all frames get the same crop, flip and
RandAugment draw, and nothing loops over frames in Python. Crops are cut in source coordinates
and resized once (antialiased, uint8), instead of resizing whole frames and cropping after:

    decoded [T, H, W, C] uint8 --view--> [T, C, H, W] --crop box--> resize to S x S
        --flip--> RandAugment (one draw) --permute--> [C, T, S, S] uint8   (the loader's output)
    on the device:  [ClipRandAugment if AUG.ON_DEVICE] -> normalize_clips -> float32 [B, C, T, S, S]

RandAugment costs ~20 ms of CPU per 32 x 224² clip (torchvision's ops: ~60-80 ms; measured on one
core), and `AUG.ON_DEVICE` moves it out of the loader workers onto the GPU's uint8 batch.
Both places call the same `ClipRandAugment`, so the two paths draw from one distribution.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torchvision.transforms.v2 import functional as TF

from video_rs.data.randaugment import ClipRandAugment

Box = tuple[int, int, int, int]  # top, left, height, width


def frames_to_video(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Decoded [T, H, W, C] -> [T, C, H, W] without a copy (channels-last memory, fast for uint8 resizes)."""
    frames = torch.as_tensor(frames)
    return frames.permute(0, 3, 1, 2)


def crop_and_resize(video: torch.Tensor, box: Box, size: int | tuple[int, int]) -> torch.Tensor:
    """Cut `box` out of every frame of [T, C, H, W] and resize it to `size` (antialiased)."""
    top, left, height, width = box
    size = (size, size) if isinstance(size, int) else tuple(size)
    region = video[..., top:top + height, left:left + width]
    if region.shape[-2:] == size:
        return region
    return TF.resize(region, list(size), antialias=True)


def random_resized_crop_box(height: int, width: int, area_range: Sequence[float],
                            aspect_range: Sequence[float]) -> Box:
    """Inception-style crop: area fraction in `area_range`, aspect (w/h) log-uniform in `aspect_range`.

    Ten tries at a box that fits, then the largest centred box of an allowed aspect (as torchvision).
    """
    area = height * width
    log_lo, log_hi = math.log(aspect_range[0]), math.log(aspect_range[1])
    for _ in range(10):
        target = area * float(torch.empty(()).uniform_(area_range[0], area_range[1]))
        aspect = math.exp(float(torch.empty(()).uniform_(log_lo, log_hi)))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, ()))
            left = int(torch.randint(0, width - w + 1, ()))
            return top, left, h, w
    ratio = width / height
    if ratio < aspect_range[0]:
        w, h = width, int(round(width / aspect_range[0]))
    elif ratio > aspect_range[1]:
        h, w = height, int(round(height * aspect_range[1]))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


CROP_STYLES = ("torchvision", "tf")


def tf_random_crop_box(height: int, width: int, area_range: Sequence[float], aspect_range: Sequence[float],
                       *, min_covered: float = 0.1, max_attempts: int = 100) -> Box:
    """Model Garden's random-resized-crop box: TF's `sample_distorted_bounding_box` with the whole
    frame as the one object, `min_object_covered` 0.1 and 100 attempts.

    Each attempt draws the aspect (w/h) uniformly, then the crop height uniformly between the
    heights that give the smallest and the largest allowed area, width = round(h * aspect); it is
    kept when its area is in `area_range` and it covers >= `min_covered` of the frame. When no
    attempt fits, the whole frame is the crop (torchvision falls back to a centre crop).
    """
    min_area, max_area = area_range[0] * height * width, area_range[1] * height * width
    for _ in range(max_attempts):
        aspect = float(torch.empty(()).uniform_(aspect_range[0], aspect_range[1]))
        box = _tf_crop_attempt(height, width, min_area, max_area, aspect)
        if box is not None and box[2] * box[3] >= max(1.0, min_covered * height * width):
            return box
    return 0, 0, height, width


def _tf_crop_attempt(height: int, width: int, min_area: float, max_area: float, aspect: float) -> Box | None:
    """One attempt of TF's crop generator; None when rounding leaves no box inside the constraints.

    `round` is round-half-even, as C's `lrintf`; TF draws the offsets in [0, size - crop).
    """
    crop_h = round(math.sqrt(min_area / aspect))
    max_h = round(math.sqrt(max_area / aspect))
    if round(max_h * aspect) > width:  # the widest box must still fit the frame
        max_h = int((width + 0.5 - 1e-7) / aspect)
        if round(max_h * aspect) > width:
            max_h -= 1
    max_h = min(max_h, height)
    crop_h = min(crop_h, max_h)
    if crop_h < max_h:
        crop_h += int(torch.randint(0, max_h - crop_h + 1, ()))
    crop_w = round(crop_h * aspect)
    if crop_w * crop_h < min_area:
        crop_h += 1
        crop_w = round(crop_h * aspect)
    if crop_w * crop_h > max_area:
        crop_h -= 1
        crop_w = round(crop_h * aspect)
    if not (min_area <= crop_w * crop_h <= max_area and 0 < crop_w <= width and 0 < crop_h <= height):
        return None
    top = int(torch.randint(0, height - crop_h, ())) if crop_h < height else 0
    left = int(torch.randint(0, width - crop_w, ())) if crop_w < width else 0
    return top, left, crop_h, crop_w


def tf_crop_and_resize(video: torch.Tensor, box: Box, size: int | tuple[int, int]) -> torch.Tensor:
    """`crop_and_resize` as `tf.image.resize` does it: bilinear (half-pixel centres) without
    antialiasing, the float result truncated back to uint8."""
    top, left, height, width = box
    size = (size, size) if isinstance(size, int) else tuple(size)
    region = video[..., top:top + height, left:left + width]
    if region.shape[-2:] == size:
        return region
    resized = torch.nn.functional.interpolate(region.float(), size=size, mode="bilinear", align_corners=False)
    return resized.clamp_(0, 255).to(torch.uint8)


def scale_jitter_crop_box(height: int, width: int, short_side_range: Sequence[int], crop_size: int) -> Box:
    """Resize the short side to a random size in `short_side_range`, then a random `crop_size` square:
    returned as the equivalent square in source pixels (so only the crop gets resized)."""
    short_side = int(torch.randint(int(short_side_range[0]), int(short_side_range[1]) + 1, ()))
    side = min(int(round(crop_size * min(height, width) / short_side)), height, width)
    top = int(torch.randint(0, height - side + 1, ()))
    left = int(torch.randint(0, width - side + 1, ()))
    return top, left, side, side


def spatial_crop_boxes(height: int, width: int, num_crops: int) -> list[Box]:
    """Squares of the short side: 1 = centre; 3 = start, centre, end of the long side (PySlowFast order).

    Cropping this square and resizing it to S equals resizing the short side to S and cropping S.
    """
    if num_crops not in (1, 3):
        raise ValueError(f"num_crops must be 1 or 3, got {num_crops}")
    side = min(height, width)
    slack = max(height, width) - side
    offsets = [slack // 2] if num_crops == 1 else [0, slack // 2, slack]
    if height > width:
        return [(offset, 0, side, side) for offset in offsets]
    return [(0, offset, side, side) for offset in offsets]


def to_clip(video: torch.Tensor, out: torch.Tensor | None = None, *, flip: bool = False) -> torch.Tensor:
    """[T, C, H, W] -> contiguous [C, T, H, W] (the model's per-clip layout), mirrored left to right when
    `flip`, written into `out` when given (a slot of the batch: the clip is copied once, straight into place)."""
    if out is None:
        out = torch.empty((video.shape[1], video.shape[0]) + tuple(video.shape[2:]), dtype=video.dtype,
                          device=video.device)
    return _copy(video.permute(1, 0, 2, 3), out, flip)


def frame_planes(video: torch.Tensor, *, flip: bool = False) -> torch.Tensor:
    """[T, C, H, W] with each frame's channels as whole planes (contiguous), mirrored when `flip`.

    RandAugment's ops work plane by plane: on the channels-last clip a resize returns they would each
    transpose it first (RandAugment took ~24 ms per 32 x 224² clip that way, ~14 ms on planes).
    """
    return _copy(video, torch.empty(video.shape, dtype=video.dtype, device=video.device), flip)


def _copy(source: torch.Tensor, out: torch.Tensor, flip: bool) -> torch.Tensor:
    """`out[...] = source` (mirrored along the last axis when `flip`).

    On the CPU the copy is numpy's: from a channels-last uint8 clip its strided copy is ~3x torch's speed
    (1.9 vs 6.5 ms per 32 x 224² clip, one thread), and a flip is a negative stride of the same copy
    instead of a copy of its own.
    """
    if _numpy_copies(source, out):
        array = source.numpy()
        np.copyto(out.numpy(), array[..., ::-1] if flip else array)
        return out
    return out.copy_(source.flip(-1) if flip else source)


def gather_clip(frames: torch.Tensor, indices: np.ndarray, out: torch.Tensor) -> torch.Tensor:
    """Frames `indices` of [N, C, H, W] into `out` [C, len(indices), H, W] (a view's slot of the batch):
    the selection and the change of layout in one copy (numpy's on the CPU, as in `to_clip`)."""
    if not _numpy_copies(frames, out):
        return torch.index_select(frames, 0, torch.as_tensor(indices, device=frames.device), out=out.permute(1, 0, 2, 3))
    source, target = frames.numpy(), out.numpy()
    for t, index in enumerate(indices):
        np.copyto(target[:, t], source[index])
    return out


def _numpy_copies(source: torch.Tensor, out: torch.Tensor) -> bool:
    return (source.device.type == out.device.type == "cpu" and source.dtype == out.dtype == torch.uint8
            and not source.requires_grad)


@dataclass
class TrainTransform:
    """Random crop (random-resized or scale-jittered), flip, RandAugment: [T, C, H, W] -> [C, T, S, S]."""

    crop_size: int
    area_range: Sequence[float] | None  # None: short-side scale jitter instead of random-resized-crop
    aspect_range: Sequence[float] = (0.75, 4 / 3)
    jitter_scales: Sequence[int] = (256, 320)
    flip: bool = True
    randaug_num_ops: int = 0  # 0 disables RandAugment
    randaug_magnitude: int = 10  # paper scale (PaperScaleRandAugment)
    crop_style: str = "torchvision"  # random-resized-crop: "torchvision" or "tf" (Model Garden; `tf_random_crop_box`)

    def __post_init__(self):
        if self.crop_style not in CROP_STYLES:
            raise ValueError(f"crop style must be one of {CROP_STYLES}, got {self.crop_style!r}")
        self._randaug = ClipRandAugment(self.randaug_num_ops, self.randaug_magnitude) \
            if self.randaug_num_ops > 0 else None

    def __call__(self, video: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        height, width = video.shape[-2:]
        if self.area_range and self.crop_style == "tf":
            box = tf_random_crop_box(height, width, self.area_range, self.aspect_range)
            video = tf_crop_and_resize(video, box, self.crop_size)
        else:
            if self.area_range:
                box = random_resized_crop_box(height, width, self.area_range, self.aspect_range)
            else:
                box = scale_jitter_crop_box(height, width, self.jitter_scales, self.crop_size)
            video = crop_and_resize(video, box, self.crop_size)
        flip = self.flip and bool(torch.rand(()) < 0.5)
        if self._randaug is not None:  # RandAugment sees the flipped clip (its ops are not mirror-symmetric)
            video = self._randaug.video(frame_planes(video, flip=flip))
            flip = False
        return to_clip(video, out, flip=flip)


@dataclass
class EvalTransform:
    """Deterministic views: [T, C, H, W] -> [num_crops, C, T, S, S] (short side resized to S, then crops)."""

    crop_size: int
    num_crops: int = 1

    def __call__(self, video: torch.Tensor) -> torch.Tensor:
        return torch.stack([to_clip(crop) for crop in self.crops(video)])

    def crops(self, video: torch.Tensor) -> list[torch.Tensor]:
        """The resized crops of every frame, each [T, C, S, S], before the change to the clip layout."""
        boxes = spatial_crop_boxes(video.shape[-2], video.shape[-1], self.num_crops)
        return [crop_and_resize(video, box, self.crop_size) for box in boxes]


def normalize_clips(clips: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 [B, C, T, H, W] (or [C, T, H, W]) -> float32 (x / 255 - mean) / std, on the clips' device."""
    out = clips.to(torch.float32).div_(255.0)
    shape = (-1, 1, 1, 1)  # broadcast over the trailing T, H, W whatever the batch dims
    if any(m != 0 for m in mean):
        out.sub_(torch.as_tensor(mean, dtype=out.dtype, device=out.device).view(shape))
    if any(s != 1 for s in std):
        out.div_(torch.as_tensor(std, dtype=out.dtype, device=out.device).view(shape))
    return out
