"""Dataset health check: open every video of a split in parallel, say which are bad and why, summarise.

A video is bad when it is missing or cannot be decoded at its first, middle and last frame (which
catches truncated files); it is short when it has fewer frames than one training clip spans (not
an error: clips clamp, but many short videos distort training). Statistics cover frame rates,
resolutions, durations and rotation flags, so a mis-resized or mixed-fps copy of a dataset shows at once.

`verify_seeking` holds a sample of videos to the decoding contract: frames fetched by seeking (a
fresh open per frame) must be the frames a sequential decode gives at those indices.
"""
from __future__ import annotations

import math
import os
import zlib
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from video_rs.data.annotations import VideoList
from video_rs.data.decoders import DecodeError, VideoInfo, decode_sequential, open_video


@dataclass
class VideoCheck:
    path: str
    label: int
    info: VideoInfo | None = None
    reason: str | None = None  # why it is bad; None when readable

    @property
    def ok(self) -> bool:
        return self.reason is None


def check_video(path: str, label: int, backend: str) -> VideoCheck:
    """Open `path` and decode its first, middle and last frame."""
    if not os.path.exists(path):
        return VideoCheck(path, label, reason="file not found")
    try:
        with open_video(path, backend) as video:
            last = video.num_frames - 1
            video.get([0, last // 2, last])
            info = video.info
    except DecodeError as err:
        return VideoCheck(path, label, reason=err.reason)
    return VideoCheck(path, label, info=info)


def _check_job(job: tuple[str, int, str]) -> VideoCheck:
    return check_video(*job)


def run_jobs(function, jobs: list, workers: int, progress=None, *, chunksize: int | None = None) -> list:
    """`function` over `jobs` in `workers` processes (in this one for 1), in order; `progress(iterator,
    total=n)` wraps the result iterator. `chunksize`: jobs a process takes at a time (default: up to 64)."""
    wrap = progress or (lambda iterable, total: iterable)
    if workers <= 1 or len(jobs) <= 1:
        return list(wrap(map(function, jobs), total=len(jobs)))
    with ProcessPoolExecutor(min(workers, len(jobs))) as pool:
        chunksize = chunksize or max(1, min(64, len(jobs) // (workers * 8)))
        return list(wrap(pool.map(function, jobs, chunksize=chunksize), total=len(jobs)))


def check_videos(videos: VideoList, backend: str, *, workers: int = 1, progress=None) -> list[VideoCheck]:
    """Check every video (in `workers` processes); `progress(iterator, total=n)` wraps the results
    (e.g. `video_rs.engine.logging.progress`)."""
    jobs = [(path, label, backend) for path, label in zip(videos.paths, videos.labels)]
    return run_jobs(_check_job, jobs, workers, progress)


SAME_FRAME_MEAN_DIFF = 1.0  # mean |difference| up to which two decodes are the same frame (colour rounding)


@dataclass
class SeekCheck:
    path: str
    indices: list[int]
    wrong: dict[int, float] = field(default_factory=dict)  # index -> mean |difference| from the sequential decode
    reason: str | None = None  # why it could not be checked


def verify_seeking(path: str, backend: str, *, num_indices: int = 4, seed: int = 0) -> SeekCheck:
    """Fetch `num_indices` random frames of `path` by seeking (a fresh open each) and compare them with a
    sequential decode of the file."""
    try:
        with open_video(path, backend) as video:
            num_frames = video.num_frames
        rng = np.random.default_rng([seed, zlib.crc32(path.encode())])
        indices = sorted(rng.choice(num_frames, min(num_frames, num_indices), replace=False).tolist())
        seeked = []
        for index in indices:
            with open_video(path, backend) as video:
                seeked.append(video.get([index])[0])
        reference = decode_sequential(path, indices)
    except DecodeError as err:
        return SeekCheck(path, [], reason=err.reason)
    differences = [float(np.abs(a.astype(np.int16) - b).mean()) if a.shape == b.shape else 255.0
                   for a, b in zip(seeked, reference)]
    return SeekCheck(path, indices, {i: d for i, d in zip(indices, differences) if d > SAME_FRAME_MEAN_DIFF})


def _verify_job(job: tuple[str, str, int]) -> SeekCheck:
    path, backend, seed = job
    return verify_seeking(path, backend, seed=seed)


def verify_videos(paths: Sequence[str], backend: str, *, workers: int = 1, seed: int = 0,
                  progress=None) -> list[SeekCheck]:
    """`verify_seeking` on every path (in `workers` processes)."""
    return run_jobs(_verify_job, [(path, backend, seed) for path in paths], workers, progress)


def format_seek_checks(split: str, checks: Sequence[SeekCheck], backend: str) -> str:
    unreliable = [c for c in checks if c.wrong]
    lines = [f"[{split}] frames: {len(checks)} videos seek-checked with {backend} against a sequential decode: "
             f"{len(unreliable)} return wrong frames"]
    for check in unreliable:
        wrong = ", ".join(f"{index} (mean difference {diff:.1f})" for index, diff in check.wrong.items())
        lines.append(f"  WRONG FRAMES {check.path}: frames {wrong}")
    if unreliable:
        lines.append("  fix: re-encode these videos with datasets/prepare_*.py (frame-exact H.264 mp4), or decode "
                     "with the other backend (--backend / DATA.DECODING_BACKEND)")
    return "\n".join(lines)


@dataclass
class SplitSummary:
    split: str
    total: int
    bad: list[VideoCheck] = field(default_factory=list)
    short: list[VideoCheck] = field(default_factory=list)
    stats: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"split": self.split, "total": self.total, "bad": [{"path": c.path, "reason": c.reason} for c in self.bad],
                "short": [{"path": c.path, "frames": c.info.num_frames} for c in self.short], "stats": self.stats}


def _spread(values: Sequence[float]) -> dict:
    if not values:
        return {}
    array = np.asarray(values, dtype=np.float64)
    return {"min": float(array.min()), "median": float(np.median(array)), "max": float(array.max())}


def summarise(split: str, checks: list[VideoCheck], *, num_frames: int, sampling_rate: int,
              target_fps: float) -> SplitSummary:
    """Bad videos, videos shorter than one clip (at their own fps), fps / resolution / duration statistics."""
    readable = [c for c in checks if c.ok]
    infos = [c.info for c in readable]
    stats = {
        "fps": dict(Counter(f"{i.fps:.2f}" for i in infos).most_common(8)),
        "short_side": _spread([min(i.height, i.width) for i in infos]),
        "resolutions": dict(Counter(f"{i.width}x{i.height}" for i in infos).most_common(8)),
        "frames": _spread([i.num_frames for i in infos]),
        "duration_s": _spread([i.duration for i in infos]),
        "rotated": _rotations(infos),
        "bad_reasons": dict(Counter(_reason_kind(c.reason) for c in checks if not c.ok).most_common()),
    }
    return SplitSummary(split, len(checks), bad=[c for c in checks if not c.ok],
                        short=[c for c in readable if c.info.num_frames < clip_frames_needed(
                            num_frames, sampling_rate, c.info.fps, target_fps)], stats=stats)


def _rotations(infos: Sequence[VideoInfo]) -> dict:
    """{"videos": how many carry a rotation flag, "90": ..., "180": ..., "270": ...}; empty when none does."""
    turned = Counter(str(i.rotation) for i in infos if i.rotation)
    return {"videos": sum(turned.values()), **dict(sorted(turned.items()))} if turned else {}


def _reason_kind(reason: str) -> str:
    """Group reasons for the summary: the text before the first ':' ('cannot open', 'file not found', ...)."""
    return reason.split(":")[0].strip()


def clip_frames_needed(num_frames: int, sampling_rate: int, fps: float, target_fps: float) -> int:
    """Source frames one clip spans (the short-video threshold)."""
    return int(math.floor((num_frames - 1) * sampling_rate * fps / target_fps)) + 1


def format_summary(summary: SplitSummary, *, max_listed: int = 20) -> str:
    lines = [f"[{summary.split}] {summary.total} videos: {len(summary.bad)} bad, {len(summary.short)} shorter than "
             "one clip"]
    for check in summary.bad[:max_listed]:
        lines.append(f"  BAD   {check.path}: {check.reason}")
    for check in summary.short[:max_listed]:
        lines.append(f"  SHORT {check.path}: {check.info.num_frames} frames")
    hidden = max(0, len(summary.bad) - max_listed) + max(0, len(summary.short) - max_listed)
    if hidden:
        lines.append(f"  ... and {hidden} more (see the JSON report)")
    for key, value in summary.stats.items():
        if key == "rotated" and value:
            angles = ", ".join(f"{k} degrees: {v}" for k, v in value.items() if k != "videos")
            lines.append(f"  rotated: {value['videos']} videos carry a rotation flag ({angles}); decoded upright")
        elif value:
            lines.append(f"  {key}: {_format_stat(value)}")
    return "\n".join(lines)


def _format_stat(value: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k}: {v}" for k, v in value.items())


def write_clean_csv(path: str, checks: Iterable[VideoCheck], class_names: Sequence[str] | None = None) -> int:
    """`path label` rows of the readable videos (absolute paths); returns how many.

    With `class_names`, classes.txt goes next to the CSV, so the folder works as DATA.PATH_TO_DATA_DIR
    without losing the names (checkpoints, predictions.csv and tools/predict.py print them).
    """
    rows = [f"{c.path} {c.label}\n" for c in checks if c.ok]
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(rows)
    if class_names:
        with open(os.path.join(folder, "classes.txt"), "w", encoding="utf-8") as handle:
            handle.writelines(f"{name}\n" for name in class_names)
    return len(rows)
