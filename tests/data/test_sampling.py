"""Clip frame indices: random training clips, uniform test clips covering head to tail, fps mapping, clamping."""
import numpy as np
import pytest
import torch

from video_rs.data.sampling import clip_span, random_clip_indices, source_step, uniform_clip_indices


def test_random_clips_stay_inside_and_cover_every_start():
    gen = torch.Generator().manual_seed(0)
    starts = set()
    for _ in range(400):
        clip = random_clip_indices(100, 8, 2, 30.0, 30.0, gen)
        assert np.array_equal(np.diff(clip), np.full(7, 2))
        assert clip[0] >= 0 and clip[-1] <= 99
        starts.add(int(clip[0]))
    assert min(starts) == 0 and max(starts) == 100 - 1 - 14 and len(starts) > 60


def test_random_clip_is_reproducible_from_the_generator():
    a = random_clip_indices(300, 32, 2, 30.0, 30.0, torch.Generator().manual_seed(5))
    b = random_clip_indices(300, 32, 2, 30.0, 30.0, torch.Generator().manual_seed(5))
    assert np.array_equal(a, b)


@pytest.mark.parametrize("num_clips", [2, 3, 10])
def test_uniform_clips_start_at_the_first_frame_and_end_at_the_last(num_clips):
    clips = uniform_clip_indices(300, 32, 2, 30.0, 30.0, num_clips)
    assert len(clips) == num_clips
    assert clips[0][0] == 0 and clips[-1][-1] == 299
    starts = [c[0] for c in clips]
    assert np.all(np.diff(starts) > 0) and np.ptp(np.diff(starts)) <= 1  # evenly spaced
    assert all(np.array_equal(np.diff(c), np.full(31, 2)) for c in clips)


def test_single_test_clip_is_centred():
    (clip,) = uniform_clip_indices(101, 11, 2, 30.0, 30.0, 1)
    assert clip[0] == 100 - clip[-1] == 40


def test_short_video_clamps_to_the_last_frame():
    (clip,) = uniform_clip_indices(10, 8, 2, 30.0, 30.0, 1)
    assert clip.tolist() == [0, 2, 4, 6, 8, 9, 9, 9]
    clips = uniform_clip_indices(10, 8, 2, 30.0, 30.0, 3)
    assert all(c.tolist() == clip.tolist() for c in clips)
    train = random_clip_indices(10, 8, 2, 30.0, 30.0, torch.Generator().manual_seed(0))
    assert train.tolist() == clip.tolist()


def test_target_fps_makes_clips_cover_the_same_duration():
    """At 60 fps a 30-fps-timeline clip takes every 4th source frame (rate 2), at 15 fps every frame."""
    assert source_step(2, 60.0, 30.0) == 4.0 and source_step(2, 15.0, 30.0) == 1.0
    (fast,) = uniform_clip_indices(600, 8, 2, 60.0, 30.0, 1)
    (slow,) = uniform_clip_indices(150, 8, 2, 15.0, 30.0, 1)
    assert np.array_equal(np.diff(fast), np.full(7, 4)) and np.array_equal(np.diff(slow), np.full(7, 1))
    assert clip_span(8, 2, 60.0, 30.0) / 60.0 == clip_span(8, 2, 15.0, 30.0) / 15.0
    (odd,) = uniform_clip_indices(250, 5, 2, 25.0, 30.0, 1)  # 25 fps: steps of 5/3 frame, rounded
    assert np.abs(np.diff(odd) - 25.0 / 15).max() < 1


def test_short_video_loops_when_asked():
    """DATA.SHORT_VIDEO loop (Model Garden): a short video repeats from its start instead of freezing."""
    (clip,) = uniform_clip_indices(10, 8, 2, 30.0, 30.0, 1, short_video="loop")
    assert clip.tolist() == [0, 2, 4, 6, 8, 0, 2, 4]
    assert all(c.tolist() == clip.tolist() for c in uniform_clip_indices(10, 8, 2, 30.0, 30.0, 3, short_video="loop"))
    gen = torch.Generator().manual_seed(0)
    starts = set()
    for _ in range(200):
        train = random_clip_indices(10, 8, 2, 30.0, 30.0, gen, short_video="loop")
        assert train.min() >= 0 and train.max() <= 9
        assert np.all(np.diff(train) % 10 == 2)  # stride 2, wrapping at the end of the video
        starts.add(int(train[0]))
    assert starts == set(range(10))  # a looped short video may start at any frame
    # videos long enough for the clip are sampled exactly as with clamping
    looped = random_clip_indices(100, 8, 2, 30.0, 30.0, torch.Generator().manual_seed(3), short_video="loop")
    assert np.array_equal(looped, random_clip_indices(100, 8, 2, 30.0, 30.0, torch.Generator().manual_seed(3)))
    with pytest.raises(ValueError, match="short_video"):
        uniform_clip_indices(10, 8, 2, 30.0, 30.0, 1, short_video="pad")


@pytest.mark.parametrize("mode, expected", [("clamp", [0, 2, 4, 6, 8, 9, 9, 9]), ("loop", [0, 2, 4, 6, 8, 0, 2, 4])])
def test_short_real_video_is_clamped_or_looped_by_the_dataset(tmp_path, index_frames, frame_numbers, write_test_video,
                                                              mode, expected):
    """A 10-frame mp4 and 8-frame clips at rate 2: DATA.SHORT_VIDEO decides what fills the clip's tail."""
    from video_rs.config import load_cfg
    from video_rs.data import build_loader

    write_test_video(str(tmp_path / "short.mp4"), index_frames(10, 32, 32), fps=30, crf=4)
    (tmp_path / "val.csv").write_text("short.mp4 0\n")
    cfg = load_cfg(None, ["DATA.PATH_TO_DATA_DIR", str(tmp_path), "OUTPUT_DIR", str(tmp_path), "MODEL.NUM_CLASSES",
                          "1", "DATA.NUM_FRAMES", "8", "DATA.SAMPLING_RATE", "2", "DATA.TEST_CROP_SIZE", "32",
                          "DATA_LOADER.NUM_WORKERS", "0", "DATA_LOADER.PIN_MEMORY", "False", "DATA.DECODING_BACKEND",
                          "pyav", "DATA.SHORT_VIDEO", mode])
    clips, *_ = next(iter(build_loader(cfg, "val")))
    assert list(frame_numbers(clips[0].permute(1, 2, 3, 0).numpy())) == expected
