"""RandAugment on uint8 clips, on the paper's magnitude scale, from our own op table.

The ops, their order and the random draws are torchvision's `v2.RandAugment` (so a seed gives the
same clip as it would there); the table of strengths is the paper's, and it lives here instead of
in an override of torchvision's private `_AUGMENTATION_SPACE`. Every op runs once on the whole clip
[T, C, H, W] (all frames share the draw). On uint8 clips on the CPU the ops come from
`randaugment_ops`: the same pixels as torchvision's, bit for bit, at a fraction of the cost.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from video_rs.data.randaugment_ops import (FILL, adjust_contrast, adjust_saturation, adjust_sharpness, autocontrast,
                                           equalize, pointwise, rotate, shear, torchvision_rotate, torchvision_shear,
                                           translate)

MAX_MAGNITUDE = 30  # paper-scale magnitudes 0..30 (3x each op's usual maximum); the paper uses 10 and 15


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


def _posterize_bits(num_bins: int, height: int, width: int) -> torch.Tensor:
    return (8 - _scaled(4.0, 7.0)(num_bins, height, width)).round().int()


def _solarize_thresholds(num_bins: int, height: int, width: int) -> torch.Tensor:
    return 1.0 - _scaled(1.0, 1.0)(num_bins, height, width)


def _torchvision_translate(video: torch.Tensor, pixels: list[int]) -> torch.Tensor:
    return TF.affine(video, angle=0.0, translate=pixels, scale=1.0, shear=[0.0, 0.0],
                     interpolation=InterpolationMode.NEAREST, fill=FILL)


# The torchvision functional each op of OPS replaces, called as torchvision's RandAugment calls it: the
# reference that the tests hold OPS to, pixel for pixel, and that the benchmark times OPS against.
TORCHVISION_OPS: dict[str, Callable[[torch.Tensor, float], torch.Tensor]] = {
    "Identity": lambda v, m: v,
    "ShearX": lambda v, m: torchvision_shear(v, m, 0),
    "ShearY": lambda v, m: torchvision_shear(v, m, 1),
    "TranslateX": lambda v, m: _torchvision_translate(v, [int(m), 0]),
    "TranslateY": lambda v, m: _torchvision_translate(v, [0, int(m)]),
    "Rotate": lambda v, m: torchvision_rotate(v, m),
    "Brightness": lambda v, m: TF.adjust_brightness(v, brightness_factor=1.0 + m),
    "Color": lambda v, m: TF.adjust_saturation(v, saturation_factor=1.0 + m),
    "Contrast": lambda v, m: TF.adjust_contrast(v, contrast_factor=1.0 + m),
    "Sharpness": lambda v, m: TF.adjust_sharpness(v, sharpness_factor=1.0 + m),
    "Posterize": lambda v, m: TF.posterize(v, bits=int(m)),
    "Solarize": lambda v, m: TF.solarize(v, threshold=255 * m),
    "AutoContrast": lambda v, m: TF.autocontrast(v),
    "Equalize": lambda v, m: TF.equalize(v),
}


Magnitudes = Callable[[int, int, int], "torch.Tensor | None"]
# name: (magnitudes by bin, signed, op(video, magnitude)); torchvision's RandAugment order, which the draws index
OPS: dict[str, tuple[Magnitudes, bool, Callable[[torch.Tensor, float], torch.Tensor]]] = {
    "Identity": (_none, False, lambda v, m: v),
    "ShearX": (_scaled(0.3), True, lambda v, m: shear(v, m, 0)),
    "ShearY": (_scaled(0.3), True, lambda v, m: shear(v, m, 1)),
    "TranslateX": (_scaled(lambda height, width: 150.0 / 331.0 * width), True, lambda v, m: translate(v, int(m), 0)),
    "TranslateY": (_scaled(lambda height, width: 150.0 / 331.0 * height), True, lambda v, m: translate(v, int(m), 1)),
    "Rotate": (_scaled(30.0), True, lambda v, m: rotate(v, m)),
    "Brightness": (_scaled(0.9, 0.9), True, lambda v, m: pointwise(v, lambda x: TORCHVISION_OPS["Brightness"](x, m))),
    "Color": (_scaled(0.9, 0.9), True, lambda v, m: adjust_saturation(v, 1.0 + m)),
    "Contrast": (_scaled(0.9, 0.9), True, lambda v, m: adjust_contrast(v, 1.0 + m)),
    "Sharpness": (_scaled(0.9, 0.9), True, lambda v, m: adjust_sharpness(v, 1.0 + m)),
    "Posterize": (_posterize_bits, False, TORCHVISION_OPS["Posterize"]),  # a bitwise and: already cheap
    "Solarize": (_solarize_thresholds, False, lambda v, m: pointwise(v, lambda x: TORCHVISION_OPS["Solarize"](x, m))),
    "AutoContrast": (_none, False, lambda v, m: autocontrast(v)),
    "Equalize": (_none, False, lambda v, m: equalize(v)),
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
