"""Where two files that should be identical differ: the failure message of the determinism tests.

A rare difference cannot be rerun at will, so the first failure has to say everything: the first
differing byte and the MP4 box holding it, and for videos whether the decoded frames differ too (equal
frames: the encoder or muxer wrote other bytes; other frames: the rendering, or an encoder decision
that changed pixels), down to the first differing frame, pixel and channel.
"""
from __future__ import annotations

import os
import struct

import av
import numpy as np

CONTAINER_BOXES = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"udta", b"moof", b"traf", b"mvex"}


def mp4_box_path(data: bytes, offset: int) -> str:
    """The nested boxes holding byte `offset`: "mdat" (coded frames), "moov/trak/mdia/minf/stbl/stsz", ..."""
    path, start, end = [], 0, len(data)
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", data[start:start + 8])
        header = 16 if size == 1 else 8
        if size == 1 and start + 16 <= end:
            size = struct.unpack(">Q", data[start + 8:start + 16])[0]
        size = size or end - start  # 0: the box runs to the end of the file
        if size < header:
            break
        if start <= offset < start + size:
            path.append(kind.decode("latin-1"))
            if kind not in CONTAINER_BOXES:
                break
            start, end = start + header, start + size
        else:
            start += size
    return "/".join(path) or "none"


def x264_options(data: bytes) -> str:
    """The settings x264 writes into its SEI (threads, lookahead, ...), or "" when there is none."""
    start = data.find(b"options: ")
    return data[start + 9:data.find(b"\0", start)].decode("latin-1") if start >= 0 else ""


def decoded_frames(path: str) -> np.ndarray:
    with av.open(path) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def frames_difference(path_a: str, path_b: str) -> str:
    """Whether the decoded frames are equal, and if not the first differing frame, pixel and channel."""
    try:
        frames_a, frames_b = decoded_frames(path_a), decoded_frames(path_b)
    except (av.FFmpegError, ValueError) as err:  # ValueError: no frame at all to stack
        return f"decoding failed: {err}"
    if frames_a.shape != frames_b.shape:
        return f"decoded frames differ in shape: {frames_a.shape} vs {frames_b.shape}"
    differing = frames_a != frames_b
    if not differing.any():
        return "decoded frames equal (the encoder or muxer wrote other bytes for the same pixels)"
    t, y, x, channel = np.argwhere(differing)[0]
    frames = np.flatnonzero(differing.any(axis=(1, 2, 3)))
    largest = np.abs(frames_a.astype(int) - frames_b).max()
    return (f"decoded frames differ (the rendering, or an encoder decision that changed pixels): frames "
            f"{frames.tolist()} of {len(frames_a)}, {int(differing.sum())} values, largest difference {largest}; "
            f"first at frame {t} y {y} x {x} channel {channel}: {frames_a[t, y, x, channel]} vs "
            f"{frames_b[t, y, x, channel]}")


def describe_difference(path_a: str, path_b: str) -> str | None:
    """None when the two files hold the same bytes; otherwise one line saying where and how they differ."""
    with open(path_a, "rb") as handle:
        data_a = handle.read()
    with open(path_b, "rb") as handle:
        data_b = handle.read()
    if data_a == data_b:
        return None
    offset = next((i for i, (x, y) in enumerate(zip(data_a, data_b)) if x != y), min(len(data_a), len(data_b)))
    parts = [f"{path_a} and {path_b} differ: {len(data_a)} vs {len(data_b)} bytes, first at byte {offset}"]
    if path_a.endswith(".mp4"):
        parts[0] += f" (box {mp4_box_path(data_a, offset)} vs {mp4_box_path(data_b, offset)})"
        options_a, options_b = x264_options(data_a), x264_options(data_b)
        if options_a != options_b:
            parts.append(f"x264 settings differ: {sorted(set(options_a.split()) ^ set(options_b.split()))}")
        parts.append(frames_difference(path_a, path_b))
    else:
        line = data_a[:offset].count(b"\n")
        lines_a, lines_b = data_a.split(b"\n"), data_b.split(b"\n")
        parts.append(f"first at line {line + 1}: {lines_a[line][:80]!r} vs "
                     f"{lines_b[line][:80] if line < len(lines_b) else b''!r}")
    return "; ".join(parts)


def tree_difference(root_a: str, root_b: str) -> list[str]:
    """Every difference between two folders: files only one holds, and `describe_difference` of the others."""
    def files(root):
        return sorted(os.path.relpath(os.path.join(folder, name), root)
                      for folder, _, names in os.walk(root) for name in names)

    names_a, names_b = files(root_a), files(root_b)
    problems = [f"only in {root}: {sorted(set(mine) - set(theirs))}"
                for root, mine, theirs in ((root_a, names_a, names_b), (root_b, names_b, names_a))
                if set(mine) - set(theirs)]
    for name in sorted(set(names_a) & set(names_b)):
        problem = describe_difference(os.path.join(root_a, name), os.path.join(root_b, name))
        if problem:
            problems.append(problem)
    return problems
