"""Value checks run once at start-up, so a bad config fails before any data or GPU is touched.

Types are checked while merging (`video_rs.config._merge_dict`); this module checks meaning:
ranges, choices and combinations. Each failure names the key and the file it came from.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterator, Mapping

from video_rs.config.depths import STAGE_BLOCKS


class ConfigError(ValueError):
    """A config key or value that cannot work; the message names the key and its source."""


CHOICES = {
    "DEVICE": ("auto", "cuda", "cpu"),
    "DIST_BACKEND": ("auto", "nccl", "gloo"),
    "MODEL.ARCH": ("resnet3d",),
    "MODEL.INIT": ("he_fan_out", "model_garden"),
    "RESNET.STEM": ("v0", "v1"),
    "RESNET.STEM_POOL": ("max", "conv"),
    "RESNET.SHORTCUT": ("avgpool", "conv"),
    "RESNET.SELF_GATING": ("last", "all", "none"),
    "RESNET.PADDING": ("symmetric", "same"),
    "BN.NORM_TYPE": ("batchnorm", "sync_batchnorm"),
    "DATA.DECODING_BACKEND": ("decord", "pyav"),
    "DATA.TRAIN_CROP_STYLE": ("torchvision", "tf"),
    "DATA.SHORT_VIDEO": ("clamp", "loop"),
    "TRAIN.DATASET": ("kinetics", "ucf101", "hmdb51", "folder"),
    "TEST.DATASET": ("kinetics", "ucf101", "hmdb51", "folder"),
    "TRAIN.CHECKPOINT_TYPE": ("video_rs", "timm"),
    "TRAIN.CHECKPOINT_INFLATE_MODE": ("center", "mean"),
    "TRAIN.AMP_DTYPE": ("bfloat16", "float16"),
    "SOLVER.OPTIMIZING_METHOD": ("sgd", "adamw"),
    "SOLVER.LR_POLICY": ("cosine", "steps_with_relative_lrs"),
    "TEST.ENSEMBLE_METHOD": ("sum", "max"),
    "TEST.NUM_SPATIAL_CROPS": (1, 3),
}

# key -> (predicate, what the value must be)
RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "RNG_SEED": (lambda v: 0 <= v < 2**32, "in [0, 2**32)"),
    "MODEL.NUM_CLASSES": (lambda v: v >= 1, ">= 1"),
    "MODEL.DROPOUT_RATE": (lambda v: 0.0 <= v < 1.0, "in [0, 1)"),
    "MODEL.DROPPATH_RATE": (lambda v: 0.0 <= v < 1.0, "in [0, 1)"),
    "MODEL.LABEL_SMOOTHING": (lambda v: 0.0 <= v < 1.0, "in [0, 1)"),
    "RESNET.WIDTH_MULTIPLIER": (lambda v: v > 0, "> 0"),
    "RESNET.STEM_TEMPORAL_KERNEL": (lambda v: v >= 1, ">= 1"),
    "RESNET.STEM_TEMPORAL_STRIDE": (lambda v: v >= 1, ">= 1"),
    "RESNET.STEM_POOL_TEMPORAL_STRIDE": (lambda v: v >= 1, ">= 1"),
    "RESNET.SE_RATIO": (lambda v: 0.0 <= v <= 1.0, "in [0, 1] (0 disables SE)"),
    "BN.EPSILON": (lambda v: v > 0, "> 0"),
    "BN.MOMENTUM": (lambda v: 0.0 < v <= 1.0, "in (0, 1]"),
    "BN.WEIGHT_DECAY": (lambda v: v >= 0, ">= 0"),
    "BN.NUM_BATCHES_PRECISE": (lambda v: v >= 1, ">= 1"),
    "DATA.SPLIT_ID": (lambda v: v in (1, 2, 3), "1, 2 or 3"),
    "DATA.NUM_FRAMES": (lambda v: v >= 1, ">= 1"),
    "DATA.SAMPLING_RATE": (lambda v: v >= 1, ">= 1"),
    "DATA.TARGET_FPS": (lambda v: v > 0, "> 0"),
    "DATA.TRAIN_CROP_SIZE": (lambda v: v >= 8, ">= 8"),
    "DATA.TEST_CROP_SIZE": (lambda v: v >= 8, ">= 8"),
    "DATA.DECODE_RETRIES": (lambda v: v >= 0, ">= 0"),
    "DATA.MAX_BAD_FRACTION": (lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
    "DATA.NUM_CLIPS_PER_VIDEO": (lambda v: v >= 1, ">= 1"),
    "DATA.TRAIN_CROP_NUM_SPATIAL": (lambda v: v >= 1, ">= 1"),
    "SYNTHETIC.NUM_FRAMES": (lambda v: v >= 2, ">= 2"),
    "SYNTHETIC.FPS": (lambda v: v > 0, "> 0"),
    "DATA_LOADER.NUM_WORKERS": (lambda v: v >= 0, ">= 0"),
    "DATA_LOADER.PREFETCH_FACTOR": (lambda v: v >= 1, ">= 1"),
    "AUG.RANDAUG_NUM_OPS": (lambda v: v >= 0, ">= 0"),
    "AUG.RANDAUG_MAGNITUDE": (lambda v: 0 <= v <= 30, "in [0, 30]"),
    "TRAIN.BATCH_SIZE": (lambda v: v >= 1, ">= 1"),
    "TRAIN.GRAD_ACCUM_STEPS": (lambda v: v >= 1, ">= 1"),
    "TRAIN.EVAL_PERIOD": (lambda v: v >= 0, ">= 0 (0 disables validation)"),
    "TRAIN.CHECKPOINT_PERIOD": (lambda v: v >= 1, ">= 1"),
    "TRAIN.CHECKPOINT_PERIOD_MINUTES": (lambda v: v >= 0, ">= 0 (0 disables)"),
    "TRAIN.CHECKPOINT_KEEP": (lambda v: v >= 1, ">= 1"),
    "TRAIN.HEAD_LR_MULT": (lambda v: v >= 0, ">= 0"),
    "SOLVER.BASE_LR": (lambda v: v > 0, "> 0"),
    "SOLVER.MAX_EPOCH": (lambda v: v >= 1, ">= 1"),
    "SOLVER.WARMUP_EPOCHS": (lambda v: v >= 0, ">= 0"),
    "SOLVER.WARMUP_START_LR": (lambda v: v >= 0, ">= 0"),
    "SOLVER.COSINE_END_LR": (lambda v: v >= 0, ">= 0"),
    "SOLVER.MOMENTUM": (lambda v: 0.0 <= v < 1.0, "in [0, 1)"),
    "SOLVER.WEIGHT_DECAY": (lambda v: v >= 0, ">= 0"),
    "SOLVER.CLIP_GRAD_L2NORM": (lambda v: v >= 0, ">= 0 (0 disables)"),
    "MODEL_EMA.DECAY": (lambda v: 0.0 <= v < 1.0, "in [0, 1)"),
    "TEST.BATCH_SIZE": (lambda v: v >= 1, ">= 1"),
    "TEST.NUM_ENSEMBLE_VIEWS": (lambda v: v >= 1, ">= 1"),
    "LOG_PERIOD": (lambda v: v >= 1, ">= 1"),
}


def _get(cfg, key: str) -> Any:
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def flatten_keys(tree: Mapping, prefix: str = "") -> dict:
    """{'A': {'B': 1}} -> {'A.B': 1}: nested YAML as the full key names `load_cfg` uses."""
    flat: dict = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat.update(flatten_keys(value, prefix=f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _numbers(value: Any) -> Iterator[float]:
    """The floats in a value (nested lists included): 1e400 and YAML's .inf / .nan arrive as floats."""
    if isinstance(value, float):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _numbers(item)


