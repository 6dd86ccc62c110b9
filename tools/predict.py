#!/usr/bin/env python
"""Top-k classes with scores for video files, from a video_rs checkpoint alone (multi-view test).

    python tools/predict.py --checkpoint model.pyth a.mp4 b.mp4 [--top-k 5] [KEY VALUE ...]
    python tools/predict.py --checkpoint model.pyth a.mp4 TEST.NUM_ENSEMBLE_VIEWS 1 TEST.NUM_SPATIAL_CROPS 1

Overrides (e.g. fewer views, DEVICE cpu) apply on top of the config stored in the checkpoint;
they start at the first argument shaped like a config key (SECTION.KEY) or after --opts.
A video that cannot be read prints an ERROR line; the others are still scored; exit status 1.
"""
from __future__ import annotations

import argparse
import os
import re
import sys

from video_rs.config import ConfigError
from video_rs.engine.checkpoint import CheckpointError
from video_rs.engine.predict import predict_videos

_CONFIG_KEY = re.compile(r"^[A-Z][A-Z0-9_]*(\.[A-Z][A-Z0-9_]*)*$")


def split_videos_and_overrides(tokens: list[str]) -> tuple[list[str], list[str]]:
    """Videos first; the first token shaped like a config key (DEVICE, TEST.BATCH_SIZE), not a file, starts the overrides."""
    for i, token in enumerate(tokens):
        if _CONFIG_KEY.match(token) and not os.path.exists(token):
            return tokens[:i], tokens[i:]
    return tokens, []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="video_rs checkpoint (trained or converted)")
    parser.add_argument("--top-k", type=int, default=5, help="classes printed per video")
    parser.add_argument("--opts", nargs="+", default=[], help="KEY VALUE overrides (the bare form works too)")
    parser.add_argument("inputs", nargs="+", metavar="VIDEO", help="video files, then optional KEY VALUE overrides")
    args = parser.parse_intermixed_args(argv)  # --top-k may follow the videos
    videos, overrides = split_videos_and_overrides(args.inputs)
    if not videos:
        parser.error("no video files given")
    try:
        predictions = predict_videos(args.checkpoint, videos, opts=overrides + list(args.opts), top_k=args.top_k)
    except (CheckpointError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for prediction in predictions:
        print(prediction.format(), file=sys.stderr if prediction.error else sys.stdout)
    return 1 if any(p.error for p in predictions) else 0


if __name__ == "__main__":
    sys.exit(main())
