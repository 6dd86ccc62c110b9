"""torchvision's RandAugment ops on a uint8 clip [T, C, H, W], the same pixels bit for bit, at a fraction of the cost.

torchvision computes each op on a float copy of the whole clip (and Equalize on an int64 one). Most of
these ops are one of two cheaper things in disguise:

    geometric (shear, rotate, translate; nearest, fill)   every plane copies the same source pixel per output
                                                          pixel: find that map once, gather every plane with it
    pointwise (brightness, solarize,                      each uint8 value goes through a fixed function per
               autocontrast, equalize)                    plane: build its 256-entry table with torchvision's
                                                          own arithmetic, then look the plane up in it

Each function here equals its torchvision counterpart for uint8 clips (tested over random clips, every
magnitude and sign, odd and tiny sizes); other dtypes, and clips on an accelerator (where torchvision's
ops are already cheap), take torchvision's path. Blends with a per-pixel or per-frame float (Colour,
Contrast, Sharpness) stay float computations in torchvision's order and layout: as tables they would
not be exact, since torch's multiply-add rounds differently in SIMD lanes and scalar tails. Times per
op: `tools/benchmark_data.py --randaugment-ops` (benchmarks/README.md).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

FILL = 128  # what rotation, shear and translation uncover: mid-grey, as in TF and timm
_NEAREST = InterpolationMode.NEAREST
_ALL_VALUES = torch.arange(256, dtype=torch.uint8)
_EXACT_PIXEL_NUMBERS = 2 ** 24  # float32 holds every pixel number below this exactly


def _fast(video: torch.Tensor) -> bool:
    """Whether `video` takes the table and gather routes (uint8 on the CPU) rather than torchvision's."""
    return video.dtype == torch.uint8 and video.device.type == "cpu" and video.numel() > 0


def _planes(video: torch.Tensor) -> np.ndarray:
    """The clip as a numpy [planes, H*W] array (a view where the clip is contiguous)."""
    return video.contiguous().reshape(-1, video.shape[-2] * video.shape[-1]).numpy()


