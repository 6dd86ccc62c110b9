"""Checkpoint files: atomic save, keep-last-K, newest-readable discovery, RNG capture.

A checkpoint says what it is (torchvision's WeightsEnum idea): it carries the resolved config
as YAML and the class names, so `tools/test_net.py` and `tools/predict.py` rebuild the model from
the file alone. Everything inside is tensors, numbers, strings and containers, so it loads with
`torch.load(weights_only=True)`: opening a checkpoint never runs pickled code.

Layout (FORMAT_VERSION 1)::

    format          "video_rs.checkpoint"
    format_version  1
    epoch           epochs completed (resume starts at this epoch index)
    step_in_epoch   optimiser steps done in the next epoch (0 at an epoch's end; >0 when a stop signal
                    interrupted it: resume starts the loader at that position)
    epoch_totals    [loss sum, top-1, top-5, clips] of those steps, or None
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

from video_rs.data.atomic import atomic_write

FORMAT = "video_rs.checkpoint"
FORMAT_VERSION = 1
_NAME = "checkpoint_epoch_{:05d}.pyth"  # after epoch N
_MID_EPOCH_NAME = "checkpoint_epoch_{:05d}_iter_{:06d}.pyth"  # inside epoch N (1-based, as logged), after iter I
_NAME_RE = re.compile(r"checkpoint_epoch_(\d{5})(?:_iter_(\d{6}))?\.pyth")  # the whole file name, nothing else

logger = logging.getLogger(__name__)


class CheckpointError(RuntimeError):
    """A file that is not a readable video_rs checkpoint; the message says which and why."""


def checkpoint_dir(output_dir: str) -> str:
    return os.path.join(output_dir, "checkpoints")


def checkpoint_path(output_dir: str, epoch: int, step_in_epoch: int = 0) -> str:
    """The file for `epoch` epochs completed plus `step_in_epoch` optimiser steps of the next one."""
    name = _MID_EPOCH_NAME.format(epoch + 1, step_in_epoch) if step_in_epoch else _NAME.format(epoch)
    return os.path.join(checkpoint_dir(output_dir), name)


def checkpoint_position(path: str) -> tuple[int, int] | None:
    """(epochs completed, steps into the next epoch) that a checkpoint's file name says; None: not our name."""
    match = _NAME_RE.fullmatch(os.path.basename(path))
    if match is None:
        return None
    if match.group(2) is None:
        return int(match.group(1)), 0
    return int(match.group(1)) - 1, int(match.group(2))


def list_checkpoints(output_dir: str) -> list[str]:
    """Files named like checkpoints in OUTPUT_DIR/checkpoints, oldest position first (contents unchecked)."""
    paths = [p for p in glob.glob(os.path.join(checkpoint_dir(output_dir), "checkpoint_epoch_*.pyth"))
             if checkpoint_position(p) is not None]
    return sorted(paths, key=checkpoint_position)


def save_checkpoint(path: str, state: dict[str, Any]) -> None:
    """Write `state` so that `path` is either the old file or the complete new one, never half.

    temp file in the same folder -> fsync -> os.replace -> fsync the folder; a crash at any point
    leaves the previous checkpoint untouched.
    """
    state = {"format": FORMAT, "format_version": FORMAT_VERSION, **state}
    with atomic_write(path, "wb", durable=True) as handle:
        torch.save(state, handle)


def holds_its_position(path: str) -> bool:
    """True when `path` is a video_rs checkpoint of the position its name says.

    Memory-mapped, so the tensors are not read: cheap even for large files.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - any unreadable file is simply not ours
        return False
    return (isinstance(state, dict) and state.get("format") == FORMAT
            and (state.get("epoch"), state.get("step_in_epoch", 0)) == checkpoint_position(path))


def prune_checkpoints(output_dir: str, keep: int) -> list[str]:
    """Delete all but the newest `keep` checkpoints; returns the removed paths, oldest first.

    Only files that are checkpoints of the position their name says count and are deleted: a foreign
    or corrupt file named like one neither takes a slot nor is touched.
    """
    if keep <= 0:
        return []
    own = [p for p in reversed(list_checkpoints(output_dir)) if holds_its_position(p)]
    removed = own[keep:][::-1]
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
    """The newest checkpoint that loads and holds the position its name says, as (path, state).

    Newer files that do not (corrupt, or another program's file under our name) are skipped with a warning.
    """
    for path in reversed(list_checkpoints(output_dir)):
        try:
            state = load_checkpoint(path)
        except CheckpointError as err:
            logger.warning("skipping corrupt checkpoint: %s", err)
            continue
        found = (state.get("epoch"), state.get("step_in_epoch", 0))
        if found == checkpoint_position(path):
            return path, state
        logger.warning("skipping %s: it holds (epoch, step) %s, not what its name says", path, found)
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