def validate_cfg(cfg, *, source: str = "config", origins: dict[str, str] | None = None) -> None:
    """Raise `ConfigError` for the first value that cannot work.

    `origins` maps a key to the file (or "command line") that set it, so a bad value inherited from
    a `_BASE_` file is reported against that file.
    """

    def fail(key: str, why: str) -> None:
        origin = (origins or {}).get(key)
        where = source if origin is None or origin == source else f"{origin} (loading {source})"
        raise ConfigError(f"{where}: {key} = {_get(cfg, key)!r} is invalid: {why}")

    for key, value in flatten_keys(cfg).items():
        if not all(math.isfinite(v) for v in _numbers(value)):
            fail(key, "must be a finite number (not inf or nan)")
    for key, allowed in CHOICES.items():
        if _get(cfg, key) not in allowed:
            fail(key, f"must be one of {list(allowed)}")
    for key, (ok, what) in RANGES.items():
        if not ok(_get(cfg, key)):
            fail(key, f"must be {what}")
    _validate_architecture(cfg, fail)
    _validate_data(cfg, fail)
    _validate_solver(cfg, fail)


def _validate_architecture(cfg, fail) -> None:
    if cfg.RESNET.DEPTH not in STAGE_BLOCKS:
        fail("RESNET.DEPTH", f"must be one of {sorted(STAGE_BLOCKS)}")
    blocks = STAGE_BLOCKS[cfg.RESNET.DEPTH]
    kernels = cfg.RESNET.TEMPORAL_KERNELS
    if len(kernels) != 4:
        fail("RESNET.TEMPORAL_KERNELS", "needs 4 entries, one per stage (res2..res5)")
    for stage, entry in enumerate(kernels):
        if isinstance(entry, (list, tuple)):
            if len(entry) != blocks[stage] or not all(isinstance(k, int) and k >= 1 for k in entry):
                fail(
                    "RESNET.TEMPORAL_KERNELS",
                    f"stage {stage} lists {len(entry)} kernels; depth {cfg.RESNET.DEPTH} has "
                    f"{blocks[stage]} blocks there, each kernel an int >= 1",
                )
        elif not (isinstance(entry, int) and entry >= 1):
            fail("RESNET.TEMPORAL_KERNELS", f"stage {stage}: {entry!r} is not an int >= 1 or a list")
    for key in ("RESNET.TEMPORAL_STRIDES", "RESNET.SPATIAL_STRIDES"):
        strides = _get(cfg, key)
        if len(strides) != 4 or not all(isinstance(s, int) and s >= 1 for s in strides):
            fail(key, "needs 4 ints >= 1, one per stage")


