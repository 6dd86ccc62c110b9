#!/usr/bin/env python
"""Run a baseline-to-improved study: each row a full train + multi-view test, then the gains table.

    python tools/ablate.py --cfg configs/ablation/synthetic_ci.yaml [--rows A,B] [--skip C] [--list] [KEY VALUE ...]
    torchrun --nproc_per_node 8 tools/ablate.py --cfg configs/ablation/k400_r3d50.yaml   # every rank runs every row

Rows are named by their file stem (00_baseline, 01_cosine, ...). KEY VALUE overrides apply to every
row, after the row's own overrides. Finished rows are not run again; see configs/ablation/README.md.
"""
import sys

from video_rs.cli import config_parser, parse_config_args
from video_rs.engine.distributed import is_main_process
from video_rs.engine.logging import setup_logging
from video_rs.study import StudyError, load_study, run_study, select_rows, update_gains
from video_rs.study.runner import describe_plan


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def main(argv=None) -> int:
    parser = config_parser(__doc__)
    parser.add_argument("--rows", type=_names, default=None, help="comma-separated rows to run, in this order")
    parser.add_argument("--skip", type=_names, default=[], help="comma-separated rows to leave out")
    parser.add_argument("--list", action="store_true", help="print the rows, their overrides and status; run nothing")
    args, _ = parse_config_args(parser, argv)  # validates the study file + overrides, exits 2 on a bad key
    if not args.cfg_file:
        parser.error("--cfg STUDY.yaml is required")
    overrides = args.overrides
    if is_main_process():
        setup_logging(None)  # the study's own lines before the first row's run sets up its log.txt
    try:
        study = load_study(args.cfg_file, overrides)
        rows = select_rows(study, args.rows, args.skip)
        if args.list:
            print("\n".join(describe_plan(study.configs(rows))))
            return 0
        planned = run_study(study, rows, on_row_done=lambda done: update_gains(study, done))
    except StudyError as err:
        print(f"study error: {err}", file=sys.stderr)
        return 2
    if is_main_process():
        for path in update_gains(study, planned):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
