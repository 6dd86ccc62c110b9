#!/usr/bin/env python
"""Data-loader throughput (clips/s) for a config, per backend and number of workers.

    python tools/benchmark_data.py --cfg configs/k400/base.yaml --workers 4 8 16 DATA.PATH_TO_DATA_DIR /data/k400
    python tools/benchmark_data.py --cfg configs/synthetic/demo.yaml --backends decord pyav --workers 0 2
    python tools/benchmark_data.py --compare --cfg configs/k400/3d_resnetrs50.yaml --workers 0 --rounds 6 \
        DATA.PATH_TO_DATA_DIR /data/k400like TEST.SPLIT val TRAIN.BATCH_SIZE 4 TEST.BATCH_SIZE 30

    python tools/benchmark_data.py --randaugment-ops --cfg configs/k400/3d_resnetrs50.yaml

--compare runs the train and test loaders beside a raw decord.get_batch floor and PySlowFast's PyAV
seek-and-decode on the same clips, interleaved round by round, and prints CPU ms per clip, clips/s,
ratios within the run and the cores one GPU needs (330 train, 1,000 test clips/s).

--randaugment-ops times each RandAugment op, torchvision's functional against ours, on one
DATA.NUM_FRAMES x DATA.TRAIN_CROP_SIZE² uint8 clip at AUG.RANDAUG_MAGNITUDE, one thread (CPU ms, median of
--rounds), and the expected cost per clip (AUG.RANDAUG_NUM_OPS x the mean over the ops).

Set the loader against the model's training speed (tools/benchmark.py): whichever is lower bounds
training. --json saves the rows.
"""
import json
import sys

from video_rs.bench.data_compare import compare_sets, run_compare, worker_overhead
from video_rs.bench.data_throughput import describe_loader, measure_loader
from video_rs.bench.randaugment_ops import print_randaugment_ops, time_randaugment_ops
from video_rs.cli import config_parser, parse_config_args, run_tool


def parse_args(argv=None):
    parser = config_parser(__doc__)
    parser.add_argument("--mode", choices=("train", "val", "test"), default="train")
    parser.add_argument("--workers", type=int, nargs="+", default=None, help="default: DATA_LOADER.NUM_WORKERS")
    parser.add_argument("--backends", nargs="+", choices=("decord", "pyav"), default=None,
                        help="default: DATA.DECODING_BACKEND")
    parser.add_argument("--batches", type=int, default=20, help="timed batches per setting")
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches first (worker start-up)")
    parser.add_argument("--compare", action="store_true", help="loaders beside decode baselines (one worker count)")
    parser.add_argument("--rounds", type=int, default=6, help="--compare: timed rounds (a train + a test batch each)")
    parser.add_argument("--overhead", action="store_true",
                        help="a worker's CPU per train clip over the decord floor: clip-by-clip vs in-place batches")
    parser.add_argument("--sets", nargs="+", metavar="DATA_DIR", default=None,
                        help="CPU per train clip of the recipe on each of these copies of a dataset (same video list)")
    parser.add_argument("--randaugment-too", action="store_true",
                        help="--sets: each copy with RandAugment in the workers as well (AUG.ENABLE True)")
    parser.add_argument("--randaugment-ops", action="store_true",
                        help="CPU ms per RandAugment op on one clip, torchvision's against ours (one thread)")
    parser.add_argument("--json", metavar="FILE", default=None)
    return parse_config_args(parser, argv)


def compare(args, cfg) -> list[dict]:
    workers = (args.workers or [None])[0]
    backend = (args.backends or [None])[0]
    print(describe_loader(cfg, "train"))
    rows = run_compare(cfg, rounds=args.rounds, warmup=args.warmup, num_workers=workers, backend=backend)
    print(f"{'variant':<15} {'clips':>5} {'clips/s':>8} {'clips/CPU-s':>11} {'CPU ms/clip':>11} "
          f"{'x CPU of 1st':>12} {'cores/GPU':>9}")
    *variants, frames = rows
    for row in variants:
        print(f"{row['variant']:<15} {row['clips']:>5} {row['clips_per_s']:>8.1f} {row['clips_per_cpu_s']:>11.1f} "
              f"{row['cpu_ms_per_clip']:>11.1f} {row['cpu_vs_first']:>12.2f} {row['cores_for_target']:>9.1f}  "
              f"(for {row['target_clips_per_s']} {row['kind']} clips/s)")
    videos = frames["videos"]
    print(f"test frames decoded per video (forward-decode count from the keyframes): per view "
          f"{frames['per_view'] / videos:.0f}, decode-once {frames['decode_once'] / videos:.0f}, "
          f"one pass {frames['one_pass'] / videos:.0f}")
    return rows


def overhead(args, cfg) -> list[dict]:
    rows = worker_overhead(cfg, rounds=args.rounds)
    print(f"{'worker path':<22} {'CPU ms/clip':>11} {'over floor':>10}")
    for row in rows:
        print(f"{row['variant']:<22} {row['cpu_ms_per_clip']:>11.1f} {row['overhead_ms']:>10.1f}")
    return rows


def randaugment_ops(args, cfg) -> list[dict]:
    frames, size = cfg.DATA.NUM_FRAMES, cfg.DATA.TRAIN_CROP_SIZE
    rows = time_randaugment_ops(frames=frames, size=size, magnitude=cfg.AUG.RANDAUG_MAGNITUDE,
                                num_ops=cfg.AUG.RANDAUG_NUM_OPS, repeats=args.rounds)
    print_randaugment_ops(rows, frames=frames, size=size)
    return rows


def main(argv=None) -> int:
    args, cfg = parse_args(argv)
    if args.compare:
        rows = compare(args, cfg)
    elif args.overhead:
        rows = overhead(args, cfg)
    elif args.randaugment_ops:
        rows = randaugment_ops(args, cfg)
    elif args.sets:
        rows = compare_sets(cfg, args.sets, rounds=args.rounds, randaugment_too=args.randaugment_too)
        for row in rows:
            aug = "" if row["randaugment"] is None else f" RandAugment {'on' if row['randaugment'] else 'off'}"
            print(f"{row['data_dir'] + aug:<56} {row['cpu_ms_per_clip']:>7.1f} CPU ms/clip  x{row['vs_first']:.2f}")
    else:
        rows = measure(args, cfg)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)
    return 0


def measure(args, cfg) -> list[dict]:
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
    return rows


if __name__ == "__main__":
    sys.exit(run_tool(main))
