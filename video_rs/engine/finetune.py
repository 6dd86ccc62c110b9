"""Start from pretrained weights; freeze what a fine-tuning recipe keeps fixed.

`load_pretrained` is the one entry point for `TRAIN.CHECKPOINT_FILE_PATH`. A video_rs checkpoint
loads tensor by tensor: a head whose class count differs keeps its fresh initialisation and the
skipped keys are logged, so fine-tuning K400 -> UCF101 is a config change. Anything else that does
not fit (another depth, width, SE...) is an error naming the config keys that differ: training
on silently from a half-loaded backbone would look like fine-tuning and be training from scratch. The 2D -> 3D
inflation path (`TRAIN.CHECKPOINT_TYPE timm`) plugs in here.
"""
from __future__ import annotations

import os

from torch import nn

from video_rs.config import cfg_to_yaml
from video_rs.engine.checkpoint import (CheckpointError, describe_mismatch, eval_weights, load_checkpoint,
                                       network_differences, save_checkpoint, tensor_mismatches)
from video_rs.engine.logging import get_logger
from video_rs.models import build_model
from video_rs.models.weights import Conversion, WeightConversionError, inflate_timm_weights


def load_pretrained(model: nn.Module, cfg) -> dict[str, list[str]]:
    """Initialise `model` from TRAIN.CHECKPOINT_FILE_PATH; returns {"loaded", "skipped", "missing"} keys."""
    path = cfg.TRAIN.CHECKPOINT_FILE_PATH
    if not path:
        return {"loaded": [], "skipped": [], "missing": []}
    if cfg.TRAIN.CHECKPOINT_TYPE == "timm":  # 2D ImageNet weights, inflated on load; raises on any misfit
        report = inflate_timm_weights(model, path, mode=cfg.TRAIN.CHECKPOINT_INFLATE_MODE).as_load_report()
    else:
        state = load_checkpoint(path)
        weights = eval_weights(state)
        outside_head = [p for p in tensor_mismatches(weights, model.state_dict()) if not p.startswith("head.")]
        if outside_head:
            differences = network_differences(state, cfg, skip=("MODEL.NUM_CLASSES",))
            raise CheckpointError(f"TRAIN.CHECKPOINT_FILE_PATH {path}: {describe_mismatch(outside_head, differences)}. "
                                  "Only the classifier head (MODEL.NUM_CLASSES) may differ when fine-tuning: "
                                  "use the checkpoint's RESNET.* / MODEL.* values.")
        report = load_matching(model, weights)
    log = get_logger()
    log.info("initialised from %s: %d tensors loaded", path, len(report["loaded"]))
    if report["skipped"]:
        log.info("kept fresh initialisation (shape differs, e.g. another class count): %s", ", ".join(report["skipped"]))
    if report["missing"]:
        log.warning("not in the checkpoint, left as initialised: %s", ", ".join(report["missing"]))
    return report


def load_matching(model: nn.Module, source: dict) -> dict[str, list[str]]:
    """Copy every tensor of `source` whose name and shape match `model`; report the rest."""
    target = model.state_dict()
    loadable = {k: v for k, v in source.items() if k in target and v.shape == target[k].shape}
    skipped = sorted(k for k in source if k in target and k not in loadable)
    model.load_state_dict(loadable, strict=False)
    return {
        "loaded": sorted(loadable),
        "skipped": skipped,
        "missing": sorted(k for k in target if k not in source),
    }


def freeze_backbone(model: nn.Module) -> None:
    """Linear probe: only the classifier head trains."""
    for name, param in model.named_parameters():
        param.requires_grad_(name.startswith("head."))


def set_train_mode(model: nn.Module, cfg) -> None:
    """model.train(), except what stays fixed: the whole backbone for a linear probe, BN stats with BN.FREEZE."""
    model.train()
    if cfg.TRAIN.FREEZE_BACKBONE:
        for name, module in model.named_children():
            if name != "head":
                module.eval()
    elif cfg.BN.FREEZE:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


def convert_timm_checkpoint(
    src: str, cfg, out: str, *, mode: str = "center", allow_mismatch: bool = False,
    class_names: list[str] | None = None,
) -> Conversion:
    """Write a video_rs checkpoint (resolved cfg, class names, inflated weights) from a timm file.

    The file is complete, so `tools/test_net.py` / `tools/predict.py` rebuild the model from it
    alone; with `allow_mismatch`, tensors the source lacked keep the model's fresh initialisation.
    """
    if class_names is not None and len(class_names) != cfg.MODEL.NUM_CLASSES:
        raise WeightConversionError(
            f"{len(class_names)} class names for MODEL.NUM_CLASSES {cfg.MODEL.NUM_CLASSES}")
    model = build_model(cfg)
    conversion = inflate_timm_weights(model, src, mode=mode, allow_mismatch=allow_mismatch)
    save_checkpoint(out, {
        "epoch": 0, "cfg": cfg_to_yaml(cfg), "class_names": class_names, "model": model.state_dict(),
        "ema": None, "optimizer": None, "schedule": None, "scaler": None, "metrics": {},
        "converted_from": {"type": "timm", "file": os.path.basename(src), "inflate_mode": mode,
                           "problems": conversion.problems()},
    })
    return conversion
