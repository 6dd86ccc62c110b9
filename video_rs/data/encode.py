"""Writing H.264 mp4 files with PyAV: the synthetic dataset, test fixtures and dataset preparation.

One writer so every file we produce is decodable by both backends (yuv420p, even sizes) and
reproducible (one encoder thread: x264 output then depends only on the frames, the options, the
library build and the CPU's SIMD paths, not on timing).
"""
from __future__ import annotations

from fractions import Fraction

import av
import numpy as np


class VideoWriter:
    """Streams RGB uint8 frames [H, W, 3] (or batches [T, H, W, 3]) into an H.264 mp4.

    `gop` sets the keyframe interval: short intervals make random-clip seeking cheaper. `tune` is x264's
    tuning ("fastdecode" for training copies).
    """

    def __init__(self, path: str, *, width: int, height: int, fps: float = 30, crf: int = 18,
                 gop: int | None = None, preset: str = "veryfast", threads: int = 1, faststart: bool = False,
                 tune: str | None = None):
        if width % 2 or height % 2:
            raise ValueError(f"H.264 yuv420p needs even sizes, got {width}x{height}")
        self.path = path
        # faststart: index (moov) before the data, so players and partial downloads can start reading
        self._container = av.open(path, "w", format="mp4", options={"movflags": "faststart"} if faststart else {})
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"
        options = {"crf": str(crf), "preset": preset, "threads": str(threads)}
        if tune:
            options["tune"] = tune  # e.g. "fastdecode": cheaper to decode, a little larger
        if gop:
            options.update(g=str(gop), keyint_min=str(gop), sc_threshold="0")  # exactly every gop frames
        self._stream.options = options
        self._time_base = 1 / rate
        self._count = 0

    def _encode(self, frame: av.VideoFrame) -> None:
        frame.pts, frame.time_base = self._count, self._time_base  # constant frame rate, numbered here
        self._count += 1
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def write(self, frames: np.ndarray) -> None:
        frames = np.asarray(frames, dtype=np.uint8)
        for frame in frames.reshape((-1,) + frames.shape[-3:]):
            self._encode(av.VideoFrame.from_ndarray(frame, format="rgb24"))

    def write_frame(self, frame: av.VideoFrame) -> None:
        """Encode an already-decoded PyAV frame (its own timestamps are replaced: the output is constant-rate)."""
        self._encode(frame)

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_video(path: str, frames: np.ndarray, *, fps: float = 30, crf: int = 18, gop: int | None = None,
                preset: str = "veryfast", faststart: bool = False) -> str:
    """Encode uint8 RGB frames [T, H, W, 3] into `path`; returns `path`."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be [T, H, W, 3], got shape {frames.shape}")
    with VideoWriter(path, width=frames.shape[2], height=frames.shape[1], fps=fps, crf=crf, gop=gop,
                     preset=preset, faststart=faststart) as writer:
        writer.write(frames)
    return path
