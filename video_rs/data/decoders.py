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
- decord is used where it is frame-exact: H.264 in MP4/MOV/Matroska. Other codecs and containers
  (it misplaces frames after a seek in AVI, MPEG-PS and HEVC, and cannot open AV1 or WebM without a
  duration) and files decord fails on are decoded with PyAV, with one warning.

FFmpeg's own log lines are silenced in both libraries; a failure is reported once, by the caller.

    with open_video(path, "pyav") as video:       # opening lists the frames; no decoding
        indices = sampler(video.num_frames, video.fps)
        frames = video.get(indices)               # uint8 [len(indices), H, W, 3]
"""
from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

BACKENDS = ("decord", "pyav")
SEEKABLE_FORMATS = ("mov", "mp4", "matroska", "webm", "ivf")  # containers whose timestamps PyAV seeks by
DECORD_EXACT = {"h264": ("mov", "mp4", "matroska")}  # codec -> containers where decord seeks frame-exactly
_WARNED: set[str] = set()  # files (or kinds of file) already warned about in this process
logger = logging.getLogger(__name__)
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


def _valid_fps(value) -> float:
    try:
        fps = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return DEFAULT_FPS
    return fps if math.isfinite(fps) and fps > 0 else DEFAULT_FPS


def _consistent_fps(header, num_frames: int, seconds_spanned: float | None) -> float:
    """The header's rate, unless the frames' timestamps span a clearly different time (variable rate,
    or a header that lies): then the rate the frames were actually recorded at."""
    fps = _valid_fps(header)
    if num_frames > 1 and seconds_spanned and seconds_spanned > 0:
        measured = (num_frames - 1) / seconds_spanned
        if abs(measured / fps - 1) > RATE_TOLERANCE:
            return measured
    return fps


_LOG_PREFIX = re.compile(r"^\[\d\d:\d\d:\d\d\]\s+\S+:\d+:\s*")  # decord: "[12:00:00] src/file.cc:151: "


def _short_reason(err: BaseException, path: str = "") -> str:
    """What a library error says is wrong, in one line: decord's carry a C++ stack trace, a source
    location and an assertion before the message, which is what is kept."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = next((line for line in lines if not line.startswith(("[bt]", "Stack trace"))), type(err).__name__)
    text = _LOG_PREFIX.sub("", text)
    if "ERROR " in text:  # "Check failed: st_nb >= 0 (-1 vs. 0) ERROR cannot find video stream ..."
        text = text.rsplit("ERROR ", 1)[1]
    if path:
        text = text.replace(f"[{path}] ", "").replace(f"'{path}'", "the file").replace(path, "the file")
    if len(text) > 300:
        text = text[:300].rsplit(" ", 1)[0] + " ..."
    return f"{type(err).__name__}: {text}"


def _check_file(path: str) -> None:
    if not os.path.exists(path):
        raise DecodeError(path, "file not found")
    if os.path.isdir(path):
        raise DecodeError(path, "is a directory")
    if os.path.getsize(path) == 0:
        raise DecodeError(path, "empty file (0 bytes)")


def _warn_once(key: str, message: str, *args) -> None:
    if key not in _WARNED:
        _WARNED.add(key)
        logger.warning(message, *args)


def clamp_indices(indices: Sequence[int], num_frames: int) -> np.ndarray:
    return np.clip(np.asarray(indices, dtype=np.int64), 0, num_frames - 1)


def _import_av():
    import av

    av.logging.set_level(None)  # PyAV's default: FFmpeg's own lines are dropped, errors still raise
    return av


def _container_kinds(container) -> tuple[str, ...]:
    """FFmpeg's demuxer names ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi", ...) as a tuple."""
    return tuple(container.format.name.split(","))


def frame_rotation(frame, stream=None) -> int:
    """Degrees clockwise (0, 90, 180, 270) a decoded PyAV frame is turned for display: from its display
    matrix, else from the stream's `rotate` tag (files written by older tools)."""
    counter_clockwise = frame.rotation or 0
    if counter_clockwise:
        return int(round(-counter_clockwise / 90)) % 4 * 90
    tag = (stream.metadata.get("rotate") if stream is not None else None) or "0"
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
    av = _import_av()
    return av.VideoFrame.from_ndarray(upright(frame.to_ndarray(format="rgb24"), rotation), format="rgb24")


