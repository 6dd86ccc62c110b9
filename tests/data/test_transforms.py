"""Clip transforms: one draw per clip for every frame, exact test crops, uint8 until normalize_clips."""
import numpy as np
import pytest
import torch

from video_rs.data.transforms import (ClipRandAugment, EvalTransform, TrainTransform, crop_and_resize, frames_to_video,
                                      frame_planes, gather_clip, normalize_clips, random_resized_crop_box, scale_jitter_crop_box,
                                      spatial_crop_boxes, to_clip)


def textured_frame(height=60, width=90, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def static_video(num_frames=6, height=60, width=90):
    """A clip of identical frames [T, C, H, W] uint8."""
    return frames_to_video(np.repeat(textured_frame(height, width)[None], num_frames, axis=0))


@pytest.mark.parametrize("area", [(0.08, 1.0), None])
def test_identical_frames_stay_identical_after_train_augmentation(area):
    torch.manual_seed(0)
    transform = TrainTransform(crop_size=32, area_range=area, aspect_range=(0.5, 2.0), jitter_scales=(40, 60),
                               flip=True, randaug_num_ops=3, randaug_magnitude=15)
    video = static_video()
    outputs = [transform(video) for _ in range(12)]
    for clip in outputs:
        assert clip.dtype == torch.uint8 and clip.shape == (3, 6, 32, 32)
        assert all(torch.equal(clip[:, 0], clip[:, t]) for t in range(1, 6))
    assert len({clip[:, 0].numpy().tobytes() for clip in outputs}) == 12  # but each clip draws anew


def test_randaugment_changes_pixels_when_enabled_and_never_when_disabled():
    torch.manual_seed(1)
    video = static_video(height=32, width=32)
    plain = TrainTransform(crop_size=32, area_range=(1.0, 1.0), aspect_range=(1.0, 1.0), flip=False)
    assert all(torch.equal(plain(video), video.permute(1, 0, 2, 3)) for _ in range(3))
    augmented = TrainTransform(crop_size=32, area_range=(1.0, 1.0), aspect_range=(1.0, 1.0), flip=False,
                               randaug_num_ops=2, randaug_magnitude=20)
    assert sum(not torch.equal(augmented(video), video.permute(1, 0, 2, 3)) for _ in range(10)) >= 8


def _forced(augment: ClipRandAugment, op_name: str) -> ClipRandAugment:
    """The same RandAugment with its table restricted to `op_name` (one op per call)."""
    return ClipRandAugment(num_ops=1, magnitude=augment._op.magnitude, ops=[op_name])


@pytest.mark.parametrize("magnitude, degrees", [(10, 30.0), (15, 45.0), (5, 15.0)])
def test_randaugment_magnitude_is_on_the_papers_scale(magnitude, degrees):
    """Paper / TF / timm: magnitude 10 rotates by the full 30°, 15 by 45° (torchvision's 10 would be 10°)."""
    from torchvision.transforms.v2 import functional as F

    video = static_video()
    out = _forced(ClipRandAugment(num_ops=1, magnitude=magnitude), "Rotate").video(video)
    candidates = [F.rotate(video, sign * degrees, fill=128) for sign in (1, -1)]
    assert any(torch.equal(out, c) for c in candidates)
    assert (out == 128).any()  # the uncovered corners are mid-grey, as in TF and timm


@pytest.mark.parametrize("magnitude, bits", [(10, 4), (15, 2), (30, 1)])
def test_randaugment_posterize_and_solarize_follow_the_papers_scale(magnitude, bits):
    video = static_video()
    posterized = _forced(ClipRandAugment(num_ops=1, magnitude=magnitude), "Posterize").video(video)
    assert torch.equal(posterized, video & (0xFF << (8 - bits) & 0xFF))
    solarized = _forced(ClipRandAugment(num_ops=1, magnitude=magnitude), "Solarize").video(video)
    assert torch.equal(solarized, 255 - video)  # at 10 and above every pixel is over the threshold


@pytest.mark.parametrize("magnitude", [10, 15, 30])
def test_randaugment_brightness_never_blanks_the_clip(magnitude):
    """Colour factors stop at 1 ± 0.9: at the paper's 15 a darkened clip keeps a tenth of its brightness."""
    from torchvision.transforms.v2 import functional as F

    video = static_video()
    out = _forced(ClipRandAugment(num_ops=1, magnitude=magnitude), "Brightness").video(video)
    assert any(torch.equal(out, F.adjust_brightness(video, factor)) for factor in (0.1, 1.9))


def test_randaugment_magnitude_outside_the_scale_is_refused():
    with pytest.raises(ValueError, match="outside 0..30"):
        ClipRandAugment(num_ops=2, magnitude=31)


def test_batched_randaugment_draws_per_clip_exactly_as_the_loader_path_does():
    """AUG.ON_DEVICE runs the same draws on a [B, C, T, H, W] batch as the workers do clip by clip."""
    augment = ClipRandAugment(num_ops=3, magnitude=20)
    clips = torch.stack([static_video(4, 32, 32).permute(1, 0, 2, 3)] * 6)  # 6 identical clips [C, T, H, W]
    torch.manual_seed(5)
    batched = augment(clips)
    torch.manual_seed(5)
    one_by_one = torch.stack([augment.video(clip.permute(1, 0, 2, 3)).permute(1, 0, 2, 3) for clip in clips])
    assert batched.dtype == torch.uint8 and batched.shape == clips.shape
    assert torch.equal(batched, one_by_one)
    assert all(torch.equal(clip[:, 0], clip[:, t]) for clip in batched for t in range(1, 4))  # one draw per clip
    assert len({clip.numpy().tobytes() for clip in batched}) == 6  # each clip its own draw


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_batched_randaugment_on_cuda_equals_cpu():
    augment = ClipRandAugment(num_ops=2, magnitude=15)
    clips = torch.randint(0, 256, (4, 3, 4, 32, 32), dtype=torch.uint8)
    torch.manual_seed(7)
    cpu = augment(clips)
    torch.manual_seed(7)
    cuda = augment(clips.cuda()).cpu()
    assert (cuda.int() - cpu.int()).abs().max() <= 1  # float rounding in the affine ops


def test_flip_is_horizontal_and_happens_about_half_the_time():
    torch.manual_seed(2)
    video = static_video(height=32, width=32)
    transform = TrainTransform(crop_size=32, area_range=(1.0, 1.0), aspect_range=(1.0, 1.0), flip=True)
    original = video.permute(1, 0, 2, 3)
    outs = [transform(video) for _ in range(200)]
    flipped = sum(torch.equal(o, original.flip(-1)) for o in outs)
    assert sum(torch.equal(o, original) for o in outs) + flipped == 200 and 70 < flipped < 130


def test_random_resized_crop_boxes_respect_area_and_aspect_ranges():
    torch.manual_seed(3)
    for _ in range(300):
        top, left, h, w = random_resized_crop_box(240, 320, (0.08, 1.0), (0.5, 2.0))
        assert 0 <= top and top + h <= 240 and 0 <= left and left + w <= 320
        assert 0.07 <= h * w / (240 * 320) <= 1.0
        assert 0.45 <= w / h <= 2.1


def test_scale_jitter_box_is_the_crop_of_a_short_side_resize():
    torch.manual_seed(4)
    sides = set()
    for _ in range(200):
        top, left, h, w = scale_jitter_crop_box(240, 320, (256, 320), 224)
        assert h == w and top + h <= 240 and left + w <= 320
        assert 224 * 240 / 320 - 1 <= h <= 224 * 240 / 256 + 1  # crop 224 of a 256..320 short side
        sides.add(h)
    assert len(sides) > 10


@pytest.mark.parametrize("height,width", [(60, 90), (90, 60)])
def test_three_test_crops_are_both_ends_and_centre_of_the_long_side(height, width):
    boxes = spatial_crop_boxes(height, width, 3)
    long_offsets = [b[0] if height > width else b[1] for b in boxes]
    assert long_offsets == [0, 15, 30] and all(b[2] == b[3] == 60 for b in boxes)
    assert spatial_crop_boxes(height, width, 1) == [boxes[1]]


def test_eval_crops_equal_short_side_resize_then_crop():
    frames = np.repeat(textured_frame(60, 90)[None], 2, axis=0)
    video = frames_to_video(frames)
    crops = EvalTransform(crop_size=40, num_crops=3)(video)
    assert crops.shape == (3, 3, 2, 40, 40) and crops.dtype == torch.uint8
    resized = crop_and_resize(video, (0, 0, 60, 90), (40, 60))  # short side 60 -> 40
    for crop, left in zip(crops, (0, 10, 20)):
        reference = resized[..., left:left + 40].permute(1, 0, 2, 3).float()
        assert (crop.float() - reference).abs().mean() < 6  # resampling order differs, content does not


def test_eval_crop_of_known_layout_lands_where_expected():
    frames = np.zeros((1, 40, 120, 3), np.uint8)
    frames[..., :40, :] = 50
    frames[..., 40:80, :] = 150
    frames[..., 80:, :] = 250
    crops = EvalTransform(crop_size=20, num_crops=3)(frames_to_video(frames))
    assert [int(c.float().mean().round()) for c in crops] == [50, 150, 250]


def test_normalize_clips_matches_the_formula_in_float32():
    clips = torch.randint(0, 256, (2, 3, 4, 5, 5), dtype=torch.uint8)
    mean, std = (0.45, 0.4, 0.35), (0.225, 0.25, 0.2)
    out = normalize_clips(clips, mean, std)
    expected = (clips.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1, 1)
    assert out.dtype == torch.float32 and torch.allclose(out, expected, atol=1e-6)
    assert torch.allclose(normalize_clips(clips, (0, 0, 0), (1, 1, 1)), clips.float() / 255)
    assert torch.allclose(normalize_clips(clips[0], mean, std), expected[0], atol=1e-6)
    assert clips.dtype == torch.uint8  # input untouched


@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("flip", [False, True])
def test_to_clip_equals_torchs_permute_and_flip(channels_last, flip):
    frames = torch.randint(0, 256, (5, 7, 9, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    video = frames.permute(0, 3, 1, 2) if channels_last else frames.permute(0, 3, 1, 2).contiguous()
    expected = (video.flip(-1) if flip else video).permute(1, 0, 2, 3)
    assert torch.equal(to_clip(video, flip=flip), expected)
    out = torch.zeros(2, 3, 5, 7, 9, dtype=torch.uint8)
    to_clip(video, out[1], flip=flip)  # into a slot of a batch
    assert torch.equal(out[1], expected) and not out[0].any()
    as_float = to_clip(video.float(), flip=flip)  # torch's own copy for what numpy does not take
    assert torch.equal(as_float, expected.float()) and as_float.is_contiguous()
    planes = frame_planes(video, flip=flip)  # what RandAugment gets: the same frames, each channel a whole plane
    assert torch.equal(planes, video.flip(-1) if flip else video) and planes.is_contiguous()


def test_gather_clip_equals_index_select_into_the_clip_layout():
    frames = torch.randint(0, 256, (6, 4, 5, 3), dtype=torch.uint8).permute(0, 3, 1, 2)  # channels-last, as resized
    indices = np.array([0, 0, 2, 5, 3])
    out = torch.zeros(2, 3, 5, 4, 5, dtype=torch.uint8)
    gather_clip(frames, indices, out[0])
    assert torch.equal(out[0], frames[torch.as_tensor(indices)].permute(1, 0, 2, 3)) and not out[1].any()


def test_a_flipped_clip_is_flipped_before_randaugment():
    """RandAugment's shears, rotations and translations are not mirror-symmetric: the flip must come first."""
    video = torch.randint(0, 256, (3, 3, 24, 24), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    transform = TrainTransform(crop_size=24, area_range=(1.0, 1.0), aspect_range=(1.0, 1.0), flip=True,
                               randaug_num_ops=2, randaug_magnitude=15)
    for seed in range(30):
        torch.manual_seed(seed)
        got = transform(video)
        torch.manual_seed(seed)  # the transform's draws, in its order: crop box (the whole frame here), flip, ops
        assert random_resized_crop_box(24, 24, (1.0, 1.0), (1.0, 1.0)) == (0, 0, 24, 24)
        flipped = bool(torch.rand(()) < 0.5)
        augmented = transform._randaug.video(video.flip(-1) if flipped else video)
        assert torch.equal(got, augmented.permute(1, 0, 2, 3)), seed
