#!/usr/bin/env python
"""Data-loader throughput (clips/s) for a config, per backend and number of workers.

    python tools/benchmark_data.py --cfg configs/k400/base.yaml --workers 4 8 16 DATA.PATH_TO_DATA_DIR /data/k400
    python tools/benchmark_data.py --cfg configs/synthetic/demo.yaml --backends decord pyav --workers 0 2

Set the loader against the model's training speed (tools/benchmark.py): whichever is lower bounds
training. --json saves the rows.
"""
import json
import sys

from video_rs.cli import config_parser, parse_config_args, run_tool
from video_rs.data.throughput import describe_loader, measure_loader


def parse_args(argv=None):
    parser = config_parser(__doc__)
    parser.add_argument("--mode", choices=("train", "val", "test"), default="train")
    parser.add_argument("--workers", type=int, nargs="+", default=None, help="default: DATA_LOADER.NUM_WORKERS")
    parser.add_argument("--backends", nargs="+", choices=("decord", "pyav"), default=None,
                        help="default: DATA.DECODING_BACKEND")
    parser.add_argument("--batches", type=int, default=20, help="timed batches per setting")
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches first (worker start-up)")
    parser.add_argument("--json", metavar="FILE", default=None)
    return parse_config_args(parser, argv)


def main(argv=None) -> int:
    args, cfg = parse_args(argv)
    rows = []
    print(describe_loader(cfg, args.mode))
    print(f"{'mode':<6} {'backend':<7} {'workers':>7} {'batch':>5} {'clips/s':>9} {'first batch s':>13}")
    for backend in args.backends or [cfg.DATA.DECODING_BACKEND]:
        for workers in args.workers or [cfg.DATA_LOADER.NUM_WORKERS]:
            speed = measure_loader(cfg, mode=args.mode, num_workers=workers, backend=backend, batches=args.batches,
                                   warmup=args.warmup)
            rows.append(speed.to_dict())
            print(f"{speed.mode:<6} {speed.backend:<7} {speed.num_workers:>7} {speed.batch_size:>5} "
                  f"{speed.clips_per_second:>9.1f} {speed.first_batch_seconds:>13.2f}", flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