class _PyAVVideo:
    """PyAV, frame-exact by the contract above: timestamp lookup after a seek where timestamps can be
    trusted, counting frames from the start elsewhere."""

    TAIL_TOLERANCE = 0.05  # the stream may end a few frames before the count: repeat the last real one

    def __init__(self, path: str):
        _check_file(path)
        self.path = path
        self._container = None
        self._open()
        try:
            stream = self._stream
            # frames an edit list cuts are decoded for reference but never shown: not frames of the video
            packet_pts = [packet.pts for packet in self._container.demux(stream) if packet.size and not packet.is_discard]
            self.num_frames = len(packet_pts)
            if self.num_frames <= 0:
                raise DecodeError(path, "no video frames")
            known = None not in packet_pts
            frame_pts = sorted(packet_pts) if known else []
            seconds = (frame_pts[-1] - frame_pts[0]) * float(stream.time_base) if known and stream.time_base else None
            self.fps = _consistent_fps(stream.average_rate or stream.guessed_rate, self.num_frames, seconds)
            seekable = (set(_container_kinds(self._container)) & set(SEEKABLE_FORMATS) and known
                        and len(set(frame_pts)) == len(frame_pts))
            self._index_of_pts = {pts: i for i, pts in enumerate(frame_pts)} if seekable else None
            self._frame_pts = frame_pts
            self._size = (int(stream.height), int(stream.width))
            self.rotation: int | None = None  # known after the first decoded frame
        except DecodeError:
            self.close()
            raise
        except Exception as err:
            self.close()
            raise DecodeError(path, f"cannot read header: {_short_reason(err, path)}") from None
        self._frames: Iterator | None = None  # (index, frame) of the decoding in progress
        self._next_index = 0  # index of the frame `_frames` yields next
        self._last = None  # the last frame it yielded

    def _open(self) -> None:
        av = _import_av()
        if self._container is not None:
            self._container.close()
            self._container = None
        try:
            self._container = av.open(self.path, metadata_errors="ignore")
        except Exception as err:
            raise DecodeError(self.path, f"cannot open: {_short_reason(err, self.path)}") from None
        if not self._container.streams.video:
            self.close()
            raise DecodeError(self.path, "no video stream")
        self._stream = self._container.streams.video[0]
        self._stream.codec_context.thread_count = 1

    @property
    def info(self) -> VideoInfo:
        if self.rotation is None:
            self.get([0])
        height, width = self._size[::-1] if self.rotation in (90, 270) else self._size
        return VideoInfo(self.num_frames, self.fps, height, width, self.rotation)

    def get(self, indices: Sequence[int]) -> np.ndarray:
        wanted, inverse = np.unique(clamp_indices(indices, self.num_frames), return_inverse=True)
        try:
            frames = self._decode_sorted(wanted.tolist())
        except DecodeError:
            raise
        except Exception as err:
            self._frames = None
            raise DecodeError(self.path, f"frames {wanted[0]}..{wanted[-1]}: {_short_reason(err, self.path)}",
                              retryable=True) from None
        return np.stack(frames)[inverse.reshape(-1)]

    def _decode_sorted(self, wanted: list[int]) -> list[np.ndarray]:
        continues = self._frames is not None and self._next_index <= wanted[0]
        if not continues or (self._index_of_pts is not None and wanted[0] - self._next_index > 2 * self.fps):
            self._start_at(wanted[0])
        out: list[np.ndarray] = []
        for index, frame in self._frames:
            self._next_index, self._last = index + 1, frame
            while len(out) < len(wanted) and wanted[len(out)] == index:
                out.append(self._to_array(frame))
            if len(out) == len(wanted):
                return out
        self._frames = None
        if self._last is None:
            raise DecodeError(self.path, f"no frame could be decoded from frame {wanted[0]} on", retryable=wanted[0] > 0)
        shortfall = wanted[-1] - (self._next_index - 1)
        if shortfall > max(2, self.TAIL_TOLERANCE * self.num_frames):
            raise DecodeError(self.path, f"stream ends at frame {self._next_index - 1} of the {self.num_frames} "
                              "its header announces (truncated file?)", retryable=True)
        tail = self._to_array(self._last)
        out.extend(tail for _ in range(len(wanted) - len(out)))
        return out

    def _to_array(self, frame) -> np.ndarray:
        if self.rotation is None:
            self.rotation = frame_rotation(frame, self._stream)
        return upright(frame.to_ndarray(format="rgb24"), self.rotation)

    def _start_at(self, first: int) -> None:
        """Position `_frames` at or before frame `first`: a keyframe seek where timestamps are trusted, else
        the start of the file."""
        self._next_index, self._last = 0, None
        if self._index_of_pts is not None and first > 0:
            self._container.seek(self._frame_pts[first], backward=True, any_frame=False, stream=self._stream)
            self._frames = self._by_timestamp(first)
        else:
            self._open()  # a fresh demuxer and decoder: seeking to 0 is not exact in every container
            self._frames = self._counted()

    def _counted(self) -> Iterator:
        return enumerate(self._container.decode(self._stream))

    def _by_timestamp(self, first: int) -> Iterator:
        """Frames after a seek, named by exact timestamp lookup. They must follow one another from a frame
        at or before `first`; a timestamp not in the index, a gap or a seek that lands past `first` mean
        this file cannot be seeked frame-exactly: it is decoded from the start, now and later."""
        expected = None
        for frame in self._container.decode(self._stream):
            index = self._index_of_pts.get(frame.pts)
            if index is None or (index > first if expected is None else index != expected):
                break
            expected = index + 1
            yield index, frame
        else:
            return
        logger.debug("%s: a seek landed off the frame index; decoding from the start", self.path)
        self._index_of_pts = None
        self._open()
        yield from self._counted()

    def close(self) -> None:
        self._frames = None
        container = getattr(self, "_container", None)
        if container is not None:
            container.close()
            self._container = None


