"""Frame-exact decoding of chosen frame indices with decord or PyAV, behind one interface.

The contract, for both backends and every container:

- frame `i` is the i-th frame of a full sequential decode of the file, in presentation order
  (`decode_sequential` is that reference); `num_frames` counts those frames, and `fps` is the rate
  they were recorded at (the header's rate, unless the timestamps span a clearly different time:
  then frames / seconds spanned, so a variable-rate file whose header lies still maps time right);
- frames come out in display orientation (a phone's 90/180/270 degree rotation is applied) as numpy
  uint8 [T, H, W, 3] RGB; `VideoInfo.rotation` says how much was turned;
- indices past the end are clamped (the last frame repeats), so a short video is not an error;
- anything unreadable raises one `DecodeError(path, reason)`, whatever the library raised.

How each backend keeps it:

- PyAV seeks only where timestamps can be trusted (MP4/MOV, Matroska/WebM, IVF): a demux pass at
  open (no decoding) lists every frame's presentation timestamp; a seek lands on a keyframe and the
  frames after it are named by exact timestamp lookup, never by rounding a time. Elsewhere (AVI,
  whose timestamps are in decode order; MPEG-PS/TS, whose seeks land off the frame grid; any other
  container), and whenever a seek lands somewhere unexpected, frames are counted from the start;
  the position is kept, so later requests further on continue instead of starting again.
- decord is used where it is frame-exact: H.264 in MP4/MOV/Matroska without an edit list that hides
  frames. Other codecs and containers (it misplaces frames after a seek in AVI, MPEG-PS and HEVC,
  numbers hidden frames, and cannot open AV1 or WebM without a duration) and files decord fails on
  are decoded with PyAV, with one warning per kind of file (or per file, for failures).

FFmpeg's own log lines are silenced in both libraries; a failure is reported once, by the caller.
The PyAV backend and the sequential reference live in `pyav_video`, the shared types in `video_file`.

    with open_video(path, "pyav") as video:       # opening lists the frames; no decoding
        indices = sampler(video.num_frames, video.fps)
        frames = video.get(indices)               # uint8 [len(indices), H, W, 3]
"""
from __future__ import annotations

import functools
import logging
import os
from typing import NamedTuple, Sequence

import numpy as np
import torch
import torch.utils.dlpack

from video_rs.data.pyav_video import SEEKABLE_FORMATS, PyAVVideo, decode_sequential
from video_rs.data.video_file import (DEFAULT_FPS, DecodeError, VideoInfo, check_file, clamp_indices, consistent_fps,
                                      container_kinds, display_frame, frame_rotation, import_av, in_request_order,
                                      short_reason, upright)

__all__ = ["BACKENDS", "DEFAULT_FPS", "DECORD_EXACT", "SEEKABLE_FORMATS", "DecodeError", "VideoInfo", "clamp_indices",
           "decode", "decode_sequential", "display_frame", "frame_rotation", "open_video", "upright", "video_info"]

BACKENDS = ("decord", "pyav")
DECORD_EXACT = {"h264": ("mov", "mp4", "matroska")}  # codec -> containers where decord seeks frame-exactly
_WARNED: set[str] = set()  # files (or kinds of file) already warned about in this process
logger = logging.getLogger(__name__)


def _warn_once(key: str, message: str, *args) -> None:
    if key not in _WARNED:
        _WARNED.add(key)
        logger.warning(message, *args)


class _DecordVideo:
    """decord where it is frame-exact (DECORD_EXACT); PyAV, warned once, for every other file and for
    files decord cannot open or decode, so no file PyAV reads is ever counted bad."""

    def __init__(self, path: str):
        check_file(path)
        self.path = path
        self._reader = None
        self._pyav: PyAVVideo | None = None
        try:
            not_for_decord = _not_for_decord(path)
        except DecodeError as err:  # PyAV cannot read the header: decord may still
            not_for_decord, unreadable = None, err
        if not_for_decord:
            self._pyav = PyAVVideo(path)
            _warn_once(not_for_decord, "decord does not decode %s frame-exactly (e.g. %s): these are decoded with "
                       "PyAV", not_for_decord, path)
        else:
            try:
                self._open_decord()
            except Exception as err:
                if not_for_decord is None:
                    raise unreadable from None
                self._pyav = self._fall_back(f"cannot open: {short_reason(err, path)}", retryable=False)
        video = self._pyav or self
        self.num_frames, self.fps = video.num_frames, video.fps

    def _open_decord(self) -> None:
        import decord

        decord.logging.set_level(decord.logging.QUIET)  # its FFmpeg copy prints every corrupt macroblock
        self._reader = decord.VideoReader(self.path, ctx=decord.cpu(0), num_threads=1)
        self.num_frames = len(self._reader)
        if self.num_frames <= 0:
            raise DecodeError(self.path, "no video frames")
        times = self._reader.get_frame_timestamp([0, self.num_frames - 1])
        self.fps = consistent_fps(self._reader.get_avg_fps(), self.num_frames, float(times[1][0] - times[0][0]))

    def _fall_back(self, reason: str, *, retryable: bool) -> "PyAVVideo":
        """decord failed on this file: PyAV gets a try before it counts as bad, and serves the rest of it."""
        self._reader = None
        try:
            video = PyAVVideo(self.path)
        except DecodeError:
            raise DecodeError(self.path, reason, retryable=retryable) from None
        _warn_once(self.path, "decord could not read %s (%s); decoding it with PyAV", self.path, reason)
        return video

    @property
    def pixels_per_frame(self) -> int:
        """From the header where PyAV reads it (no decoding), else from frame 0."""
        if self._pyav is not None:
            return self._pyav.pixels_per_frame
        try:
            return _header(self.path).pixels_per_frame
        except DecodeError:
            info = self.info
            return info.height * info.width

    @property
    def info(self) -> VideoInfo:
        if self._pyav is not None:
            return self._pyav.info
        height, width = self.get([0]).shape[1:3]  # decord has no size query; its frames are upright already
        return VideoInfo(self.num_frames, self.fps, int(height), int(width), _first_frame_rotation(self.path))

    def get(self, indices: Sequence[int]) -> np.ndarray:
        if self._pyav is not None:
            return self._pyav.get(indices)
        wanted, inverse = np.unique(clamp_indices(indices, self.num_frames), return_inverse=True)
        try:
            frames = _as_numpy(self._reader.get_batch(wanted.tolist()))
        except Exception as err:  # decord 0.6 fails on widths of 16, 24, 48, 72 px (a row-copy size check)
            self._pyav = self._fall_back(f"frames {wanted[0]}..{wanted[-1]}: {short_reason(err, self.path)}",
                                         retryable=True)
            return self._pyav.get(indices)
        return in_request_order(frames, inverse)

    def close(self) -> None:
        self._reader = None
        if self._pyav is not None:
            self._pyav.close()


