#!/usr/bin/env python
"""Parameters, fvcore GMACs (1 multiply-add = 1 FLOP), and inference / training speed and memory.

    python tools/benchmark.py --cfg configs/k400/3d_resnetrs50.yaml [KEY VALUE ...]
    python tools/benchmark.py --cfg configs/k400/base.yaml --frames 8 --size 64 --iters 3   # quick, CPU
    python tools/benchmark.py --compare --amp --channels-last     # RS-50..200 vs peers -> benchmarks/
"""
import json
import os
import sys

from video_rs.bench.profile import (
    COMPARE_MODELS,
    MACS_NOTE,
    BenchSettings,
    benchmark_model,
    compare_models,
    describe_device,
    markdown_table,
    resolve_device,
    result_dicts,
)
from video_rs.cli import config_parser, parse_config_args, run_tool
from video_rs.models import build_model


def parse_args(argv=None):
    parser = config_parser(__doc__)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--iters", type=int, default=20, help="timed iterations; 0 = parameters and GMACs only")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast (CUDA only)")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--no-train", action="store_true", help="time inference only")
    parser.add_argument("--frames", type=int, default=None, help="override DATA.NUM_FRAMES / the standard inputs")
    parser.add_argument("--size", type=int, default=None, help="override DATA.TRAIN_CROP_SIZE / the standard inputs")
    parser.add_argument("--compare", action="store_true", help="benchmark 3D ResNet-RS-50..200 and peer models")
    parser.add_argument("--models", nargs="+", default=list(COMPARE_MODELS), choices=list(COMPARE_MODELS),
                        help="with --compare: the subset to run")
    parser.add_argument("--out-dir", default="benchmarks", help="with --compare: where RESULTS.md / results.json go")
    return parse_config_args(parser, argv)


def main(argv=None) -> int:
    args, cfg = parse_args(argv)
    device = resolve_device(args.device)
    settings = BenchSettings(device=device, batch_size=args.batch_size, iters=args.iters, warmup=args.warmup,
                             amp=args.amp, channels_last=args.channels_last, compile=args.compile,
                             train=not args.no_train)
    device_line = describe_device(device)
    if args.compare:
        results = compare_models(args.models, settings, frames=args.frames, size=args.size)
    else:
        shape = (args.frames or cfg.DATA.NUM_FRAMES, args.size or cfg.DATA.TRAIN_CROP_SIZE,
                 args.size or cfg.DATA.TRAIN_CROP_SIZE)
        name = os.path.basename(args.cfg_file) if args.cfg_file else "defaults"
        results = [benchmark_model(name, build_model(cfg), shape, settings)]
    command = " ".join(["python tools/benchmark.py", *(sys.argv[1:] if argv is None else argv)])
    table = markdown_table(results, settings, device_line) + f"\nProduced by `{command}`.\n"
    print(table)
    if args.compare:
        os.makedirs(args.out_dir, exist_ok=True)
        with open(os.path.join(args.out_dir, "RESULTS.md"), "w") as handle:
            handle.write(table)
        with open(os.path.join(args.out_dir, "results.json"), "w") as handle:
            json.dump({"device": device_line, "command": command, "note": MACS_NOTE, "settings": vars(settings),
                       "results": result_dicts(results)}, handle, indent=2)
        print(f"wrote {args.out_dir}/RESULTS.md and results.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
