"""What both decoding backends share: the error and info types, file checks, library error reasons,
the frame-rate rule and display rotation (see `decoders` for the contract they keep)."""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

DEFAULT_FPS = 30.0  # used when a file does not say (the PySlowFast default)
RATE_TOLERANCE = 0.05  # header rate kept when the timestamps agree with it this closely


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
    height: int  # as displayed (after rotation)
    width: int
    rotation: int = 0  # degrees clockwise the stored frames are turned for display (the `rotate` tag)

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.num_frames / self.fps


def valid_fps(value) -> float:
    try:
        fps = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return DEFAULT_FPS
    return fps if math.isfinite(fps) and fps > 0 else DEFAULT_FPS


def consistent_fps(header, num_frames: int, seconds_spanned: float | None) -> float:
    """The header's rate, unless the frames' timestamps span a clearly different time (variable rate,
    or a header that lies): then the rate the frames were actually recorded at."""
    fps = valid_fps(header)
    if num_frames > 1 and seconds_spanned and seconds_spanned > 0:
        measured = (num_frames - 1) / seconds_spanned
        if abs(measured / fps - 1) > RATE_TOLERANCE:
            return measured
    return fps


_LOG_PREFIX = re.compile(r"^\[\d\d:\d\d:\d\d\]\s+\S+:\d+:\s*")  # decord: "[12:00:00] src/file.cc:151: "
_FAILED_CHECK = re.compile(r"^Check failed: .*?\(\S+ vs\. \S+\)\s*(ERROR\s+)?")  # "Check failed: x >= 0 (-1 vs. 0) "


def short_reason(err: BaseException, path: str = "") -> str:
    """What a library error says is wrong, in one line: decord's carry a C++ stack trace, a source
    location and an assertion before the message, which is what is kept."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = next((line for line in lines if not line.startswith(("[bt]", "Stack trace"))), type(err).__name__)
    text = _LOG_PREFIX.sub("", text)
    text = _FAILED_CHECK.sub("", text) or text
    if path:
        text = text.replace(f"[{path}] ", "").replace(f"'{path}'", "the file").replace(path, "the file")
    if len(text) > 300:
        text = text[:300].rsplit(" ", 1)[0] + " ..."
    return f"{type(err).__name__}: {text}"


def check_file(path: str) -> None:
    if not os.path.exists(path):
        raise DecodeError(path, "file not found")
    if os.path.isdir(path):
        raise DecodeError(path, "is a directory")
    if os.path.getsize(path) == 0:
        raise DecodeError(path, "empty file (0 bytes)")


def clamp_indices(indices: Sequence[int], num_frames: int) -> np.ndarray:
    return np.clip(np.asarray(indices, dtype=np.int64), 0, num_frames - 1)


def import_av():
    """PyAV, imported on first use. Its default log level (None) already drops FFmpeg's own lines (errors
    still raise); a level set on purpose (av.logging routes to Python logging) is left alone."""
    import av

    return av


def container_kinds(container) -> tuple[str, ...]:
    """FFmpeg's demuxer names ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi", ...) as a tuple."""
    return tuple(container.format.name.split(","))


def frame_rotation(frame, stream=None) -> int:
    """Degrees clockwise (0, 90, 180, 270) a decoded PyAV frame is turned for display: from its display
    matrix, else from the stream's `rotate` tag (files written by older tools)."""
    counter_clockwise = frame.rotation or 0
    if counter_clockwise:
        return int(round(-counter_clockwise / 90)) % 4 * 90
    tags = {key.lower(): value for key, value in (stream.metadata.items() if stream is not None else ())}
    tag = tags.get("rotate") or "0"  # Matroska files carry it as ROTATE
    try:
        return int(round(float(tag) / 90)) % 4 * 90
    except ValueError:
        return 0


def upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """An [H, W, C] image turned `rotation` degrees clockwise (display orientation)."""
    return np.ascontiguousarray(np.rot90(image, k=-(rotation // 90))) if rotation else image


def display_frame(frame, stream=None):
    """A PyAV frame in display orientation (itself when not rotated; else a new RGB frame, no rotation flag)."""
    rotation = frame_rotation(frame, stream)
    if not rotation:
        return frame
    av = import_av()
    return av.VideoFrame.from_ndarray(upright(frame.to_ndarray(format="rgb24"), rotation), format="rgb24")
