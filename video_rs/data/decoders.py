"""Frame-exact decoding of chosen frame indices with decord or PyAV, behind one interface.

Both backends return the same thing for the same indices: a numpy uint8 array [T, H, W, C] (RGB),
frame `i` being the i-th frame in presentation order. Indices past the end are clamped (the last
frame repeats), so a video shorter than a clip is not an error. Anything that cannot be read
raises one `DecodeError(path, reason)`, whatever the library raised, so callers have one policy.

    with open_video(path, "pyav") as video:       # header only: frame count, fps, size
        indices = sampler(video.num_frames, video.fps)
        frames = video.get(indices)               # uint8 [len(indices), H, W, 3]
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

BACKENDS = ("decord", "pyav")
_PYAV_FALLBACKS: set[str] = set()  # files this process decoded with PyAV after decord failed (warned once each)
logger = logging.getLogger(__name__)
DEFAULT_FPS = 30.0  # used when a file does not say (the PySlowFast default)


class DecodeError(Exception):
    """A video (or part of it) cannot be decoded. `retryable`: another clip of it may still work."""

    def __init__(self, path: str, reason: str, *, retryable: bool = False):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.retryable = retryable

    def __reduce__(self):  # keeps path/reason/retryable when raised inside a DataLoader worker
        return (_rebuild_decode_error, (self.path, self.reason, self.retryable))


def _rebuild_decode_error(path: str, reason: str, retryable: bool) -> DecodeError:
    return DecodeError(path, reason, retryable=retryable)


@dataclass(frozen=True)
class VideoInfo:
    num_frames: int
    fps: float
    height: int
    width: int

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.num_frames / self.fps


def _valid_fps(value) -> float:
    try:
        fps = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return DEFAULT_FPS
    return fps if math.isfinite(fps) and fps > 0 else DEFAULT_FPS


def _short_reason(err: BaseException) -> str:
    """First meaningful line of a library error (decord's carry a C++ stack trace)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = next((line for line in lines if not line.startswith(("[bt]", "Stack trace"))), type(err).__name__)
    return f"{type(err).__name__}: {text[:200]}"


def _check_file(path: str) -> None:
    if not os.path.exists(path):
        raise DecodeError(path, "file not found")
    if os.path.isdir(path):
        raise DecodeError(path, "is a directory")
    if os.path.getsize(path) == 0:
        raise DecodeError(path, "empty file (0 bytes)")


def clamp_indices(indices: Sequence[int], num_frames: int) -> np.ndarray:
    return np.clip(np.asarray(indices, dtype=np.int64), 0, num_frames - 1)


class _DecordVideo:
    def __init__(self, path: str):
        import decord

        _check_file(path)
        self.path = path
        self._pyav: _PyAVVideo | None = None  # set when decord failed on this file and PyAV did not
        try:
            self._reader = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)
            self.num_frames = len(self._reader)
            self.fps = _valid_fps(self._reader.get_avg_fps())
        except Exception as err:  # decord raises DECORDError, RuntimeError, ... for unreadable input
            raise DecodeError(path, f"cannot open: {_short_reason(err)}") from None
        if self.num_frames <= 0:
            raise DecodeError(path, "no video frames")

    @property
    def info(self) -> VideoInfo:
        """decord has no size query: this decodes frame 0 (the clip path never needs it)."""
        height, width = self.get([0]).shape[1:3]
        return VideoInfo(self.num_frames, self.fps, int(height), int(width))

    def get(self, indices: Sequence[int]) -> np.ndarray:
        wanted, inverse = np.unique(clamp_indices(indices, self.num_frames), return_inverse=True)
        if self._pyav is not None:
            return self._pyav.get(wanted)[inverse.reshape(-1)]
        try:
            frames = self._reader.get_batch(wanted.tolist()).asnumpy()
        except Exception as err:
            frames = self._fall_back_to_pyav(wanted, f"frames {wanted[0]}..{wanted[-1]}: {_short_reason(err)}")
        return frames[inverse.reshape(-1)]

    def _fall_back_to_pyav(self, wanted: np.ndarray, reason: str) -> np.ndarray:
        """decord 0.6 fails on some files PyAV reads (frame widths of 16, 24, 48, 72 px: a row-copy size
        check), so PyAV gets a try before the video counts as bad; it then serves the rest of this file."""
        try:
            self._pyav = _PyAVVideo(self.path)
            frames = self._pyav.get(wanted)
        except DecodeError:
            if self._pyav is not None:
                self._pyav.close()
                self._pyav = None
            raise DecodeError(self.path, reason, retryable=True) from None
        if self.path not in _PYAV_FALLBACKS:
            _PYAV_FALLBACKS.add(self.path)
            logger.warning("decord could not decode %s (%s); decoded it with PyAV instead", self.path, reason)
        return frames

    def close(self) -> None:
        self._reader = None
        if self._pyav is not None:
            self._pyav.close()


