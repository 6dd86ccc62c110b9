"""Which frames make a clip: one random clip (training) or clips spread over the whole video (test).

Clips are laid out on a `target_fps` timeline and mapped back to source frames, so a clip covers
`(num_frames - 1) * sampling_rate / target_fps` seconds whatever the file's frame rate:

    source frames   0 1 2 3 4 5 6 7 8 9 ...            (fps = 60, target_fps = 30, rate 2)
    clip            ^   .   ^   .   ^   ...   -> every 4th source frame

Indices past the last frame are clamped (the last frame repeats), so short videos still give clips.
"""
from __future__ import annotations

import numpy as np
import torch


def source_step(sampling_rate: int, fps: float, target_fps: float) -> float:
    """Source frames between two sampled frames."""
    return sampling_rate * fps / target_fps


def _clip_from(start: float, num_frames: int, step: float, num_video_frames: int) -> np.ndarray:
    offsets = start + step * np.arange(num_frames)
    return np.clip(np.round(offsets).astype(np.int64), 0, num_video_frames - 1)


def clip_span(num_frames: int, sampling_rate: int, fps: float, target_fps: float) -> float:
    """Source frames from a clip's first sampled frame to its last."""
    return (num_frames - 1) * source_step(sampling_rate, fps, target_fps)


def random_clip_indices(num_video_frames: int, num_frames: int, sampling_rate: int, fps: float,
                        target_fps: float, generator: torch.Generator | None = None) -> np.ndarray:
    """One clip starting at a uniformly random frame (the whole clip inside the video when it fits)."""
    last_start = max(num_video_frames - 1 - clip_span(num_frames, sampling_rate, fps, target_fps), 0.0)
    start = float(torch.rand((), generator=generator)) * last_start
    return _clip_from(start, num_frames, source_step(sampling_rate, fps, target_fps), num_video_frames)


def uniform_clip_indices(num_video_frames: int, num_frames: int, sampling_rate: int, fps: float,
                         target_fps: float, num_clips: int) -> list[np.ndarray]:
    """`num_clips` clips evenly spaced: the first starts at frame 0, the last ends at the last frame.

    PySlowFast's spacing (start k * span / num_clips) never reaches the tail; this one covers it.
    A single clip is centred.
    """
    last_start = max(num_video_frames - 1 - clip_span(num_frames, sampling_rate, fps, target_fps), 0.0)
    if num_clips == 1:
        starts = [last_start / 2]
    else:
        starts = [k * last_start / (num_clips - 1) for k in range(num_clips)]
    step = source_step(sampling_rate, fps, target_fps)
    return [_clip_from(start, num_frames, step, num_video_frames) for start in starts]


def decode_groups(clips: list[np.ndarray], *, max_gap: float, max_frames: int) -> list[list[int]]:
    """Clips (in start order) that one forward decode serves together, as lists of clip numbers.

    A clip joins the previous group while the frames between them are at most `max_gap` (decoding
    through them is cheaper than a seek to the next keyframe) and the group's distinct frames stay
    within `max_frames` (the memory one decode may hold). A clip always fits a group of its own.
    """
    groups: list[list[int]] = []
    wanted = np.empty(0, dtype=np.int64)
    for number, clip in enumerate(clips):
        if groups:
            joined = np.union1d(wanted, clip)
            if int(clip.min()) - int(wanted.max()) <= max_gap and len(joined) <= max_frames:
                groups[-1].append(number)
                wanted = joined
                continue
        groups.append([number])
        wanted = np.unique(clip)
    return groups