def _as_numpy(frames) -> np.ndarray:
    """A decord NDArray as numpy without a copy (DLPack; `asnumpy` copies every frame again, ~3.5 ms of a
    training clip). The array keeps decord's buffer alive."""
    return torch.utils.dlpack.from_dlpack(frames.to_dlpack()).numpy()


def _not_for_decord(path: str) -> str:
    """Which kind of file `path` is, when decord is not frame-exact on it ("hevc in .mp4 files", "...
    with an edit list"); "" when decord serves it. From the header: no decoding."""
    header = _header(path)
    kind = f"{header.codec} in {os.path.splitext(path)[1].lower() or header.kinds[0]} files"
    if not set(header.kinds) & set(DECORD_EXACT.get(header.codec, ())):
        return kind
    if header.hides_frames:  # an edit list that hides frames (a cut made without re-encoding): decord numbers them too
        return f"{kind} with an edit list"
    return ""


class _Header(NamedTuple):
    codec: str
    kinds: tuple[str, ...]  # the container's demuxer names
    hides_frames: bool  # an edit list hides frames
    pixels_per_frame: int  # as stored (a rotation turns a frame, never changes its pixel count)


def _header(path: str) -> _Header:
    """What PyAV's header says of `path`, remembered per file version (path, size, modification time): a
    training run opens each video again every epoch, and reading the header with PyAV cost ~2.6 ms of a
    ~55 ms training clip (measured)."""
    stat = os.stat(path)
    return _read_header(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=2**18)
def _read_header(path: str, size: int, modified_ns: int) -> _Header:
    """`_header` of one version of a file (failures raise, so they are never remembered)."""
    av = import_av()
    try:
        with av.open(path, metadata_errors="ignore") as container:
            if not container.streams.video:
                raise DecodeError(path, "no video stream")
            stream = container.streams.video[0]
            return _Header(stream.codec_context.name, tuple(container_kinds(container)),
                           any(entry.is_discard for entry in stream.index_entries), int(stream.height * stream.width))
    except DecodeError:
        raise
    except Exception as err:
        raise DecodeError(path, f"cannot open: {short_reason(err, path)}") from None


def _first_frame_rotation(path: str) -> int:
    """Rotation of a file decord reads (decord applies it without saying so); 0 where PyAV cannot tell."""
    av = import_av()
    try:
        with av.open(path, metadata_errors="ignore") as container:
            stream = container.streams.video[0]
            return frame_rotation(next(container.decode(stream)), stream)
    except Exception:  # noqa: BLE001 - decord read this file; its rotation is unknown, not an error
        return 0


def open_video(path: str, backend: str):
    """An open video: `.num_frames`, `.fps`, `.info` (VideoInfo; may decode frame 0 for the size and
    rotation), `.pixels_per_frame` (from the header: no decoding), `.get(indices)` -> uint8 [T, H, W, 3]
    by the contract above, `.close()`.

    Use as a context manager. Raises `DecodeError` when the file cannot be opened. One open video
    serves many requests: PyAV continues decoding forward where the next request starts later.
    """
    if backend == "decord":
        return _Closing(_DecordVideo(path))
    if backend == "pyav":
        return _Closing(PyAVVideo(path))
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

    @property
    def pixels_per_frame(self) -> int:
        return self.video.pixels_per_frame

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
    """Frame count, fps, displayed size and rotation, as the backend sees them (for dataset checks)."""
    with open_video(path, backend) as video:
        return video.info
