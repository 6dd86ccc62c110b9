#!/usr/bin/env python
"""Open every video of a dataset split in parallel; report missing, unreadable and short videos.

    python tools/check_dataset.py --cfg configs/k400/base.yaml DATA.PATH_TO_DATA_DIR /data/k400
    python tools/check_dataset.py --cfg FILE --splits train val --workers 16 --write-clean /data/k400/clean
    python tools/check_dataset.py --cfg FILE --splits train --verify-frames 100   # or: --verify-frames all

Exits 1 when any video is bad (missing or unreadable; with --fail-on-short also too short for a
clip), 0 otherwise; 2 with one `error:` line for a wrong option (checked before the first video is
opened) or annotation file. --write-clean writes <split>.csv of the readable videos into a folder, ready
to use as DATA.PATH_TO_DATA_DIR; --json saves the full report. --verify-frames [N] fetches a few
random frames of N readable videos per split (default 20; `all`) by seeking with the backend and
compares them with a sequential decode; videos that return wrong frames are listed (exit 1).
"""
import dataclasses
import functools
import json
import os
import sys

import numpy as np

from video_rs.cli import config_parser, parse_config_args, run_tool
from video_rs.data.annotations import load_split
from video_rs.data.check import (check_videos, format_seek_checks, format_summary, summarise, verify_videos,
                                 write_clean_csv)
from video_rs.data.dataset import MODES
from video_rs.data.loader import split_of
from video_rs.data.synthetic import ensure_synthetic_dataset
from video_rs.engine.logging import progress


def parse_args(argv=None):
    parser = config_parser(__doc__)
    parser.add_argument("--splits", nargs="+", default=list(MODES),
                        help="modes to check: train (TRAIN.SPLIT), val, test (TEST.SPLIT)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="decoding processes")
    parser.add_argument("--backend", choices=("decord", "pyav"), default=None, help="default: DATA.DECODING_BACKEND")
    parser.add_argument("--write-clean", metavar="DIR", default=None, help="write <split>.csv of readable videos here")
    parser.add_argument("--json", metavar="FILE", default=None, help="write the full report as JSON")
    parser.add_argument("--fail-on-short", action="store_true", help="count videos shorter than one clip as bad")
    parser.add_argument("--verify-frames", nargs="?", const="20", default=None, metavar="N",
                        help="seek-check N random readable videos per split against a sequential decode "
                             "(default 20; 'all' for every one)")
    args, cfg = parse_config_args(parser, argv)
    if args.verify_frames is not None and args.verify_frames != "all" and not (
            args.verify_frames.isdigit() and int(args.verify_frames) > 0):
        parser.error(f"--verify-frames takes a positive number of videos or 'all', got {args.verify_frames!r}")
    return args, cfg


def _sample(checks, count: str, seed: int) -> list[str]:
    """Paths of `count` ('all' or a number) readable videos, a seeded random sample."""
    paths = [c.path for c in checks if c.ok]
    if count == "all" or int(count) >= len(paths):
        return paths
    chosen = np.random.default_rng(seed).choice(len(paths), int(count), replace=False)
    return [paths[i] for i in sorted(chosen)]


def _argument_problem(args) -> str | None:
    """What is wrong with the options, found before the (maybe hours-long) check: an unknown split, a
    --json or --write-clean path that could not be written."""
    unknown = [split for split in args.splits if split not in MODES]
    if unknown:
        return f"--splits {' '.join(unknown)}: not a split; choose from {', '.join(MODES)}"
    if args.json:
        folder = os.path.dirname(os.path.abspath(args.json))
        if os.path.isdir(args.json):
            return f"--json {args.json} is a folder; give the report's file name"
        if not os.path.isdir(folder):
            return f"--json {args.json}: folder {folder} does not exist"
    if args.write_clean:
        try:
            os.makedirs(args.write_clean, exist_ok=True)
        except OSError as err:
            return f"--write-clean {args.write_clean}: cannot create the folder ({err.strerror or err})"
    return None


def main(argv=None) -> int:
    args, cfg = parse_args(argv)
    problem = _argument_problem(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    ensure_synthetic_dataset(cfg)
    backend = args.backend or cfg.DATA.DECODING_BACKEND
    reports, any_bad = [], False
    for kind, split in dict.fromkeys(split_of(cfg, mode) for mode in args.splits):  # TEST.SPLIT may be "val"
        videos = load_split(cfg, kind, split)
        checks = check_videos(videos, backend, workers=args.workers,
                              progress=functools.partial(progress, desc=f"check {split}", leave=True))
        summary = summarise(split, checks, num_frames=cfg.DATA.NUM_FRAMES, sampling_rate=cfg.DATA.SAMPLING_RATE,
                            target_fps=cfg.DATA.TARGET_FPS)
        print(format_summary(summary))
        reports.append(summary.to_dict())
        any_bad |= bool(summary.bad) or (args.fail_on_short and bool(summary.short))
        if args.verify_frames is not None:
            seek_checks = verify_videos(_sample(checks, args.verify_frames, cfg.RNG_SEED), backend,
                                        workers=args.workers, seed=cfg.RNG_SEED,
                                        progress=functools.partial(progress, desc=f"{split} frames", leave=True))
            print(format_seek_checks(split, seek_checks, backend))
            reports[-1]["seek_check"] = [dataclasses.asdict(check) for check in seek_checks]
            any_bad |= any(c.wrong for c in seek_checks)
        if args.write_clean:
            kept = write_clean_csv(os.path.join(args.write_clean, f"{split}.csv"), checks, videos.class_names)
            print(f"  wrote {kept} readable videos to {os.path.join(args.write_clean, split + '.csv')}")
    if args.write_clean and cfg.TRAIN.DATASET != "kinetics":
        print(f"  note: these are path-label CSVs; train on them with TRAIN.DATASET kinetics "
              f"DATA.PATH_TO_DATA_DIR {args.write_clean} (TRAIN.DATASET {cfg.TRAIN.DATASET} reads split files)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"backend": backend, "splits": reports}, handle, indent=2)
    return 1 if any_bad else 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
