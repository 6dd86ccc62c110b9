"""RandAugment from our own op table: the same clips as torchvision's RandAugment with the paper's table, and
every op the same pixels as the torchvision functional it replaces, bit for bit."""
import random

import pytest
import torch
from torchvision.transforms.v2 import functional as F

from video_rs.data.randaugment import MAX_MAGNITUDE, OPS, TORCHVISION_OPS, ClipRandAugment, adjust_sharpness, translate


def _scaled(maximum, limit=None):
    def magnitudes(num_bins, height, width):
        top = maximum(height, width) if callable(maximum) else maximum
        values = torch.arange(num_bins, dtype=torch.float32) * (top / 10)
        return values if limit is None else values.clamp(max=limit)

    return magnitudes


def reference_randaugment(num_ops, magnitude):
    """The former implementation, verbatim: torchvision's RandAugment with its private table overridden."""
    from torchvision.transforms import v2

    class Reference(v2.RandAugment):
        _AUGMENTATION_SPACE = {
            "Identity": (lambda num_bins, height, width: None, False),
            "ShearX": (_scaled(0.3), True),
            "ShearY": (_scaled(0.3), True),
            "TranslateX": (_scaled(lambda height, width: 150.0 / 331.0 * width), True),
            "TranslateY": (_scaled(lambda height, width: 150.0 / 331.0 * height), True),
            "Rotate": (_scaled(30.0), True),
            "Brightness": (_scaled(0.9, 0.9), True),
            "Color": (_scaled(0.9, 0.9), True),
            "Contrast": (_scaled(0.9, 0.9), True),
            "Sharpness": (_scaled(0.9, 0.9), True),
            "Posterize": (lambda num_bins, height, width: (8 - _scaled(4.0, 7.0)(num_bins, height, width)).round().int(),
                          False),
            "Solarize": (lambda num_bins, height, width: 1.0 - _scaled(1.0, 1.0)(num_bins, height, width), False),
            "AutoContrast": (lambda num_bins, height, width: None, False),
            "Equalize": (lambda num_bins, height, width: None, False),
        }

    from torchvision import tv_tensors

    op = Reference(num_ops=num_ops, magnitude=magnitude, num_magnitude_bins=31, fill=128)
    return lambda video: op(tv_tensors.Video(video.contiguous())).as_subclass(torch.Tensor)


