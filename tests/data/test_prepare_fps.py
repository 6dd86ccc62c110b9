"""Training copies at the rate the recipe samples (prepare --fps): the sampler then picks the original's frames."""
import itertools

import numpy as np
import pytest
import torch

from video_rs.data.decoders import decode, open_video
from video_rs.data.prepare import kept_frames, resize_video
from video_rs.data.sampling import random_clip_indices, uniform_clip_indices

NUM_FRAMES, RATE, TARGET_FPS = 8, 2, 30  # a recipe sampling every 2nd frame at 30 fps: 15 frames per second


@pytest.fixture(scope="module")
def original_and_copy(tmp_path_factory, index_frames, write_test_video):
    root = tmp_path_factory.mktemp("prepare_fps")
    original = write_test_video(str(root / "original.mp4"), index_frames(60), fps=30, crf=4, gop=60)
    copy = resize_video(original, str(root / "copy.mp4"), short_side=36, gop=4, crf=4, fps=TARGET_FPS / RATE)
    assert copy == "done"
    return original, str(root / "copy.mp4")


def test_kept_frames_are_the_ones_the_sampler_rounds_to():
    assert [i for i, keep in zip(range(12), kept_frames(30.0, 15.0)) if keep] == [0, 2, 4, 6, 8, 10]
    keep = [i for i, k in zip(range(3000), kept_frames(30000 / 1001, 15.0)) if k]
    assert keep == [round(m * 30000 / 1001 / 15) for m in range(len(keep))]  # 29.97 fps: nearest frames
    assert all(itertools.islice(kept_frames(25.0, 30.0), 50))  # never faster than the source


@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_the_copy_holds_every_second_frame_and_clips_pick_the_originals_times(original_and_copy, frame_numbers,
                                                                              backend):
    original, copy = original_and_copy
    with open_video(original, backend) as source, open_video(copy, backend) as prepared:
        assert (prepared.num_frames, prepared.fps) == (30, 15.0)
        assert (frame_numbers(prepared.get(range(30))) == np.arange(0, 60, 2)).all()  # frame m is original 2m
        for seed in range(40):
            wanted = random_clip_indices(source.num_frames, NUM_FRAMES, RATE, source.fps, TARGET_FPS,
                                         torch.Generator().manual_seed(seed))
            got = random_clip_indices(prepared.num_frames, NUM_FRAMES, RATE, prepared.fps, TARGET_FPS,
                                      torch.Generator().manual_seed(seed))
            shown = frame_numbers(prepared.get(got))
            assert (shown == 2 * got).all() and (np.diff(shown) == RATE).all()  # the recipe's stride, same span
            assert np.abs(shown - wanted).max() <= 2  # the nearest even start: at most 2 frames (1/15 s) apart
        views = zip(uniform_clip_indices(source.num_frames, NUM_FRAMES, RATE, source.fps, TARGET_FPS, 5),
                    uniform_clip_indices(prepared.num_frames, NUM_FRAMES, RATE, prepared.fps, TARGET_FPS, 5))
        for wanted, got in views:
            assert np.abs(frame_numbers(prepared.get(got)) - wanted).max() <= 2


def test_a_fast_decode_copy_is_x264_fastdecode_and_holds_the_same_frames(original_and_copy, frame_numbers, tmp_path):
    """--fast-decode changes only how the frames are coded (CAVLC, no deblocking), never which frames."""
    original, plain = original_and_copy
    fast = str(tmp_path / "fast.mp4")
    assert resize_video(original, fast, short_side=36, gop=4, crf=4, fps=TARGET_FPS / RATE, fast_decode=True) == "done"
    settings = {path: open(path, "rb").read() for path in (plain, fast)}
    assert b"cabac=0" in settings[fast] and b"deblock=0" in settings[fast]  # x264's own record of its options
    assert b"cabac=1" in settings[plain] and b"deblock=1" in settings[plain]
    for backend in ("pyav", "decord"):
        with open_video(fast, backend) as video:
            assert (video.num_frames, video.fps) == (30, 15.0)
            assert (frame_numbers(video.get(range(30))) == np.arange(0, 60, 2)).all()
    assert (decode(fast, range(30), "decord") == decode(fast, range(30), "pyav")).all()
