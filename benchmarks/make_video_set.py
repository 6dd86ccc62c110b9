#!/usr/bin/env python
"""Write a Kinetics-like H.264 set for the data and end-to-end benchmarks: N videos, 10 s, 454x256, 30 fps.

    python benchmarks/make_video_set.py OUT_DIR --videos 48 --gop 250 32 --workers 16

Kinetics after the usual 256-pixel resize is ~10-second 340-454 x 256 H.264 at x264's defaults
(crf 23, keyframe interval 250), so most of a random clip's decode is the run from the previous
keyframe: a reference measurement found 1.6x faster random clips with a 32-frame interval. One subfolder per
interval (gop250/, gop32/) holds the same frames, so the sets differ only in the encoding.

Content is a textured image panned like a hand-held camera with moving blobs and sensor noise:
flat or static frames would compress to almost nothing and decode unrealistically fast.
Each folder gets train.csv/val.csv in PySlowFast's `path label` layout, every file listed
`--repeat` times, so an epoch is long enough that loader start-up at epoch ends stays out of timings.
"""
from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from video_rs.data.encode import VideoWriter


def render(seed: int, *, frames: int, height: int, width: int) -> np.ndarray:
    """uint8 [T, H, W, 3]: smooth texture under a wandering camera, two moving blobs, noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (height // 8 + 8, width // 8 + 8, 3)).astype(np.float32)
    texture = np.kron(coarse, np.ones((8, 8, 1), np.float32))  # blocky, then smoothed
    for axis in (0, 1):
        texture = (texture + np.roll(texture, 4, axis) + np.roll(texture, -4, axis)) / 3
    fine = rng.normal(0, 12, texture.shape).astype(np.float32)
    texture = np.clip(texture + fine, 0, 255)
    t = np.arange(frames)
    pan_y = (np.sin(t / 37 + rng.uniform(0, 6)) * 12 + 24).astype(int)
    pan_x = (np.cos(t / 53 + rng.uniform(0, 6)) * 24 + 32).astype(int)
    yy, xx = np.mgrid[:height, :width]
    out = np.empty((frames, height, width, 3), np.uint8)
    blobs = rng.uniform(0, 1, (2, 4))  # centre y, x, speed y, speed x
    for i in range(frames):
        frame = texture[pan_y[i]:pan_y[i] + height, pan_x[i]:pan_x[i] + width].copy()
        for cy, cx, vy, vx in blobs:
            y = (cy * height + vy * 3 * i) % height
            x = (cx * width + vx * 4 * i) % width
            mask = ((yy - y) ** 2 + (xx - x) ** 2) < (height / 6) ** 2
            frame[mask] = 255 - frame[mask]
        frame += rng.normal(0, 3, frame.shape).astype(np.float32)
        out[i] = np.clip(frame, 0, 255).astype(np.uint8)
    return out


def write_one(job: tuple) -> None:
    seed, paths, gops, frames, height, width, fps = job
    video = render(seed, frames=frames, height=height, width=width)
    for path, gop in zip(paths, gops):
        with VideoWriter(path, width=width, height=height, fps=fps, crf=23, gop=gop, preset="medium") as writer:
            writer.write(video)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--videos", type=int, default=48)
    parser.add_argument("--gop", type=int, nargs="+", default=[250, 32], help="keyframe intervals, one folder each")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", type=int, nargs=2, default=[256, 454], metavar=("H", "W"))
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--classes", type=int, default=400, help="labels drawn from [0, classes)")
    parser.add_argument("--repeat", type=int, default=20, help="times each file is listed in train.csv")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args(argv)
    folders = [os.path.join(args.out_dir, f"gop{g}") for g in args.gop]
    for folder in folders:
        os.makedirs(os.path.join(folder, "videos"), exist_ok=True)
    names = [f"videos/v{i:04d}.mp4" for i in range(args.videos)]
    frames = int(round(args.seconds * args.fps))
    jobs = [(i, [os.path.join(f, n) for f in folders], args.gop, frames, *args.size, args.fps)
            for i, n in enumerate(names)]
    with ProcessPoolExecutor(args.workers) as pool:
        list(pool.map(write_one, jobs))
    labels = np.random.default_rng(0).integers(0, args.classes, args.videos)
    for folder in folders:
        rows = [f"{os.path.join(folder, n)} {label}" for n, label in zip(names, labels)]
        with open(os.path.join(folder, "train.csv"), "w") as handle:
            handle.write("\n".join(rows * args.repeat) + "\n")
        for split in ("val", "test"):
            with open(os.path.join(folder, f"{split}.csv"), "w") as handle:
                handle.write("\n".join(rows) + "\n")
    sizes = [os.path.getsize(os.path.join(folders[0], n)) for n in names]
    print(f"wrote {args.videos} videos x {len(folders)} keyframe intervals to {args.out_dir}; "
          f"mean {np.mean(sizes) / 1e3:.0f} kB = {np.mean(sizes) * 8 / args.seconds / 1e3:.0f} kbit/s "
          f"(gop {args.gop[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
