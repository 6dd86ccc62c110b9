"""RandAugment on uint8 clips, on the paper's magnitude scale, from our own op table.

The ops, their order and the random draws are torchvision's `v2.RandAugment` (so a seed gives the
same clip as it would there); the table of strengths is the paper's, and it lives here instead of
in an override of torchvision's private `_AUGMENTATION_SPACE`. Every op runs once on the whole clip
[T, C, H, W] (all frames share the draw). Two ops are computed more directly than torchvision does,
giving the same pixels bit for bit at a fraction of the cost: Sharpness from box sums instead of a
float convolution, and Translate as a whole-pixel shift instead of a sampled grid.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

MAX_MAGNITUDE = 30  # paper-scale magnitudes 0..30 (3x each op's usual maximum); the paper uses 10 and 15
FILL = 128  # what rotation, shear and translation uncover: mid-grey, as in TF and timm
_NEAREST = InterpolationMode.NEAREST


def _scaled(maximum, limit: float | None = None):
    """Magnitudes 0..MAX_MAGNITUDE for an op whose strength is `maximum` (or `maximum(height, width)`)
    at the paper's magnitude 10, optionally capped at `limit`."""
    def magnitudes(num_bins: int, height: int, width: int) -> torch.Tensor:
        top = maximum(height, width) if callable(maximum) else maximum
        values = torch.arange(num_bins, dtype=torch.float32) * (top / 10)
        return values if limit is None else values.clamp(max=limit)

    return magnitudes


def _none(num_bins: int, height: int, width: int) -> None:
    return None


def _shear(video: torch.Tensor, magnitude: float, axis: int) -> torch.Tensor:
    shear = [0.0, 0.0]
    shear[axis] = math.degrees(math.atan(magnitude))
    return TF.affine(video, angle=0.0, translate=[0, 0], scale=1.0, shear=shear, interpolation=_NEAREST, fill=FILL,
                     center=[0, 0])


