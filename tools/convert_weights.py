#!/usr/bin/env python
"""Write a video_rs checkpoint for the 3D net of --cfg from a 2D timm ResNet(-RS) file (inflated) or a
TensorFlow Model Garden 3D ResNet(-RS) checkpoint.

    python tools/convert_weights.py --from timm --src resnetrs50.pth \\
        --cfg configs/k400/3d_resnetrs50_timm_init.yaml --out resnetrs50_inflated.pyth [KEY VALUE ...]
    python tools/convert_weights.py --from tf --src model_dir/ckpt-73682 \\
        --cfg configs/k400/3d_resnetrs50_model_garden.yaml --out rs50_model_garden.pyth [RESNET.DEPTH 101]

Local files only; --from tf needs TensorFlow installed (not a dependency of video_rs). Every tensor
that does not fit is listed by name and shape and the tool exits with status 1, unless
--allow-mismatch (then those keep the net's initialisation).
"""
from __future__ import annotations

import os
import sys

from video_rs.config import cfg_to_yaml
from video_rs.config.cli import config_parser, parse_config_args
from video_rs.engine.checkpoint import save_checkpoint
from video_rs.models.resnet3d import build_model
from video_rs.models.tf_weights import TensorFlowMissing, load_tf_weights
from video_rs.models.weights import INFLATE_MODES, Conversion, WeightConversionError, convert_timm_checkpoint


def convert_tf_checkpoint(src: str, cfg, out: str, *, allow_mismatch: bool, class_names: list[str] | None) -> Conversion:
    """A complete video_rs checkpoint (resolved cfg, class names, weights) from a Model Garden checkpoint."""
    if class_names is not None and len(class_names) != cfg.MODEL.NUM_CLASSES:
        raise WeightConversionError(f"{len(class_names)} class names for MODEL.NUM_CLASSES {cfg.MODEL.NUM_CLASSES}")
    model = build_model(cfg)
    conversion, checkpoint = load_tf_weights(model, src, allow_mismatch=allow_mismatch)
    save_checkpoint(out, {
        "epoch": 0, "cfg": cfg_to_yaml(cfg), "class_names": class_names, "model": model.state_dict(),
        "ema": None, "optimizer": None, "schedule": None, "scaler": None, "metrics": {},
        "converted_from": {"type": "tf", "file": os.path.basename(src), "problems": conversion.problems()},
    })
    print(f"{len(checkpoint.not_read)} optimizer / counter variables not read")
    return conversion


def main(argv: list[str] | None = None) -> int:
    parser = config_parser(__doc__)
    parser.add_argument("--from", dest="source_type", choices=["timm", "tf"], default="timm",
                        help="timm: 2D state dict, inflated; tf: Model Garden 3D checkpoint (needs TensorFlow)")
    parser.add_argument("--src", required=True,
                        help="timm: .pth, .pth.tar or .safetensors; tf: checkpoint prefix (ckpt-N) or its folder")
    parser.add_argument("--out", required=True, help="video_rs checkpoint to write")
    parser.add_argument("--mode", choices=INFLATE_MODES, default="center",
                        help="center: 2D kernel at the middle tap (exact on static clips); mean: I3D repeat / kt")
    parser.add_argument("--allow-mismatch", action="store_true",
                        help="write the file even if tensors do not fit (they are still listed)")
    parser.add_argument("--class-names", default="", help="text file, one class name per line, stored in the file")
    args, cfg = parse_config_args(parser, argv)
    if not args.cfg_file:
        parser.error("--cfg is required: it describes the 3D network the weights go into")
    class_names = None
    if args.class_names:
        with open(args.class_names, encoding="utf-8") as handle:
            class_names = [line.strip() for line in handle if line.strip()]
    try:
        if args.source_type == "tf":
            conversion = convert_tf_checkpoint(args.src, cfg, args.out, allow_mismatch=args.allow_mismatch,
                                               class_names=class_names)
        else:
            conversion = convert_timm_checkpoint(args.src, cfg, args.out, mode=args.mode,
                                                 allow_mismatch=args.allow_mismatch, class_names=class_names)
    except TensorFlowMissing as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (WeightConversionError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(conversion.summary())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
