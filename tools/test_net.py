#!/usr/bin/env python
"""Multi-view test of a checkpoint alone; the network is rebuilt from the config stored in the file.

    python tools/test_net.py --checkpoint run/checkpoints/checkpoint_epoch_00350.pyth [KEY VALUE ...]
    python tools/test_net.py --cfg configs/k400/3d_resnetrs50.yaml OUTPUT_DIR run   # newest in run/

Without --cfg, data and test settings also come from the checkpoint's config (overrides apply).
A checkpoint named by --checkpoint or TEST.CHECKPOINT_FILE_PATH is evaluated into its own folder,
OUTPUT_DIR/test_<checkpoint name>/ (results.json, predictions.csv, ...), so the results of the test
that ended training stay in OUTPUT_DIR; without one, the newest checkpoint's results go to OUTPUT_DIR.
"""
import argparse
import sys

from video_rs.config import ConfigError
from video_rs.cli import config_parser, parse_config_args, run_tool
from video_rs.engine.checkpoint import cfg_from_checkpoint, load_checkpoint
from video_rs.engine.evaluate import test, with_checkpoint_output_dir
from video_rs.engine.session import run_session


def _cfg(parser: argparse.ArgumentParser):
    args, cfg = parse_config_args(parser)
    if args.cfg_file or not args.checkpoint:
        if args.checkpoint:
            cfg.defrost()
            cfg.TEST.CHECKPOINT_FILE_PATH = args.checkpoint
            cfg.freeze()
        return with_checkpoint_output_dir(cfg)
    try:
        return with_checkpoint_output_dir(cfg_from_checkpoint(
            load_checkpoint(args.checkpoint), ["TEST.CHECKPOINT_FILE_PATH", args.checkpoint] + args.overrides))
    except ConfigError as err:
        parser.exit(2, f"config error: {err}\n")


if __name__ == "__main__":
    parser = config_parser(__doc__)
    parser.add_argument("--checkpoint", default="", help="checkpoint file (default: TEST.CHECKPOINT_FILE_PATH, "
                                                         "else the newest in OUTPUT_DIR/checkpoints)")
    with run_session():
        sys.exit(run_tool(lambda: test(_cfg(parser))))
