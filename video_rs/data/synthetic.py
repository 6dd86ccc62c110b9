"""A procedural motion dataset (real H.264 mp4 + Kinetics-layout CSVs) for demos and tests.

Each class is a kind of motion, so no single frame tells the classes apart: a frame of a shape
moving left looks like a frame of one moving right. Start positions, shapes, sizes, speeds,
colours, backgrounds and a static distractor are random nuisances; the motion signal is strong and
clean, so a small 3D CNN learns it from 8-16 frame clips at ~64 px within CPU minutes.

    root/.video_rs_synthetic                  marker, written first: the folder is this writer's own
    root/classes.txt                          one class name per line (line i = label i)
    root/{train,val,test}.csv                 "videos/<split>/<class>_0003.mp4 <label>"
    root/videos/<split>/<class>_<i>.mp4

Deterministic by seed: every video draws from its own generator (seed, split, class, index), so one
seed writes the same files byte for byte, in one process or many. That holds per CPU kind and PyAV
build: x264 and FFmpeg's colour conversion pick SIMD code by CPU, and their SIMD and plain-C paths
round differently (turning the SIMD paths off changes the bytes and some decoded pixel values), so
another processor may write other bytes for the same rendered frames.
The writer refuses a folder that holds anything but an earlier synthetic dataset (a user's videos,
annotations or class names), so generated files never mix with real data.
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Sequence

import numpy as np
import torch.distributed as dist

from video_rs.data.annotations import name_a_few
from video_rs.data.atomic import atomic_path, atomic_write
from video_rs.config import ConfigError
from video_rs.data.encode import write_video

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
MARKER_FILE = ".video_rs_synthetic"
# name -> (kind, direction): translations drift a field of shapes (wrapping around the frame edges),
# rotations turn it about the centre, scalings grow or shrink a disc. The first six are the demo's.
MOTIONS: dict[str, tuple[str, tuple[float, float]]] = {
    "right": ("translate", (1, 0)), "left": ("translate", (-1, 0)),
    "down": ("translate", (0, 1)), "up": ("translate", (0, -1)),
    "clockwise": ("rotate", (1, 0)), "counterclockwise": ("rotate", (-1, 0)),
    "down_right": ("translate", (1, 1)), "up_left": ("translate", (-1, -1)),
    "down_left": ("translate", (-1, 1)), "up_right": ("translate", (1, -1)),
    "grow": ("scale", (1, 0)), "shrink": ("scale", (-1, 0)),
}
CLASS_NAMES = list(MOTIONS)


def _luma(rgb: np.ndarray) -> float:
    return float(rgb @ np.array([0.299, 0.587, 0.114]))


def _colours(rng: np.random.Generator, count: int, min_contrast: float = 90.0) -> list[np.ndarray]:
    """A background colour, then `count - 1` colours that each stand out from it in brightness."""
    background = rng.uniform(0, 255, 3)
    out = [background]
    while len(out) < count:
        colour = rng.uniform(0, 255, 3)
        if abs(_luma(colour) - _luma(background)) >= min_contrast:
            out.append(colour)
    return out


def _soft(distance_inside: np.ndarray) -> np.ndarray:
    """Coverage of a pixel whose centre lies `distance_inside` px inside an edge (anti-aliased shapes)."""
    return np.clip(distance_inside + 0.5, 0.0, 1.0)


def _wrapped(delta: np.ndarray, period: float) -> np.ndarray:
    return (delta + period / 2) % period - period / 2


def _shape_alpha(kind: str, dx: np.ndarray, dy: np.ndarray, radius: np.ndarray) -> np.ndarray:
    if kind == "disc":
        return _soft(radius - np.sqrt(dx ** 2 + dy ** 2))
    return _soft(radius - np.maximum(np.abs(dx), np.abs(dy)))  # square


def _paint(video: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Alpha-blend `colour` into `video` in place, touching only covered pixels (rendering is the slow part)."""
    alpha = np.broadcast_to(alpha, video.shape[:-1])
    covered = alpha > 0
    weight = alpha[covered].astype(np.float32)[:, None]
    video[covered] -= weight * (video[covered] - colour.astype(np.float32))
    return video