def translate(video: torch.Tensor, pixels: int, axis: int) -> torch.Tensor:
    """`TF.affine(translate=...)` with nearest sampling, as the whole-pixel shift it is: the same pixels, bit
    for bit (tested for every shift), without building and sampling a grid (~80 ms -> ~2 ms per 32 x 224² clip).

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
    out = video.to(torch.float32)  # small integers: every sum below is exact in float32
    rows = out[..., :-2, :] + out[..., 1:-1, :]
    rows += out[..., 2:, :]
    centre = out[..., 1:-1, 1:-1]
    blurred = rows[..., :-2] + rows[..., 1:-1]
    blurred += rows[..., 2:]
    blurred.add_(centre, alpha=4.0).div_(13.0).round_()
    centre.add_(blurred.sub_(centre), alpha=1.0 - factor)
    return out.clamp_(0, 255).to(torch.uint8)


def _posterize_bits(num_bins: int, height: int, width: int) -> torch.Tensor:
    return (8 - _scaled(4.0, 7.0)(num_bins, height, width)).round().int()


def _solarize_thresholds(num_bins: int, height: int, width: int) -> torch.Tensor:
    return 1.0 - _scaled(1.0, 1.0)(num_bins, height, width)


Magnitudes = Callable[[int, int, int], "torch.Tensor | None"]
# name: (magnitudes by bin, signed, op(video, magnitude)); torchvision's RandAugment order, which the draws index
OPS: dict[str, tuple[Magnitudes, bool, Callable[[torch.Tensor, float], torch.Tensor]]] = {
    "Identity": (_none, False, lambda v, m: v),
    "ShearX": (_scaled(0.3), True, lambda v, m: _shear(v, m, 0)),
    "ShearY": (_scaled(0.3), True, lambda v, m: _shear(v, m, 1)),
    "TranslateX": (_scaled(lambda height, width: 150.0 / 331.0 * width), True, lambda v, m: translate(v, int(m), 0)),
    "TranslateY": (_scaled(lambda height, width: 150.0 / 331.0 * height), True, lambda v, m: translate(v, int(m), 1)),
    "Rotate": (_scaled(30.0), True, lambda v, m: TF.rotate(v, angle=m, interpolation=_NEAREST, fill=FILL)),
    "Brightness": (_scaled(0.9, 0.9), True, lambda v, m: TF.adjust_brightness(v, brightness_factor=1.0 + m)),
    "Color": (_scaled(0.9, 0.9), True, lambda v, m: TF.adjust_saturation(v, saturation_factor=1.0 + m)),
    "Contrast": (_scaled(0.9, 0.9), True, lambda v, m: TF.adjust_contrast(v, contrast_factor=1.0 + m)),
    "Sharpness": (_scaled(0.9, 0.9), True, lambda v, m: adjust_sharpness(v, 1.0 + m)),
    "Posterize": (_posterize_bits, False, lambda v, m: TF.posterize(v, bits=int(m))),
    "Solarize": (_solarize_thresholds, False, lambda v, m: TF.solarize(v, threshold=255 * m)),
    "AutoContrast": (_none, False, lambda v, m: TF.autocontrast(v)),
    "Equalize": (_none, False, lambda v, m: TF.equalize(v)),
}


class PaperScaleRandAugment:
    """RandAugment with the paper's magnitude scale (and TF's / timm's) on uint8 [..., C, H, W].

    There magnitude 10 is each op's full strength (rotate 30°, shear 0.3, translate 45% of the side,
    colour factors 1 ± 0.9, posterize to 4 bits, solarize everything) and larger values extrapolate:
    ResNet-RS trains with 15 at 224 px. torchvision's own `magnitude` spreads the same strengths over
    31 bins, so its 10 is a third of the paper's 10. Colour factors stop at 1 ± 0.9 (a factor of 0.1
    is timm's floor; below it a clip goes black or flat grey) and posterize at 1 bit. Areas that
    rotation, shear and translation uncover are mid-grey (128), as in TF and timm. `ops` restricts the
    table (e.g. to inspect one op); the default is all of it.
    """

    def __init__(self, num_ops: int, magnitude: int, ops: Sequence[str] | None = None):
        if not 0 <= magnitude <= MAX_MAGNITUDE:
            raise ValueError(f"RandAugment magnitude {magnitude} is outside 0..{MAX_MAGNITUDE} (paper scale)")
        if num_ops < 0:
            raise ValueError(f"RandAugment num_ops must be >= 0, got {num_ops}")
        unknown = sorted(set(ops or ()) - set(OPS))
        if unknown:
            raise ValueError(f"unknown RandAugment ops {unknown}; choose from {list(OPS)}")
        self.num_ops, self.magnitude = num_ops, magnitude
        self.ops = {name: OPS[name] for name in (ops or OPS)}

    def __call__(self, video: torch.Tensor) -> torch.Tensor:
        height, width = video.shape[-2:]
        names = tuple(self.ops)
        for _ in range(self.num_ops):
            magnitudes_of, signed, apply = self.ops[names[int(torch.randint(len(names), ()))]]
            magnitudes = magnitudes_of(MAX_MAGNITUDE + 1, height, width)
            magnitude = 0.0
            if magnitudes is not None:
                magnitude = float(magnitudes[self.magnitude])
                if signed and torch.rand(()) <= 0.5:
                    magnitude *= -1
            video = apply(video, magnitude)
        return video


class ClipRandAugment:
    """RandAugment with one draw per clip, shared by all its frames, on any device.

    `video` takes one [T, C, H, W] clip (the loader's path); calling it takes a uint8 batch
    [B, C, T, H, W] and gives every clip its own draw (the on-device path, `AUG.ON_DEVICE`).
    `magnitude` is on the paper's scale (`PaperScaleRandAugment`).
    """

    def __init__(self, num_ops: int, magnitude: int, ops: Sequence[str] | None = None):
        self._op = PaperScaleRandAugment(num_ops=num_ops, magnitude=magnitude, ops=ops)

    def video(self, video: torch.Tensor) -> torch.Tensor:
        return self._op(video.contiguous())

    def __call__(self, clips: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.video(clip.transpose(0, 1)).transpose(0, 1) for clip in clips])