def _cast(tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """`tensor.to(dtype)` (same values, same layout), by numpy's cast on the CPU: about twice as fast as
    torch's for uint8 <-> float32. Values going to uint8 must already be clamped to 0..255."""
    if tensor.device.type != "cpu":
        return tensor.to(dtype)
    return torch.from_numpy(tensor.numpy().astype(torch.empty((), dtype=dtype).numpy().dtype))


def look_up(video: torch.Tensor, tables: torch.Tensor) -> torch.Tensor:
    """Every uint8 value of plane p replaced by `tables[p][value]`; `tables` is [planes or 1, 256] uint8.

    numpy's `take` indexes with the uint8 values themselves (torch would need an int64 copy of the clip,
    several times slower); one plane at a time keeps numpy's index buffer in cache.
    """
    planes = _planes(video)
    tables = tables.expand(planes.shape[0], 256).numpy()
    out = torch.empty(video.shape, dtype=torch.uint8)
    target = out.view(planes.shape).numpy()
    for plane, table, into in zip(planes, tables, target):
        np.take(table, plane, out=into, mode="clip")  # every index is in range; "clip" skips numpy's out buffer
    return out


def warp_nearest(video: torch.Tensor, warp: Callable[..., torch.Tensor]) -> torch.Tensor:
    """`warp(video, fill=FILL)` for a torchvision nearest-neighbour warp (`TF.affine`, `TF.rotate`), as one gather.

    All planes share one sampling grid, so torchvision's own warp runs once, on a float plane holding
    each pixel's number + 1 (exact in float32): nearest sampling copies those numbers, and zero padding
    marks where the source lies outside. Every plane of the clip is then gathered through that map with
    FILL at number 0: the same kernel on the same grid, so the same pixels as torchvision's mask-channel
    fill, without a float copy of the clip.
    """
    height, width = video.shape[-2:]
    if not _fast(video) or height * width >= _EXACT_PIXEL_NUMBERS:
        return warp(video, fill=FILL)
    numbers = torch.arange(1, height * width + 1, dtype=torch.float32).reshape(1, 1, height, width)
    source = warp(numbers, fill=None).reshape(-1).numpy().astype(np.int32)
    planes = _planes(video)
    padded = np.empty((planes.shape[0], planes.shape[1] + 1), dtype=np.uint8)
    padded[:, 0] = FILL
    padded[:, 1:] = planes
    out = torch.empty(video.shape, dtype=torch.uint8)
    np.take(padded, source, axis=1, out=out.view(planes.shape).numpy(), mode="clip")
    return out


def torchvision_shear(video: torch.Tensor, magnitude: float, axis: int, fill: int | None = FILL) -> torch.Tensor:
    """torchvision RandAugment's ShearX (`axis` 0) / ShearY (1) by `magnitude`, about the top-left corner."""
    angles = [0.0, 0.0]
    angles[axis] = math.degrees(math.atan(magnitude))
    return TF.affine(video, angle=0.0, translate=[0, 0], scale=1.0, shear=angles, interpolation=_NEAREST, fill=fill,
                     center=[0, 0])


def torchvision_rotate(video: torch.Tensor, degrees: float, fill: int | None = FILL) -> torch.Tensor:
    """torchvision RandAugment's Rotate: about the centre, nearest, the corners filled."""
    return TF.rotate(video, angle=degrees, interpolation=_NEAREST, fill=fill)


def shear(video: torch.Tensor, magnitude: float, axis: int) -> torch.Tensor:
    """`torchvision_shear` as one gather (`warp_nearest`)."""
    return warp_nearest(video, lambda v, fill: torchvision_shear(v, magnitude, axis, fill))


def rotate(video: torch.Tensor, degrees: float) -> torch.Tensor:
    """`torchvision_rotate` as one gather (`warp_nearest`)."""
    return warp_nearest(video, lambda v, fill: torchvision_rotate(v, degrees, fill))


def translate(video: torch.Tensor, pixels: int, axis: int) -> torch.Tensor:
    """`TF.affine(translate=...)` with nearest sampling, as the whole-pixel shift it is: the same pixels, bit
    for bit (tested for every shift), without building and sampling a grid.

    `axis` 0 moves along the width (positive: right), 1 along the height (positive: down); FILL comes in.
    """
    out = torch.full_like(video, FILL)
    dim = -1 if axis == 0 else -2
    size = video.shape[dim]
    if abs(pixels) < size:
        kept = size - abs(pixels)
        out.narrow(dim, max(pixels, 0), kept).copy_(video.narrow(dim, max(-pixels, 0), kept))
    return out


def adjust_sharpness(video: torch.Tensor, factor: float) -> torch.Tensor:
    """`TF.adjust_sharpness` for uint8, bit for bit, without its float 3x3 convolution.

    The blur (1 1 1 / 1 5 1 / 1 1 1) / 13 is a box sum of whole numbers (exact in float32), divided by
    13 and rounded: the value torchvision's convolution rounds to (a sum / 13 is never a tie). The
    blend is torchvision's own float arithmetic; the border pixels stay as they are, as there.
    """
    if video.dtype != torch.uint8 or video.shape[-1] <= 2 or video.shape[-2] <= 2:
        return TF.adjust_sharpness(video, factor)
    if factor < 0:
        raise ValueError(f"sharpness factor ({factor}) is not non-negative")
    return _in_groups(video, lambda images: _sharpen(images, factor))


_IMAGES_PER_GROUP = 4  # images per float pass of Sharpness (buffers of ~2.4 MB at 3 x 224²)


def _in_groups(video: torch.Tensor, blend: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """`blend` (uint8 images [N, C, H, W] -> float32 values in 0..255, image by image) over the clip, a few
    images at a time: its float buffers stay small and are reused from one group to the next instead of
    fresh memory for the whole clip (Sharpness inside a loader: 53 -> 20 ms per 32 x 224² clip, measured;
    Colour and Contrast gained nothing this way). The float ops per image are the same as on the whole
    clip, so are the values."""
    images = video.reshape((-1,) + video.shape[-3:])
    out = torch.empty(images.shape, dtype=torch.uint8)
    for start in range(0, len(images), _IMAGES_PER_GROUP):
        out[start:start + _IMAGES_PER_GROUP] = blend(images[start:start + _IMAGES_PER_GROUP])
    return out.view(video.shape)


def _sharpen(images: torch.Tensor, factor: float) -> torch.Tensor:
    out = _cast(images, torch.float32)  # small integers: every sum below is exact in float32
    rows = out[..., :-2, :] + out[..., 1:-1, :]
    rows += out[..., 2:, :]
    centre = out[..., 1:-1, 1:-1]
    blurred = rows[..., :-2] + rows[..., 1:-1]
    blurred += rows[..., 2:]
    blurred.add_(centre, alpha=4.0).div_(13.0).round_()
    centre.add_(blurred.sub_(centre), alpha=1.0 - factor)
    return out.clamp_(0, 255)


def pointwise(video: torch.Tensor, op: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """`op(video)` for an op that maps each uint8 value alone (brightness, solarize): torchvision's `op` run on
    the 256 values once gives the table."""
    if not _fast(video):
        return op(video)
    return look_up(video, op(_ALL_VALUES.view(1, 1, 256)).reshape(1, 256))


def _grey(video: torch.Tensor) -> torch.Tensor:
    """torchvision's grey of a uint8 RGB clip, float32 [..., 1, H, W]: 0.2989 R + 0.587 G + 0.114 B, floored.

    The same arithmetic in the same order, on float copies of the channels: torch multiplies a uint8
    tensor by a float through a slow casting path (~5 ms per channel of a 32 x 224² clip), a float
    copy first does not, and a uint8 value times a float is the same float either way (tested).
    """
    red, green, blue = (_cast(channel, torch.float32) for channel in video.unbind(dim=-3))
    return red.mul_(0.2989).add_(green, alpha=0.587).add_(blue, alpha=0.114).floor_().unsqueeze(-3)


def _blend(video: torch.Tensor, other: torch.Tensor, factor: float) -> torch.Tensor:
    """torchvision's `_blend(video, other, factor)` for uint8 `video`, with the clip made float once instead of
    through torch's slow uint8-times-float path: the same float ops on the same shapes, so the same values
    in every SIMD lane and scalar tail (a table per value would not be: the blend's multiply-add rounds
    differently in the two)."""
    blend = _cast(video, torch.float32).mul_(factor).add_(other, alpha=1.0 - factor)
    return _cast(blend.clamp_(0, 255), torch.uint8)


def adjust_saturation(video: torch.Tensor, factor: float) -> torch.Tensor:
    """`TF.adjust_saturation` for uint8 RGB clips: the blend with the grey, both without torch's slow
    uint8-times-float path."""
    if not _fast(video) or video.shape[-3] != 3:
        return TF.adjust_saturation(video, saturation_factor=factor)
    if factor < 0:
        raise ValueError(f"saturation_factor ({factor}) is not non-negative.")
    return _blend(video, _grey(video), factor)


def adjust_contrast(video: torch.Tensor, factor: float) -> torch.Tensor:
    """`TF.adjust_contrast` for uint8 RGB clips: the blend with each frame's grey mean, both without torch's
    slow uint8-times-float path."""
    if not _fast(video) or video.shape[-3] != 3:
        return TF.adjust_contrast(video, contrast_factor=factor)
    if factor < 0:
        raise ValueError(f"contrast_factor ({factor}) is not non-negative.")
    return _blend(video, _grey(video).mean(dim=(-3, -2, -1), keepdim=True), factor)


def autocontrast(video: torch.Tensor) -> torch.Tensor:
    """`TF.autocontrast` for uint8 clips: each plane's stretch from its min and max (read on the uint8 values)
    as a table built with torchvision's float arithmetic."""
    if not _fast(video):
        return TF.autocontrast(video)
    planes = video.reshape(-1, video.shape[-2] * video.shape[-1])
    minimum = planes.amin(dim=1, keepdim=True).to(torch.float32)
    maximum = planes.amax(dim=1, keepdim=True).to(torch.float32)
    flat = maximum == minimum
    inv_scale = maximum.sub_(minimum).mul_(1.0 / 255)
    minimum[flat] = 0.0
    inv_scale[flat] = 1.0
    tables = _ALL_VALUES.to(torch.float32).expand(planes.shape[0], 256).sub(minimum)
    return look_up(video, tables.div_(inv_scale).clamp_(0, 255).to(torch.uint8))


def equalize(video: torch.Tensor) -> torch.Tensor:
    """`TF.equalize` for uint8 clips: each plane's histogram by `bincount` on its uint8 values (torchvision
    scatters an int64 copy of the clip), PIL's table as torchvision computes it, then a look-up. A plane
    with a single value (step 0) stays as it is."""
    if not _fast(video):
        return TF.equalize(video)
    planes = video.reshape(-1, video.shape[-2] * video.shape[-1])
    hist = torch.stack([torch.bincount(plane, minlength=256) for plane in planes]).to(torch.int32)
    cum_hist = hist.cumsum(dim=-1)
    last = cum_hist.argmax(dim=-1, keepdim=True)  # the image's largest value
    step = (planes.shape[1] - hist.gather(dim=-1, index=last)).div_(255, rounding_mode="floor")
    lut = cum_hist[:, :-1].add_(step // 2).div_(step.clamp(min=1), rounding_mode="floor").clamp_(0, 255)
    tables = torch.cat([torch.zeros_like(step), lut], dim=-1).to(torch.uint8)
    tables = torch.where(step == 0, _ALL_VALUES, tables)
    return look_up(video, tables)
