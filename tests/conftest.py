"""Shared fixtures: small real H.264 videos and a tiny synthetic dataset (session-scoped: encode once).

Sizes avoid widths decord 0.6 cannot convert (16, 24, 48, 72 px fail inside decord, and the decord
backend then decodes with PyAV, which would hide decord from the tests); 36 x 44 and 32 x 64 work
with both backends.
"""
import numpy as np
import pytest

from video_rs.data.encode import write_video

TINY_SIZE = (36, 44)  # height, width of the fixture videos


def _index_frames(num_frames: int, height: int = TINY_SIZE[0], width: int = TINY_SIZE[1], step: int = 4) -> np.ndarray:
    """Grey frames whose brightness is `step * index`: decoding frame i must give level step * i (+-1 after x264)."""
    if step * (num_frames - 1) > 255:
        raise ValueError(f"{num_frames} frames do not fit in 8 bits at step {step}")
    levels = (np.arange(num_frames) * step).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (num_frames, height, width, 3)).copy()


def _frame_numbers(frames: np.ndarray, step: int = 4) -> np.ndarray:
    """Inverse of `_index_frames`: the frame index each decoded frame shows (mean brightness / step)."""
    return np.rint(frames.reshape(len(frames), -1).mean(axis=1) / step).astype(int)


@pytest.fixture(scope="session")
def index_frames():
    """`index_frames(num_frames, height=36, width=44, step=4)` -> frames whose brightness is step * index.

    (Fixtures, not imports: tests/engine has its own conftest module, so `from conftest import` is ambiguous.)
    """
    return _index_frames


@pytest.fixture(scope="session")
def frame_numbers():
    """`frame_numbers(decoded [T, H, W, 3])` -> the index each frame of an index video shows."""
    return _frame_numbers


@pytest.fixture(scope="session")
def write_test_video():
    """`write_test_video(path, frames [T, H, W, 3] uint8, fps=30, crf=18, gop=None) -> path` (real libx264 mp4)."""
    return write_video


@pytest.fixture(scope="session")
def index_video(tmp_path_factory):
    """A 60-frame 30 fps mp4 whose frame i has brightness 4 * i; near-lossless (crf 4), keyframe every 8 frames,
    with B-frames, so decoding the wrong frame or a neighbour shows."""
    path = tmp_path_factory.mktemp("videos") / "index60.mp4"
    return write_video(str(path), _index_frames(60), fps=30, crf=4, gop=8)


@pytest.fixture(scope="session")
def tiny_synthetic_dataset(tmp_path_factory):
    """Root of a 3-class synthetic dataset: 4 / 2 / 2 videos per class (train/val/test), 20 frames, 36 x 44."""
    from video_rs.data.synthetic import generate_synthetic_dataset

    root = tmp_path_factory.mktemp("tiny_synthetic")
    return generate_synthetic_dataset(str(root), num_classes=3, videos_per_class=(4, 2, 2), num_frames=20,
                                      size=TINY_SIZE, fps=30, seed=0)


@pytest.fixture(scope="session")
def load_script():
    """`load_script("tools/check_dataset.py")` -> that script as a module (scripts are not packages)."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]

    def load(relative: str):
        path = root / relative
        spec = importlib.util.spec_from_file_location(f"script_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