def render_motion(motion: str, rng: np.random.Generator, *, num_frames: int, height: int, width: int) -> np.ndarray:
    """uint8 RGB frames [T, H, W, 3] of one video of class `motion`.

    Translations and rotations move a whole field of 4-7 shapes together, so nearly every part of the
    frame carries the motion (a small 3D CNN picks it up in minutes); scalings grow or shrink one disc.
    """
    kind, (sx, sy) = MOTIONS[motion]
    side = min(height, width)
    t = np.arange(num_frames, dtype=np.float32)[:, None, None]
    y = np.arange(height, dtype=np.float32)[:, None]  # separable coordinates: shapes broadcast to [T, H, W]
    x = np.arange(width, dtype=np.float32)[None, :]
    count = int(rng.integers(4, 8))
    background, still_colour, *colours = _colours(rng, 2 + count)
    gradient = rng.uniform(-25, 25, 3) * (x / width - 0.5)[..., None]
    still_xy, still_r = rng.uniform([0, 0], [width, height]), rng.uniform(0.06, 0.1) * side  # a static distractor
    frame = _paint(np.broadcast_to(background + gradient, (height, width, 3)).astype(np.float32), _soft(still_r - np.hypot(x - still_xy[0], y - still_xy[1])), still_colour)
    video = np.repeat(frame[None], num_frames, axis=0)

    if kind == "translate":  # the field drifts, wrapping around the frame edges
        speed = rng.uniform(0.018, 0.028) * side / math.hypot(sx, sy)  # ~1-2 px a frame at 64 px: local motion
        for colour in colours:
            cx = rng.uniform(0, width) + sx * speed * t
            cy = rng.uniform(0, height) + sy * speed * t
            shape = "disc" if rng.random() < 0.5 else "square"
            radius = np.float32(rng.uniform(0.07, 0.13) * side)
            video = _paint(video, _shape_alpha(shape, _wrapped(x - cx, width), _wrapped(y - cy, height), radius),
                           colour)
    elif kind == "rotate":  # the field turns about a point near the centre (positive: clockwise on screen)
        centre_x, centre_y = rng.uniform(0.45, 0.55) * width, rng.uniform(0.45, 0.55) * height
        omega = sx * rng.uniform(0.035, 0.055)  # rad a frame: 1-2 px at the frame edge
        reach = 0.5 * math.hypot(height, width)
        for colour in colours:
            r, phase = reach * math.sqrt(rng.uniform(0.05, 1.0)), rng.uniform(0, 2 * math.pi)
            cx = centre_x + r * np.cos(phase + omega * t)
            cy = centre_y + r * np.sin(phase + omega * t)
            radius = np.float32(rng.uniform(0.08, 0.14) * side)
            video = _paint(video, _shape_alpha("disc", x - cx, y - cy, radius), colour)
    else:  # scale: the radius sweeps [small, large] one way; start drawn so sizes look alike per frame
        small, large = 0.08 * side, 0.4 * side
        rate = (large - small) / max(num_frames - 1, 1) * rng.uniform(0.6, 1.0)
        slack = large - small - rate * (num_frames - 1)
        start = small + rng.uniform(0, slack) if sx > 0 else large - rng.uniform(0, slack)
        cx, cy = rng.uniform(0.4, 0.6) * width, rng.uniform(0.4, 0.6) * height
        video = _paint(video, _shape_alpha("disc", x - cx, y - cy, start + sx * rate * t), colours[0])
    return np.clip(np.round(video), 0, 255).astype(np.uint8)


def _write_one(job: tuple) -> None:
    path, motion, seed_key, num_frames, height, width, fps = job
    frames = render_motion(motion, np.random.default_rng(seed_key), num_frames=num_frames, height=height,
                           width=width)
    with atomic_path(path, ".partial.mp4") as partial:  # a crash never leaves a half-written video under its name
        write_video(partial, frames, fps=fps, crf=18)


def check_generation_folder(root: str) -> None:
    """Raise FileExistsError when `root` holds files and is not a folder this writer made (no MARKER_FILE)."""
    entries = sorted(os.listdir(root)) if os.path.isdir(root) else []
    if entries and MARKER_FILE not in entries:
        raise FileExistsError(f"{root} already holds files ({name_a_few(entries)}) and is not a synthetic dataset "
                              "folder: the generated videos, CSVs and classes.txt would mix with them")


