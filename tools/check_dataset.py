#!/usr/bin/env python
"""Open every video of a dataset split in parallel; report missing, unreadable and short videos.

    python tools/check_dataset.py --cfg configs/k400/base.yaml DATA.PATH_TO_DATA_DIR /data/k400
    python tools/check_dataset.py --cfg FILE --splits train val --workers 16 --write-clean /data/k400/clean

Exits 1 when any video is bad (missing or unreadable; with --fail-on-short also too short for a
clip), 0 otherwise. --write-clean writes <split>.csv of the readable videos into a folder, ready
to use as DATA.PATH_TO_DATA_DIR; --json saves the full report.
"""
import functools
import json
import os
import sys

from video_rs.cli import config_parser, parse_config_args, run_tool
from video_rs.data.annotations import load_split
from video_rs.data.check import check_videos, format_summary, summarise, write_clean_csv
from video_rs.data.loader import split_of
from video_rs.data.synthetic import ensure_synthetic_dataset
from video_rs.engine.logging import progress


def parse_args(argv=None):
    parser = config_parser(__doc__)
    parser.add_argument("--splits", nargs="+", default=["train", "val", "test"],
                        help="modes to check: train (TRAIN.SPLIT), val, test (TEST.SPLIT)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="decoding processes")
    parser.add_argument("--backend", choices=("decord", "pyav"), default=None, help="default: DATA.DECODING_BACKEND")
    parser.add_argument("--write-clean", metavar="DIR", default=None, help="write <split>.csv of readable videos here")
    parser.add_argument("--json", metavar="FILE", default=None, help="write the full report as JSON")
    parser.add_argument("--fail-on-short", action="store_true", help="count videos shorter than one clip as bad")
    return parse_config_args(parser, argv)


def main(argv=None) -> int:
    args, cfg = parse_args(argv)
    ensure_synthetic_dataset(cfg)
    backend = args.backend or cfg.DATA.DECODING_BACKEND
    reports, any_bad = [], False
    for kind, split in dict.fromkeys(split_of(cfg, mode) for mode in args.splits):  # TEST.SPLIT may be "val"
        videos = load_split(cfg, kind, split)
        checks = check_videos(videos, backend, workers=args.workers,
                              progress=functools.partial(progress, desc=split, leave=True))
        summary = summarise(split, checks, num_frames=cfg.DATA.NUM_FRAMES, sampling_rate=cfg.DATA.SAMPLING_RATE,
                            target_fps=cfg.DATA.TARGET_FPS)
        print(format_summary(summary))
        reports.append(summary.to_dict())
        any_bad |= bool(summary.bad) or (args.fail_on_short and bool(summary.short))
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
