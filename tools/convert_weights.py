#!/usr/bin/env python
"""Inflate a 2D timm ResNet(-RS) checkpoint into a video_rs checkpoint for the 3D net of --cfg.

    python tools/convert_weights.py --from timm --src resnetrs50.pth \\
        --cfg configs/k400/3d_resnetrs50_timm_init.yaml --out resnetrs50_inflated.pyth [KEY VALUE ...]

Local files only; --src is read as tensors only (a pickled module or object is refused, never run).
Every tensor that does not fit is listed by name and shape and the tool exits with status 2, unless
--allow-mismatch (then those keep the 3D net's initialisation); an unreadable --src, --class-names
or --out also ends with one `error:` line and status 2. --class-names is optional: without it the
file stores no names and predictions show "class 0", "class 1", ...
"""
from __future__ import annotations

import sys

from video_rs.cli import config_parser, parse_config_args
from video_rs.data.annotations import AnnotationError, read_class_names
from video_rs.engine.finetune import convert_timm_checkpoint
from video_rs.models.weights import INFLATE_MODES, WeightConversionError


def main(argv: list[str] | None = None) -> int:
    parser = config_parser(__doc__)
    parser.add_argument("--from", dest="source_type", choices=["timm"], default="timm", help="source format")
    parser.add_argument("--src", required=True, help="2D checkpoint (.pth, .pth.tar or .safetensors)")
    parser.add_argument("--out", required=True, help="video_rs checkpoint to write")
    parser.add_argument("--mode", choices=INFLATE_MODES, default="center",
                        help="center: 2D kernel at the middle tap (exact on static clips); mean: I3D repeat / kt")
    parser.add_argument("--allow-mismatch", action="store_true",
                        help="write the file even if tensors do not fit (they are still listed)")
    parser.add_argument("--class-names", default="", help="text file, one class name per line (or JSON), stored "
                        "in the file; default: none (predictions show 'class 0', 'class 1', ...)")
    args, cfg = parse_config_args(parser, argv)
    if not args.cfg_file:
        parser.error("--cfg is required: it describes the 3D network the weights go into")
    try:
        class_names = read_class_names(args.class_names) if args.class_names else None
        conversion = convert_timm_checkpoint(args.src, cfg, args.out, mode=args.mode,
                                             allow_mismatch=args.allow_mismatch, class_names=class_names)
    except (WeightConversionError, AnnotationError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(conversion.summary())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
