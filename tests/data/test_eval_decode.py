"""The multi-view test decodes each video once: views equal decoding each alone, frames decoded ~ one pass."""
import numpy as np
import pytest
import torch

from video_rs.bench.data_compare import frames_decoded, keyframe_indices
from video_rs.config import load_cfg
from video_rs.data import FAILED_VIEW, build_loader
from video_rs.data import dataset as dataset_module
from video_rs.data.decoders import open_video
from video_rs.data.sampling import uniform_clip_indices
from video_rs.data.transforms import EvalTransform, frames_to_video

VIEWS, CROPS, NUM_FRAMES, RATE, CROP = 5, 3, 8, 2, 32


def textured_frames(num_frames, height=48, width=64, seed=0):
    """Moving noise: a wrong frame, crop or neighbour changes pixels everywhere."""
    base = np.random.default_rng(seed).integers(0, 256, (height, width * 2, 3), dtype=np.uint8)
    return np.stack([base[:, t % width:t % width + width] for t in range(num_frames)])


@pytest.fixture(scope="module")
def videos(tmp_path_factory, write_test_video):
    """A 90-frame clip (keyframe every 64, B-frames), a 600-frame one (views far apart), and a truncated copy."""
    root = tmp_path_factory.mktemp("eval_decode")
    short = write_test_video(str(root / "short.mp4"), textured_frames(90), crf=20, gop=64)
    long = write_test_video(str(root / "long.mp4"), textured_frames(600, 24, 32, seed=1), crf=30, gop=32)
    data = open(write_test_video(str(root / "whole.mp4"), textured_frames(90, seed=2), crf=20, gop=16,
                                 faststart=True), "rb").read()
    (root / "cut.mp4").write_bytes(data[: len(data) * 2 // 3])  # header intact, the last third of the frames gone
    rows = ["short.mp4 0", "long.mp4 1", "cut.mp4 0"]
    (root / "test.csv").write_text("\n".join(rows) + "\n")
    return str(root)


def eval_cfg(data_dir, out, backend):
    return load_cfg(None, ["DATA.PATH_TO_DATA_DIR", data_dir, "OUTPUT_DIR", out, "MODEL.NUM_CLASSES", "2",
                           "DATA.NUM_FRAMES", str(NUM_FRAMES), "DATA.SAMPLING_RATE", str(RATE),
                           "DATA.TEST_CROP_SIZE", str(CROP), "DATA.DECODING_BACKEND", backend,
                           "DATA_LOADER.NUM_WORKERS", "0", "DATA_LOADER.PIN_MEMORY", "False",
                           "TEST.NUM_ENSEMBLE_VIEWS", str(VIEWS), "TEST.NUM_SPATIAL_CROPS", str(CROPS),
                           "TEST.SPLIT", "test"])


def per_view(path, backend, k):
    """The reference: view k decoded on its own (its own open and `get`), then cropped."""
    with open_video(path, backend) as video:
        indices = uniform_clip_indices(video.num_frames, NUM_FRAMES, RATE, video.fps, 30.0, VIEWS)[k]
        frames = video.get(indices)
    return EvalTransform(crop_size=CROP, num_crops=CROPS)(frames_to_video(frames))


@pytest.fixture
def get_calls(monkeypatch):
    """Records (path, sorted frames) of every `get` the dataset makes (the real decoder runs)."""
    calls = []
    real_open = dataset_module.open_video

    def spying_open(path, backend):
        opened = real_open(path, backend)
        real_get = opened.get
        opened.get = lambda indices: calls.append((path, np.unique(indices))) or real_get(indices)
        return opened

    monkeypatch.setattr(dataset_module, "open_video", spying_open)
    return calls


@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_every_view_equals_decoding_it_alone_from_one_decode(videos, tmp_path, backend, get_calls):
    dataset = build_loader(eval_cfg(videos, str(tmp_path), backend), "test").dataset
    path = dataset.paths[0]
    clips, labels, video_index, view_index = dataset[0]
    assert clips.shape == (VIEWS * CROPS, 3, NUM_FRAMES, CROP, CROP) and view_index.tolist() == list(range(15))
    for k in range(VIEWS):
        assert torch.equal(clips[k * CROPS:(k + 1) * CROPS], per_view(path, backend, k)), f"view {k}"
    assert len(get_calls) == 1  # one open, one decode of the union
    with open_video(path, "pyav") as video:
        per_view_gets = uniform_clip_indices(video.num_frames, NUM_FRAMES, RATE, video.fps, 30.0, VIEWS)
    keys = keyframe_indices(path)
    one_pass = frames_decoded([np.concatenate(per_view_gets)], keys)
    assert frames_decoded([w for _, w in get_calls], keys) <= 1.1 * one_pass
    assert frames_decoded(per_view_gets, keys) > 1.5 * one_pass  # what decoding each view alone costs


@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_views_far_apart_are_reached_by_seeks_and_memory_is_bounded(videos, tmp_path, backend, get_calls, monkeypatch):
    dataset = build_loader(eval_cfg(videos, str(tmp_path), backend), "test").dataset
    path = dataset.paths[1]  # 600 frames: views ~150 frames (5 s) apart
    clips, _, _, view_index = dataset[1]
    assert len(get_calls) == VIEWS  # a seek per view, not a decode through the gaps
    assert all(torch.equal(clips[k * CROPS:(k + 1) * CROPS], per_view(path, backend, k)) for k in range(VIEWS))
    get_calls.clear()
    monkeypatch.setattr(dataset_module, "EVAL_DECODE_GAP_SECONDS", 1e9)
    monkeypatch.setattr(dataset_module, "EVAL_DECODE_BYTES", 12 * 24 * 32 * 3)  # 12 frames at a time
    bounded, _, _, bounded_views = dataset[1]
    assert torch.equal(bounded, clips) and torch.equal(bounded_views, view_index)
    assert len(get_calls) == VIEWS and all(len(w) <= 12 for _, w in get_calls)


@pytest.mark.parametrize("backend", ["pyav"])  # decord 0.6 refuses to open a partial file at all
def test_a_truncated_video_keeps_the_views_it_can_decode(videos, tmp_path, backend):
    dataset = build_loader(eval_cfg(videos, str(tmp_path), backend), "test").dataset
    clips, _, _, view_index = dataset[2]
    good = view_index != FAILED_VIEW
    assert 0 < int(good.sum()) < VIEWS * CROPS and (clips[~good] == 0).all()
    for k in sorted({int(v) // CROPS for v in view_index[good]}):
        assert torch.equal(clips[k * CROPS:(k + 1) * CROPS], per_view(dataset.paths[2], backend, k))