class _PyAVVideo:
    """Seeks to the keyframe before the first wanted frame, then decodes forward to the last one.

    Frame numbers come from presentation timestamps on the `fps` (average rate) timeline, rounded, so
    a variable-frame-rate file maps index i to the frame shown near time i / fps (a gap repeats the
    frame before it). decord numbers stored frames instead; the two agree on constant-rate files.
    """

    TAIL_TOLERANCE = 0.05  # headers may over-count by a few frames: repeat the last real one

    def __init__(self, path: str):
        import av

        _check_file(path)
        self.path = path
        try:
            self._container = av.open(path, metadata_errors="ignore")
        except Exception as err:
            raise DecodeError(path, f"cannot open: {_short_reason(err)}") from None
        try:
            if not self._container.streams.video:
                raise DecodeError(path, "no video stream")
            stream = self._stream = self._container.streams.video[0]
            stream.codec_context.thread_count = 1
            fps = _valid_fps(stream.average_rate or stream.guessed_rate)
            self._time_base = float(stream.time_base) if stream.time_base else 1.0 / fps
            self._start = stream.start_time or 0
            self.fps = fps
            self.num_frames = int(stream.frames or self._count_packets())
            if self.num_frames <= 0:
                raise DecodeError(path, "no video frames")
            self.info = VideoInfo(self.num_frames, fps, int(stream.height), int(stream.width))
        except DecodeError:
            self.close()
            raise
        except Exception as err:
            self.close()
            raise DecodeError(path, f"cannot read header: {_short_reason(err)}") from None

    def _count_packets(self) -> int:
        """Containers without a frame count (webm, mkv): count video packets; no decoding."""
        count = sum(1 for packet in self._container.demux(self._stream) if packet.size)
        self._container.seek(0)
        return count

    def _index_of(self, frame) -> int | None:
        if frame.pts is None:
            return None
        return int(round((frame.pts - self._start) * self._time_base * self.fps))

    def _pts_of(self, index: int) -> int:
        return self._start + int(index / self.fps / self._time_base)

    def get(self, indices: Sequence[int]) -> np.ndarray:
        clamped = clamp_indices(indices, self.num_frames)
        wanted, inverse = np.unique(clamped, return_inverse=True)
        try:
            frames = self._decode_sorted(wanted.tolist(), seek=int(wanted[0]) > 0)
        except DecodeError:
            raise
        except Exception as err:
            raise DecodeError(self.path, f"frames {wanted[0]}..{wanted[-1]}: {_short_reason(err)}",
                              retryable=True) from None
        return np.stack(frames)[inverse.reshape(-1)]

    def _decode_sorted(self, wanted: list[int], *, seek: bool) -> list[np.ndarray]:
        if seek:
            self._container.seek(self._pts_of(wanted[0]), backward=True, any_frame=False, stream=self._stream)
        else:
            self._container.seek(0)
        out: list[np.ndarray] = []
        previous, last_index, counter = None, -1, -1
        for frame in self._container.decode(self._stream):
            counter += 1
            index = self._index_of(frame)
            if index is None:
                if seek:  # no timestamps: only counting from the start gives frame numbers
                    return self._decode_sorted(wanted, seek=False)
                index = counter
            if seek and previous is None and index > wanted[0]:
                return self._decode_sorted(wanted, seek=False)  # the seek landed past the target
            while len(out) < len(wanted) and wanted[len(out)] < index:  # a gap (variable frame rate)
                out.append((previous or frame).to_ndarray(format="rgb24"))
            if len(out) < len(wanted) and wanted[len(out)] == index:
                out.append(frame.to_ndarray(format="rgb24"))
            previous, last_index = frame, index
            if len(out) == len(wanted):
                return out
        if previous is None:
            # after a seek another position may still decode; from the start, nothing does
            raise DecodeError(self.path, f"no frame could be decoded from frame {wanted[0]} on", retryable=seek)
        shortfall = wanted[-1] - last_index
        if shortfall > max(2, self.TAIL_TOLERANCE * self.num_frames):
            raise DecodeError(self.path, f"stream ends at frame {last_index} of the {self.num_frames} "
                              "its header announces (truncated file?)", retryable=True)
        last = previous.to_ndarray(format="rgb24")
        out.extend(last for _ in range(len(wanted) - len(out)))
        return out

    def close(self) -> None:
        container = getattr(self, "_container", None)
        if container is not None:
            container.close()
            self._container = None


def open_video(path: str, backend: str):
    """An open video: `.num_frames`, `.fps`, `.info` (VideoInfo; decord decodes a frame for the size),
    `.get(indices)` -> uint8 [T, H, W, 3], `.close()`.

    Use as a context manager. Raises `DecodeError` when the file cannot be opened.
    """
    if backend == "decord":
        return _Closing(_DecordVideo(path))
    if backend == "pyav":
        return _Closing(_PyAVVideo(path))
    raise ValueError(f"unknown decoding backend {backend!r}; choose one of {BACKENDS}")


class _Closing:
    """Context manager around a backend video (`with open_video(...) as video:`)."""

    def __init__(self, video):
        self.video = video
        self.num_frames = video.num_frames
        self.fps = video.fps

    @property
    def info(self) -> VideoInfo:
        return self.video.info

    def get(self, indices: Sequence[int]) -> np.ndarray:
        return self.video.get(indices)

    def close(self) -> None:
        self.video.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def decode(path: str, indices: Sequence[int], backend: str) -> np.ndarray:
    """Frames `indices` (clamped to the video) of `path` as numpy uint8 [T, H, W, 3]."""
    with open_video(path, backend) as video:
        return video.get(indices)


def video_info(path: str, backend: str) -> VideoInfo:
    """Frame count, fps and size, as the backend sees them (for dataset checks)."""
    with open_video(path, backend) as video:
        return video.info
