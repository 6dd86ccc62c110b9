"""The PyAV backend, frame-exact by the contract in `decoders`: exact timestamp lookup after a seek where
timestamps can be trusted, frames counted from the start elsewhere; and the sequential reference."""
from __future__ import annotations

import logging
from typing import Iterator, Sequence

import numpy as np

from video_rs.data.video_file import (DecodeError, VideoInfo, check_file, clamp_indices, consistent_fps,
                                      container_kinds, frame_rotation, import_av, in_request_order, short_reason,
                                      upright)

SEEKABLE_FORMATS = ("mov", "mp4", "matroska", "webm", "ivf")  # containers whose timestamps PyAV seeks by
logger = logging.getLogger(__name__)


class PyAVVideo:
    """PyAV, frame-exact by the contract above: timestamp lookup after a seek where timestamps can be
    trusted, counting frames from the start elsewhere."""

    TAIL_TOLERANCE = 0.05  # the stream may end a few frames before the count: repeat the last real one

    def __init__(self, path: str):
        check_file(path)
        self.path = path
        self._container = None
        self._open()
        try:
            stream = self._stream
            packet_pts, stored = self._list_frames()
            self._present = len(packet_pts)  # frames the file holds
            if self._present <= 0:
                raise DecodeError(path, "no video frames")
            announced = int(stream.frames or 0)  # counts frames an edit list hides, like `stored`
            # a header announcing clearly more frames than the file stores: a cut download. Its count is kept,
            # so clips from the missing part fail (and check_dataset's last-frame check) instead of repeating
            missing = announced - stored
            self.num_frames = self._present + missing if missing > self._tolerance(announced) else self._present
            known = None not in packet_pts
            frame_pts = sorted(packet_pts) if known else []
            # only timestamps the container keeps in order measure the rate: MPEG-TS/PS clocks restart in
            # joined segments and wrap in long captures, AVI's are decode order
            trusted = bool(set(container_kinds(self._container)) & set(SEEKABLE_FORMATS)) and known
            seconds = (frame_pts[-1] - frame_pts[0]) * float(stream.time_base) if trusted and stream.time_base else None
            self.fps = consistent_fps(stream.average_rate or stream.guessed_rate, self._present, seconds)
            seekable = trusted and len(set(frame_pts)) == len(frame_pts)
            self._index_of_pts = {pts: i for i, pts in enumerate(frame_pts)} if seekable else None
            self._frame_pts = frame_pts
            self._size = (int(stream.height), int(stream.width))
            self.rotation: int | None = None  # known after the first decoded frame
        except DecodeError:
            self.close()
            raise
        except Exception as err:
            self.close()
            raise DecodeError(path, f"cannot read header: {short_reason(err, path)}") from None
        self._frames: Iterator | None = None  # (index, frame) of the decoding in progress
        self._next_index = 0  # index of the frame `_frames` yields next
        self._last = None  # the last frame it yielded

    def _list_frames(self) -> tuple[list, int]:
        """(presentation timestamps of the shown frames in file order, frames stored), from one pass of the
        demuxer (no decoding). Frames an edit list cuts are stored and decoded for reference, never shown.
        A read error ends the list where it happens (damaged tail): the frames before it stay readable."""
        packet_pts, stored = [], 0
        try:
            for packet in self._container.demux(self._stream):
                if packet.size:
                    stored += 1
                    if not packet.is_discard:
                        packet_pts.append(packet.pts)
        except Exception as err:
            if not packet_pts:
                raise
            logger.debug("%s: demuxing stopped after %d frames: %s", self.path, len(packet_pts), err)
        return packet_pts, stored

    def _open(self) -> None:
        av = import_av()
        if self._container is not None:
            self._container.close()
            self._container = None
        try:
            self._container = av.open(self.path, metadata_errors="ignore")
        except Exception as err:
            raise DecodeError(self.path, f"cannot open: {short_reason(err, self.path)}") from None
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

    @property
    def pixels_per_frame(self) -> int:
        """From the header: no decoding (a rotation turns a frame, never changes its pixel count)."""
        return self._size[0] * self._size[1]

    def _tolerance(self, num_frames: int) -> float:
        return max(2, self.TAIL_TOLERANCE * num_frames)

    def get(self, indices: Sequence[int]) -> np.ndarray:
        wanted, inverse = np.unique(clamp_indices(indices, self.num_frames), return_inverse=True)
        if wanted[-1] - (self._present - 1) > self._tolerance(self.num_frames):
            raise DecodeError(self.path, f"frames {wanted[0]}..{wanted[-1]}: the file holds {self._present} of the "
                              f"{self.num_frames} frames its header announces (truncated file?)", retryable=True)
        wanted = np.minimum(wanted, self._present - 1)
        try:
            frames = self._decode_sorted(wanted.tolist())
        except DecodeError:
            raise
        except Exception as err:
            self._frames = None
            raise DecodeError(self.path, f"frames {wanted[0]}..{wanted[-1]}: {short_reason(err, self.path)}",
                              retryable=True) from None
        return in_request_order(frames, inverse)

    def _decode_sorted(self, wanted: list[int]) -> np.ndarray:
        """Frames `wanted` (sorted), each written into one [len(wanted), H, W, 3] array as it is decoded
        (stacking them afterwards would copy them all again)."""
        continues = self._frames is not None and self._next_index <= wanted[0]
        if not continues or (self._index_of_pts is not None and wanted[0] - self._next_index > 2 * self.fps):
            self._start_at(wanted[0])
        out = _FrameStack(len(wanted))
        for index, frame in self._frames:
            self._next_index, self._last = index + 1, frame
            while out.count < len(wanted) and wanted[out.count] == index:
                out.append(self._to_array(frame))
            if out.count == len(wanted):
                return out.array
        self._frames = None
        if self._last is None:
            raise DecodeError(self.path, f"no frame could be decoded from frame {wanted[0]} on", retryable=wanted[0] > 0)
        shortfall = wanted[-1] - (self._next_index - 1)
        if shortfall > self._tolerance(self.num_frames):
            raise DecodeError(self.path, f"stream ends at frame {self._next_index - 1} of the {self.num_frames} "
                              "its header announces (truncated file?)", retryable=True)
        tail = self._to_array(self._last)
        while out.count < len(wanted):
            out.append(tail)
        return out.array

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


def decode_sequential(path: str, indices: Sequence[int]) -> np.ndarray:
    """The reference the backends are held to: decode every frame of `path` in order with PyAV (no seek,
    no timestamps) and keep frames `indices` (clamped to the frames decoded), upright, uint8 [T, H, W, 3]."""
    av = import_av()
    check_file(path)
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
        raise DecodeError(path, f"sequential decode: {short_reason(err, path)}") from None
    return np.stack([kept.get(index, tail) for index in wanted])


class _FrameStack:
    """`count` frames written into one array allocated when the first arrives (its size is the decoded one)."""

    def __init__(self, length: int):
        self.length, self.count, self.array = length, 0, None

    def append(self, frame: np.ndarray) -> None:
        if self.array is None:
            self.array = np.empty((self.length,) + frame.shape, dtype=frame.dtype)
        self.array[self.count] = frame
        self.count += 1
