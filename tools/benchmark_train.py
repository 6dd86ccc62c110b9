#!/usr/bin/env python
"""End-to-end training throughput from video files: clips/s, data-wait and GPU-busy fractions, peak memory.

    python tools/benchmark_train.py --cfg configs/k400/3d_resnetrs50.yaml --iters 50 --warmup 10 \
        --out benchmarks/train_e2e.json DATA.PATH_TO_DATA_DIR /data/k400 TRAIN.BATCH_SIZE 16
    torchrun --nproc_per_node 2 tools/benchmark_train.py --cfg ... DIST_BACKEND gloo   # DDP path, 1 GPU
"""
import json
import os
import shlex
import sys
from dataclasses import asdict

from video_rs.bench.train_throughput import measure_training_throughput, report_table
from video_rs.cli import config_parser, parse_config_args, run_tool


def parse_args(argv=None):
    parser = config_parser(__doc__)
    parser.add_argument("--iters", type=int, default=50, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (compile, cuDNN, workers)")
    parser.add_argument("--out", default=None, help="write the full report here as JSON")
    return parse_config_args(parser, argv)


def main(argv=None) -> int:
    args, cfg = parse_args(argv)
    report = measure_training_throughput(cfg, iters=args.iters, warmup=args.warmup)
    if report is not None:  # rank 0
        command = shlex.join(["python", "tools/benchmark_train.py", *(sys.argv[1:] if argv is None else argv)])
        print(report_table(report) + f"\nProduced by `{command}`.")
        if args.out:
            os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
            with open(args.out, "w") as handle:
                json.dump({"command": command, **asdict(report)}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