def _validate_data(cfg, fail) -> None:
    for key in ("DATA.MEAN", "DATA.STD"):
        values = _get(cfg, key)
        if len(values) != 3:
            fail(key, "needs 3 values (R, G, B)")
    if any(s <= 0 for s in cfg.DATA.STD):
        fail("DATA.STD", "every value must be > 0")
    lo_hi = cfg.DATA.TRAIN_JITTER_SCALES
    if len(lo_hi) != 2 or not 0 < lo_hi[0] <= lo_hi[1]:
        fail("DATA.TRAIN_JITTER_SCALES", "needs [min, max] short sides with 0 < min <= max")
    if cfg.DATA.TRAIN_JITTER_SCALES_RELATIVE:
        area = cfg.DATA.TRAIN_JITTER_SCALES_RELATIVE
        if len(area) != 2 or not 0 < area[0] <= area[1] <= 1:
            fail("DATA.TRAIN_JITTER_SCALES_RELATIVE", "needs [min, max] area fractions in (0, 1], or [] for scale jitter")
        aspect = cfg.DATA.TRAIN_JITTER_ASPECT_RELATIVE
        if len(aspect) != 2 or not 0 < aspect[0] <= aspect[1]:
            fail("DATA.TRAIN_JITTER_ASPECT_RELATIVE", "needs [min, max] aspect ratios with 0 < min <= max")
    per_class = cfg.SYNTHETIC.VIDEOS_PER_CLASS
    if len(per_class) != 3 or not all(isinstance(n, int) and n >= 0 for n in per_class):
        fail("SYNTHETIC.VIDEOS_PER_CLASS", "needs 3 ints >= 0: train, val, test")
    size = cfg.SYNTHETIC.SIZE
    if len(size) != 2 or not all(isinstance(n, int) and n >= 16 for n in size):
        fail("SYNTHETIC.SIZE", "needs [height, width], each an int >= 16")


def _validate_solver(cfg, fail) -> None:
    steps, lrs = cfg.SOLVER.STEPS, cfg.SOLVER.LRS
    if cfg.SOLVER.LR_POLICY == "steps_with_relative_lrs":
        if len(steps) != len(lrs) or not steps or steps[0] != 0:
            fail("SOLVER.STEPS", "needs one start (epoch fraction, first 0) per SOLVER.LRS entry")
        if any(b <= a for a, b in zip(steps, steps[1:])) or steps[-1] >= 1:
            fail("SOLVER.STEPS", "must increase and stay below 1 (fractions of SOLVER.MAX_EPOCH)")
    if cfg.SOLVER.WARMUP_EPOCHS > cfg.SOLVER.MAX_EPOCH:
        fail("SOLVER.WARMUP_EPOCHS", "is longer than SOLVER.MAX_EPOCH")
