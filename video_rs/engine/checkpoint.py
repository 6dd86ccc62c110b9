"""Checkpoint files: atomic save, keep-last-K, newest-readable discovery, RNG capture.

A checkpoint says what it is (torchvision's WeightsEnum idea): it carries the resolved config
as YAML and the class names, so `tools/test_net.py` and `tools/predict.py` rebuild the model from
the file alone. Everything inside is tensors, numbers, strings and containers, so it loads with
`torch.load(weights_only=True)`: opening a checkpoint never runs pickled code.

Layout (FORMAT_VERSION 1)::

    format          "video_rs.checkpoint"
    format_version  1
    epoch           epochs completed (resume starts at this epoch index)
    cfg             resolved config, YAML text (video_rs.config.load_cfg-compatible)
    class_names     list[str] or None
    model           state_dict of the bare model (no DDP / compile prefixes)
    ema             {"module": state_dict, "num_updates": int} or None
    optimizer       optimizer state_dict or None
    schedule        {"step_count": int} or None
    scaler          GradScaler state_dict or None
    rng             {"python", "numpy", "torch", "cuda"} generator states
    metrics         last validation metrics (dict, may be empty)
"""
from __future__ import annotations

import glob
import logging
import os
import random
import re
import tempfile
from typing import Any

import numpy as np
import torch
import yaml

from video_rs.config import flatten_keys, load_cfg
from video_rs.models import build_model

FORMAT = "video_rs.checkpoint"
FORMAT_VERSION = 1
_NAME = "checkpoint_epoch_{:05d}.pyth"
_NAME_RE = re.compile(r"checkpoint_epoch_(\d+)\.pyth$")

logger = logging.getLogger(__name__)


class CheckpointError(RuntimeError):
    """A file that is not a readable video_rs checkpoint; the message says which and why."""


def checkpoint_dir(output_dir: str) -> str:
    return os.path.join(output_dir, "checkpoints")


def checkpoint_path(output_dir: str, epoch: int) -> str:
    return os.path.join(checkpoint_dir(output_dir), _NAME.format(epoch))


def list_checkpoints(output_dir: str) -> list[str]:
    """Checkpoint files in OUTPUT_DIR/checkpoints, oldest epoch first."""
    paths = glob.glob(os.path.join(checkpoint_dir(output_dir), "checkpoint_epoch_*.pyth"))
    return sorted((p for p in paths if _NAME_RE.search(p)), key=lambda p: int(_NAME_RE.search(p).group(1)))


def save_checkpoint(path: str, state: dict[str, Any]) -> None:
    """Write `state` so that `path` is either the old file or the complete new one, never half.

    temp file in the same folder -> fsync -> os.replace -> fsync the folder; a crash at any point
    leaves the previous checkpoint untouched.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    state = {"format": FORMAT, "format_version": FORMAT_VERSION, **state}
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    if hasattr(os, "O_DIRECTORY"):
        fd = os.open(folder, os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def prune_checkpoints(output_dir: str, keep: int) -> list[str]:
    """Delete all but the newest `keep` checkpoints; returns the removed paths."""
    removed = list_checkpoints(output_dir)[:-keep] if keep > 0 else []
    for path in removed:
        os.remove(path)
    return removed


def load_checkpoint(path: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and check a video_rs checkpoint; raises `CheckpointError` with the reason."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated zip, bad pickle, missing file: all "unreadable"
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a video_rs checkpoint (no format marker {FORMAT!r})")
    if state.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format version {state['format_version']} is newer than this video_rs "
            f"reads ({FORMAT_VERSION}); upgrade video_rs"
        )
    return state


def find_latest_checkpoint(output_dir: str) -> tuple[str, dict[str, Any]] | None:
    """The newest checkpoint that loads, as (path, state); corrupt newer ones are skipped with a warning."""
    for path in reversed(list_checkpoints(output_dir)):
        try:
            return path, load_checkpoint(path)
        except CheckpointError as err:
            logger.warning("skipping corrupt checkpoint: %s", err)
    return None


def capture_rng_state() -> dict[str, Any]:
    """Python, NumPy, torch (and CUDA) generator states, in weights_only-loadable form."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def eval_weights(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The weights to evaluate: the EMA when the run kept one, else the trained weights."""
    ema = state.get("ema")
    return ema["module"] if ema else state["model"]


def cfg_from_checkpoint(state: dict[str, Any], opts: list[str] | None = None):
    """The run's resolved config, rebuilt from the YAML stored in the checkpoint (+ overrides)."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        handle.write(state["cfg"])
    try:
        return load_cfg(handle.name, opts)
    finally:
        os.remove(handle.name)


NETWORK_KEYS = ("MODEL.ARCH", "MODEL.NUM_CLASSES", "RESNET.", "BN.NORM_TYPE")  # keys that shape the network


def network_differences(state: dict[str, Any], cfg, *, skip: tuple[str, ...] = ()) -> list[str]:
    """'KEY: X in the checkpoint, Y here' for each network-shaping key the file's config and `cfg` disagree on."""
    try:
        stored = flatten_keys(yaml.safe_load(state.get("cfg") or "") or {})
    except yaml.YAMLError:
        return []
    current = flatten_keys(yaml.safe_load(cfg.dump()))
    keys = sorted(k for k in set(stored) | set(current) if k.startswith(NETWORK_KEYS) and not k.startswith(skip))
    return [f"{k}: {stored.get(k)!r} in the checkpoint, {current.get(k)!r} here" for k in keys
            if stored.get(k) != current.get(k)]


def tensor_mismatches(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> list[str]:
    """Names (with shapes) of the tensors that are not in both state dicts with one shape, sorted."""
    problems = []
    for key in sorted(set(source) | set(target)):
        if key not in target:
            problems.append(f"{key} (only in the checkpoint)")
        elif key not in source:
            problems.append(f"{key} (not in the checkpoint)")
        elif source[key].shape != target[key].shape:
            problems.append(f"{key} (checkpoint {list(source[key].shape)}, network {list(target[key].shape)})")
    return problems


def describe_mismatch(problems: list[str], differences: list[str]) -> str:
    """'N tensors do not fit (e.g. ...); the checkpoint's config differs: ...' for error messages."""
    text = f"{len(problems)} tensors do not fit this network (e.g. {'; '.join(problems[:3])})"
    if differences:
        text += f"; its config differs: {'; '.join(differences[:6])}{' ...' if len(differences) > 6 else ''}"
    return text


def build_model_from_checkpoint(state: dict[str, Any]):
    """(model with the evaluation weights loaded, its config): no YAML file needed."""
    cfg = cfg_from_checkpoint(state)
    model = build_model(cfg)
    model.load_state_dict(eval_weights(state))
    return model, cfg
