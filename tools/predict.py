#!/usr/bin/env python
"""Top-k classes with scores for video files, from a video_rs checkpoint alone (multi-view test).

    python tools/predict.py --checkpoint model.pyth a.mp4 b.mp4 [--top-k 5] [KEY VALUE ...]
    python tools/predict.py --checkpoint model.pyth a.mp4 TEST.NUM_ENSEMBLE_VIEWS 1 TEST.NUM_SPATIAL_CROPS 1

Overrides (e.g. fewer views, DEVICE cpu) apply on top of the config stored in the checkpoint;
as in every tool, each config key (SECTION.KEY) takes the next argument as its value, anywhere on
the line, with or without --opts before them.
A video that cannot be read prints an ERROR line; the others are still scored; exit status 1.
"""
from __future__ import annotations

import argparse
import sys

from video_rs.cli import is_config_key, split_overrides, user_errors
from video_rs.engine.predict import predict_videos


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="video_rs checkpoint (trained or converted)")
    parser.add_argument("--top-k", type=int, default=5, help="classes printed per video")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[],
                        help="KEY VALUE overrides (the bare form works too)")
    parser.add_argument("videos", nargs="+", metavar="VIDEO", help="video files (KEY VALUE overrides may follow)")
    rest, overrides = split_overrides(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_intermixed_args(rest)  # --top-k may follow the videos
    keys = [token for token in args.videos if is_config_key(token)]
    if keys:
        parser.error(f"{keys[0]} needs a value")
    if args.top_k < 1:
        print(f"error: --top-k must be >= 1 (classes printed per video), got {args.top_k}", file=sys.stderr)
        return 2
    try:
        predictions = predict_videos(args.checkpoint, args.videos, opts=overrides, top_k=args.top_k)
    except user_errors() as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for prediction in predictions:
        print(prediction.format(), file=sys.stderr if prediction.error else sys.stdout)
    return 1 if any(p.error for p in predictions) else 0


if __name__ == "__main__":
    sys.exit(main())
