"""DATA.TRAIN_CROP_STYLE "tf": Model Garden's random-resized-crop (TF sample_distorted_bounding_box)."""
import math

import numpy as np
import pytest
import torch

from video_rs.data.transforms import (TrainTransform, crop_and_resize, frames_to_video, random_resized_crop_box,
                                      tf_crop_and_resize, tf_random_crop_box)


def test_tf_boxes_lie_in_the_frame_cover_ten_percent_and_keep_the_aspect_range():
    torch.manual_seed(0)
    height, width = 240, 320
    for _ in range(500):
        top, left, h, w = tf_random_crop_box(height, width, (0.08, 1.0), (0.5, 2.0))
        assert 0 <= top and top + h <= height and 0 <= left and left + w <= width
        assert h * w >= 0.1 * height * width  # min_object_covered 0.1 beats the 0.08 area floor
        if (h, w) != (height, width):
            assert 0.5 - 1 / h <= w / h <= 2.0 + 1 / h  # w = round(h * aspect)


def test_tf_aspect_is_uniform_not_log_uniform():
    torch.manual_seed(0)
    aspects = [w / h for _, _, h, w in (tf_random_crop_box(1000, 1000, (0.1, 0.5), (0.5, 2.0)) for _ in range(2000))]
    torch.manual_seed(0)
    log_aspects = [w / h for _, _, h, w in (random_resized_crop_box(1000, 1000, (0.1, 0.5), (0.5, 2.0))
                                             for _ in range(2000))]
    assert np.mean(aspects) == pytest.approx(1.25, abs=0.03)  # uniform on [0.5, 2]
    assert np.mean(log_aspects) == pytest.approx(1.5 / math.log(4), abs=0.03)  # log-uniform: 1.08


def test_tf_crop_height_is_uniform_between_its_bounds():
    """At aspect 1 on a square frame the height is uniform on [sqrt(min_area), sqrt(max_area)]."""
    torch.manual_seed(0)
    heights = [h for _, _, h, _ in (tf_random_crop_box(400, 400, (0.25, 1.0), (1.0, 1.0)) for _ in range(3000))]
    assert min(heights) == 200 and max(heights) == 400
    assert np.mean(heights) == pytest.approx(300, abs=3)  # uniform in height (area-uniform would give 311)


def test_tf_falls_back_to_the_whole_frame_where_torchvision_centre_crops():
    torch.manual_seed(0)
    # aspect 3..4 on a square frame holds at most a third of it: no attempt reaches 90% of the area
    assert tf_random_crop_box(60, 60, (0.9, 1.0), (3.0, 4.0)) == (0, 0, 60, 60)
    assert random_resized_crop_box(60, 60, (0.9, 1.0), (3.0, 4.0)) == (20, 0, 20, 60)  # centre band


def test_tf_resize_is_bilinear_without_antialias_and_truncates():
    row = torch.tensor([0, 101, 200, 251], dtype=torch.uint8)
    video = row.expand(1, 1, 4, 4).contiguous()
    out = tf_crop_and_resize(video, (0, 0, 4, 4), 2)
    assert out.dtype == torch.uint8
    assert out[0, 0, 0].tolist() == [50, 225]  # (0+101)/2 = 50.5 and (200+251)/2 = 225.5, truncated
    assert crop_and_resize(video, (0, 0, 4, 4), 2)[0, 0, 0].tolist() != [50, 225]  # antialiased path differs


def test_train_transform_uses_the_tf_crop_when_asked():
    frames = np.random.default_rng(0).integers(0, 256, (4, 48, 64, 3), dtype=np.uint8)
    transform = TrainTransform(crop_size=32, area_range=(0.08, 1.0), aspect_range=(0.5, 2.0), crop_style="tf")
    clip = transform(frames_to_video(frames))
    assert clip.shape == (3, 4, 32, 32) and clip.dtype == torch.uint8
    with pytest.raises(ValueError, match="crop style"):
        TrainTransform(crop_size=32, area_range=(0.08, 1.0), crop_style="keras")
