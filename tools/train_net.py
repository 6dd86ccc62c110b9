#!/usr/bin/env python
"""Train a video classifier, then (TEST.ENABLE) run the multi-view test on the final (EMA) weights.

    python tools/train_net.py --cfg configs/k400/3d_resnetrs50.yaml [KEY VALUE ...]
    torchrun --nproc_per_node 8 tools/train_net.py --cfg ...      # TRAIN.BATCH_SIZE is the global batch
"""
import sys

from video_rs.cli import config_parser, parse_config_args, run_tool
from video_rs.engine.train import main


if __name__ == "__main__":
    _, cfg = parse_config_args(config_parser(__doc__))
    sys.exit(run_tool(main, cfg))