def generate_synthetic_dataset(root: str, *, num_classes: int, videos_per_class: Sequence[int] = (24, 6, 6),
                               num_frames: int = 48, size: Sequence[int] = (64, 80), fps: float = 30,
                               seed: int = 0, workers: int | None = None) -> str:
    """Write the dataset into `root` (train/val/test CSVs last, so train.csv means complete); returns root."""
    if not 1 <= num_classes <= len(MOTIONS):
        raise ValueError(f"the synthetic dataset has {len(MOTIONS)} motion classes ({', '.join(MOTIONS)}); "
                         f"{num_classes} were asked for (MODEL.NUM_CLASSES)")
    if len(videos_per_class) != 3:
        raise ValueError(f"videos_per_class needs (train, val, test), got {videos_per_class}")
    height, width = (int(s) + int(s) % 2 for s in size)  # H.264 4:2:0 needs even sizes
    check_generation_folder(root)
    os.makedirs(root, exist_ok=True)
    _write_text(os.path.join(root, MARKER_FILE), ["written by video_rs.data.synthetic: safe to regenerate into"])
    jobs, rows = [], {split: [] for split in SPLITS}
    for split_index, (split, count) in enumerate(zip(SPLITS, videos_per_class)):
        os.makedirs(os.path.join(root, "videos", split), exist_ok=True)
        for label, motion in enumerate(CLASS_NAMES[:num_classes]):
            for i in range(count):
                relative = f"videos/{split}/{motion}_{i:04d}.mp4"
                rows[split].append(f"{relative} {label}")
                jobs.append((os.path.join(root, relative), motion, [seed, split_index, label, i], num_frames, height,
                             width, fps))
    workers = workers if workers is not None else min(len(jobs) // 64, os.cpu_count() or 1)
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_write_one, jobs, chunksize=8))
    else:
        for job in jobs:
            _write_one(job)
    _write_text(os.path.join(root, "classes.txt"), CLASS_NAMES[:num_classes])
    for split in reversed(SPLITS):
        _write_text(os.path.join(root, f"{split}.csv"), rows[split])
    return root


def _write_text(path: str, lines: Sequence[str]) -> None:
    with atomic_write(path, encoding="utf-8") as handle:
        handle.write("".join(f"{line}\n" for line in lines))


def ensure_synthetic_dataset(cfg) -> None:
    """With SYNTHETIC.ENABLE, generate into DATA.PATH_TO_DATA_DIR unless its train.csv exists.

    A folder holding other data (a folder-per-class or UCF101 layout has no train.csv) is refused
    with a ConfigError naming it. Under torch.distributed, rank 0 writes and the others wait at a barrier.
    """
    if not cfg.SYNTHETIC.ENABLE:
        return
    root = cfg.DATA.PATH_TO_DATA_DIR
    if not root:
        raise ConfigError("SYNTHETIC.ENABLE needs DATA.PATH_TO_DATA_DIR: the folder to generate the dataset into")
    distributed = dist.is_available() and dist.is_initialized()
    missing = not os.path.isfile(os.path.join(root, "train.csv"))
    if missing:
        try:
            check_generation_folder(root)  # on every rank, so none is left waiting at the barrier
        except FileExistsError as err:
            raise ConfigError(f"SYNTHETIC.ENABLE would generate the synthetic dataset into DATA.PATH_TO_DATA_DIR, but "
                              f"{err}. Set SYNTHETIC.ENABLE False to use the data in {root}, or give "
                              "DATA.PATH_TO_DATA_DIR an empty or new folder") from None
    if missing and (not distributed or dist.get_rank() == 0):
        started = time.perf_counter()
        generate_synthetic_dataset(root, num_classes=cfg.MODEL.NUM_CLASSES,
                                   videos_per_class=tuple(cfg.SYNTHETIC.VIDEOS_PER_CLASS),
                                   num_frames=cfg.SYNTHETIC.NUM_FRAMES, size=tuple(cfg.SYNTHETIC.SIZE),
                                   fps=cfg.SYNTHETIC.FPS, seed=cfg.RNG_SEED)
        logger.info("generated the synthetic dataset in %s (%.1f s)", root, time.perf_counter() - started)
    if distributed:
        dist.barrier()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the synthetic motion dataset (mp4 + CSVs).")
    parser.add_argument("--out", required=True, help="folder to write into")
    parser.add_argument("--num-classes", type=int, default=6, help=f"1..{len(MOTIONS)}: {', '.join(MOTIONS)}")
    parser.add_argument("--videos-per-class", type=int, nargs=3, default=(24, 6, 6), metavar=("TRAIN", "VAL", "TEST"))
    parser.add_argument("--num-frames", type=int, default=48)
    parser.add_argument("--size", type=int, nargs=2, default=(64, 80), metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--fps", type=float, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None, help="encoding processes (default: CPU count)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    generate_synthetic_dataset(args.out, num_classes=args.num_classes, videos_per_class=args.videos_per_class,
                               num_frames=args.num_frames, size=args.size, fps=args.fps, seed=args.seed,
                               workers=args.workers)
    total = args.num_classes * sum(args.videos_per_class)
    print(f"wrote {total} videos to {args.out} in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