class _DecordVideo:
    """decord where it is frame-exact (DECORD_EXACT); PyAV, warned once, for every other file and for
    files decord cannot open or decode, so no file PyAV reads is ever counted bad."""

    def __init__(self, path: str):
        _check_file(path)
        self.path = path
        self._reader = None
        self._pyav: _PyAVVideo | None = None
        try:
            codec, kinds = _probe(path)
        except DecodeError as err:  # PyAV cannot read the header: decord may still
            codec, kinds, unreadable = None, (), err
        if codec is not None and not set(kinds) & set(DECORD_EXACT.get(codec, ())):
            self._pyav = _PyAVVideo(path)
            kind = f"{codec} in {os.path.splitext(path)[1].lower() or kinds[0]}"
            _warn_once(kind, "decord does not decode %s files frame-exactly (e.g. %s): these are decoded with PyAV",
                       kind, path)
        else:
            try:
                self._open_decord()
            except Exception as err:
                if codec is None:
                    raise unreadable from None
                self._pyav = self._fall_back(f"cannot open: {_short_reason(err, path)}", retryable=False)
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
        self.fps = _consistent_fps(self._reader.get_avg_fps(), self.num_frames, float(times[1][0] - times[0][0]))

    def _fall_back(self, reason: str, *, retryable: bool) -> "_PyAVVideo":
        """decord failed on this file: PyAV gets a try before it counts as bad, and serves the rest of it."""
        self._reader = None
        try:
            video = _PyAVVideo(self.path)
        except DecodeError:
            raise DecodeError(self.path, reason, retryable=retryable) from None
        _warn_once(self.path, "decord could not read %s (%s); decoding it with PyAV", self.path, reason)
        return video

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
            frames = self._reader.get_batch(wanted.tolist()).asnumpy()
        except Exception as err:  # decord 0.6 fails on widths of 16, 24, 48, 72 px (a row-copy size check)
            self._pyav = self._fall_back(f"frames {wanted[0]}..{wanted[-1]}: {_short_reason(err, self.path)}",
                                         retryable=True)
            return self._pyav.get(indices)
        return frames[inverse.reshape(-1)]

    def close(self) -> None:
        self._reader = None
        if self._pyav is not None:
            self._pyav.close()


def _probe(path: str) -> tuple[str, tuple[str, ...]]:
    """(codec name, container kinds) of the first video stream, from the header."""
    av = _import_av()
    try:
        with av.open(path, metadata_errors="ignore") as container:
            if not container.streams.video:
                raise DecodeError(path, "no video stream")
            return container.streams.video[0].codec_context.name, _container_kinds(container)
    except DecodeError:
        raise
    except Exception as err:
        raise DecodeError(path, f"cannot open: {_short_reason(err, path)}") from None


def _first_frame_rotation(path: str) -> int:
    """Rotation of a file decord reads (decord applies it without saying so); 0 where PyAV cannot tell."""
    av = _import_av()
    try:
        with av.open(path, metadata_errors="ignore") as container:
            stream = container.streams.video[0]
            return frame_rotation(next(container.decode(stream)), stream)
    except Exception:  # noqa: BLE001 - decord read this file; its rotation is unknown, not an error
        return 0


def open_video(path: str, backend: str):
    """An open video: `.num_frames`, `.fps`, `.info` (VideoInfo; may decode frame 0 for the size and
    rotation), `.get(indices)` -> uint8 [T, H, W, 3] by the contract above, `.close()`.

    Use as a context manager. Raises `DecodeError` when the file cannot be opened. One open video
    serves many requests: PyAV continues decoding forward where the next request starts later.
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
    """Frame count, fps, displayed size and rotation, as the backend sees them (for dataset checks)."""
    with open_video(path, backend) as video:
        return video.info


def decode_sequential(path: str, indices: Sequence[int]) -> np.ndarray:
    """The reference the backends are held to: decode every frame of `path` in order with PyAV (no seek,
    no timestamps) and keep frames `indices` (clamped to the frames decoded), upright, uint8 [T, H, W, 3]."""
    av = _import_av()
    _check_file(path)
    wanted = np.maximum(np.asarray(indices, dtype=np.int64), 0).tolist()
    needed, stop = set(wanted), max(wanted)
    kept: dict[int, np.ndarray] = {}
    last_index, last_frame = -1, None
    try:
        with av.open(path, metadata_errors="ignore") as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1
            to_array = lambda frame: upright(frame.to_ndarray(format="rgb24"), frame_rotation(frame, stream))  # noqa: E731
            for last_index, last_frame in enumerate(container.decode(stream)):
                if last_index in needed:
                    kept[last_index] = to_array(last_frame)
                if last_index >= stop:
                    break
            if last_frame is None:
                raise DecodeError(path, "no frame could be decoded")
            tail = kept[last_index] if last_index in kept else to_array(last_frame)
    except DecodeError:
        raise
    except Exception as err:
        raise DecodeError(path, f"sequential decode: {_short_reason(err, path)}") from None
    return np.stack([kept.get(index, tail) for index in wanted])