def textured_video(seed, frames=3, height=20, width=28):
    return torch.randint(0, 256, (frames, 3, height, width), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("num_ops, magnitude", [(1, 10), (2, 15), (3, 30), (2, 0)])
def test_same_clips_as_torchvisions_randaugment_with_the_paper_table(num_ops, magnitude):
    ours, reference = ClipRandAugment(num_ops, magnitude), reference_randaugment(num_ops, magnitude)
    drawn = set()
    for seed in range(60):
        video = textured_video(seed)
        torch.manual_seed(seed)
        expected = reference(video)
        torch.manual_seed(seed)
        assert torch.equal(ours.video(video), expected), f"seed {seed}"
        drawn.add(expected.numpy().tobytes())
    assert len(drawn) > 30 or magnitude == 0  # the seeds really draw different ops


def test_the_op_table_keeps_torchvisions_order():
    from torchvision.transforms import v2

    assert list(OPS) == list(v2.RandAugment._AUGMENTATION_SPACE)


@pytest.mark.parametrize("factor", [0.0, 0.1, 0.55, 1.0, 1.37, 1.9])
@pytest.mark.parametrize("shape", [(4, 3, 30, 41), (2, 3, 3, 3), (3, 1, 5, 7), (9, 3, 17, 12), (2, 5, 3, 8, 9)])
def test_sharpness_equals_torchvisions_per_frame(factor, shape):
    video = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    video[0, :, :2] = 255  # saturated and black areas: the clamp matters there
    video[-1, :, -2:] = 0
    expected = torch.stack([F.adjust_sharpness(frame, factor) for frame in video])
    out = adjust_sharpness(video, factor)
    assert out.dtype == torch.uint8 and (out.int() - expected.int()).abs().max() <= 1
    assert torch.equal(out, expected)  # in fact bit for bit


def test_an_unknown_op_is_refused_by_name():
    with pytest.raises(ValueError, match="Sharpen"):
        ClipRandAugment(1, 10, ops=["Sharpen"])


@pytest.mark.parametrize("height, width", [(20, 28), (21, 27)])
def test_translate_equals_torchvisions_affine_for_every_shift(height, width):
    from torchvision.transforms import InterpolationMode

    video = torch.randint(0, 256, (2, 3, height, width), dtype=torch.uint8, generator=torch.Generator().manual_seed(4))
    for axis in (0, 1):
        for pixels in range(-width - 2, width + 3):
            shift = [pixels, 0] if axis == 0 else [0, pixels]
            expected = F.affine(video, angle=0.0, translate=shift, scale=1.0, shear=[0.0, 0.0],
                                interpolation=InterpolationMode.NEAREST, fill=128)
            assert torch.equal(translate(video, pixels, axis), expected), (axis, pixels)


SIZES = [(1, 5, 7), (2, 7, 5), (1, 3, 3), (3, 16, 16), (2, 31, 45), (1, 33, 20), (2, 64, 97), (9, 17, 12)]  # (T, H, W)


def varied_clip(draw: random.Random, frames: int, height: int, width: int) -> torch.Tensor:
    """Random content of one of several kinds: full range, a narrow band, constant planes (per frame or per
    channel), only 0 and 255, or a tiny set of values; sometimes a non-contiguous view of it."""
    generator = torch.Generator().manual_seed(draw.randrange(2 ** 31))
    shape = (frames, 3, height, width)
    kind = draw.randrange(6)
    if kind == 0:
        clip = torch.randint(0, 256, shape, dtype=torch.uint8, generator=generator)
    elif kind == 1:
        low = draw.randrange(256)
        clip = torch.randint(low, min(low + draw.randrange(1, 40), 256), shape, dtype=torch.uint8, generator=generator)
    elif kind == 2:
        clip = torch.full(shape, draw.randrange(256), dtype=torch.uint8)
    elif kind == 3:
        clip = torch.randint(0, 256, (frames, 3, 1, 1), dtype=torch.uint8, generator=generator).expand(shape).clone()
    elif kind == 4:
        clip = torch.randint(0, 2, shape, dtype=torch.uint8, generator=generator) * 255
    else:
        values = torch.tensor(draw.sample(range(256), 3), dtype=torch.uint8)
        clip = values[torch.randint(0, 3, shape, generator=generator)]
    if draw.random() < 0.2:
        clip = clip.transpose(0, 1).contiguous().transpose(0, 1)  # same values, other strides
    return clip


@pytest.mark.parametrize("name", list(OPS))
def test_every_op_equals_torchvisions_functional_on_random_clips(name):
    magnitudes_of, signed, op = OPS[name]
    draw = random.Random(name)
    for attempt in range(200):
        frames, height, width = SIZES[attempt % len(SIZES)]
        clip = varied_clip(draw, frames, height, width)
        magnitudes = magnitudes_of(MAX_MAGNITUDE + 1, height, width)
        magnitude = 0.0
        if magnitudes is not None:
            magnitude = float(magnitudes[draw.randrange(MAX_MAGNITUDE + 1)]) * (draw.choice((1, -1)) if signed else 1)
        expected = TORCHVISION_OPS[name](clip, magnitude)
        out = op(clip, magnitude)
        assert out.dtype == torch.uint8 and out.shape == clip.shape
        assert torch.equal(out, expected), (attempt, tuple(clip.shape), magnitude)


@pytest.mark.parametrize("name", ["ShearX", "ShearY", "Rotate"])
@pytest.mark.parametrize("frames, height, width", [(2, 20, 28), (2, 21, 27), (2, 28, 20), (2, 24, 24), (1, 224, 224),
                                                   (1, 128, 171)])
def test_warps_as_a_gather_equal_torchvision_for_every_magnitude_and_sign(name, frames, height, width):
    magnitudes_of, _, op = OPS[name]
    clip = torch.randint(0, 256, (frames, 3, height, width), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(5))
    clip[0, 0] = 128  # a plane of the fill value itself
    for magnitude in magnitudes_of(MAX_MAGNITUDE + 1, height, width).tolist():
        for value in (magnitude, -magnitude):
            assert torch.equal(op(clip, value), TORCHVISION_OPS[name](clip, value)), value


@pytest.mark.parametrize("name", ["Brightness", "Color", "Contrast", "Solarize", "AutoContrast", "Equalize"])
@pytest.mark.parametrize("height, width", [(16, 16), (17, 19)])
def test_value_ops_hold_for_every_value_and_magnitude(name, height, width):
    """Every plane holds all 256 values (shuffled), so each op is checked at every input value (every entry
    of a table), in vector lanes and in odd-sized tails alike."""
    magnitudes_of, signed, op = OPS[name]
    generator = torch.Generator().manual_seed(6)
    planes = [torch.cat([torch.arange(256), torch.randint(0, 256, (height * width - 256,), generator=generator)])
              [torch.randperm(height * width, generator=generator)] for _ in range(2 * 3)]
    clip = torch.stack(planes).to(torch.uint8).reshape(2, 3, height, width)
    magnitudes = magnitudes_of(MAX_MAGNITUDE + 1, height, width)
    for magnitude in [0.0] if magnitudes is None else magnitudes.tolist():
        for value in (magnitude, -magnitude) if signed else (magnitude,):
            assert torch.equal(op(clip, value), TORCHVISION_OPS[name](clip, value)), value


@pytest.mark.parametrize("name", ["ShearX", "ShearY", "Rotate", "Brightness", "Color", "Contrast", "AutoContrast",
                                  "Equalize"])
def test_a_float_clip_takes_torchvisions_path(name):
    magnitudes_of, _, op = OPS[name]
    clip = torch.rand(2, 3, 9, 11, generator=torch.Generator().manual_seed(7))
    magnitudes = magnitudes_of(MAX_MAGNITUDE + 1, 9, 11)
    magnitude = 0.0 if magnitudes is None else float(magnitudes[5])
    assert torch.equal(op(clip, magnitude), TORCHVISION_OPS[name](clip, magnitude))
