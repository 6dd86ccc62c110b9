"""2D -> 3D weight inflation: a timm ResNet(-RS) state dict onto the 3D network a cfg builds.

Every source tensor is accounted for: mapped and copied (2D conv kernels inflated along time),
or listed with its name and shape in a `Conversion` report. Nothing is skipped silently; callers
raise `WeightConversionError` on any problem unless told to accept partial loads. A classifier
whose class count differs (ImageNet 1000 -> Kinetics 400) is reported, not an error: that head
is meant to be trained afresh.

Name map (timm -> video_rs; see `video_rs.models.resnet3d` for ours)::

    conv1.0 / conv1.1   stem.conv1.conv / .bn      deep stem (resnetrs*, resnet*d)
    conv1.3 / conv1.4   stem.conv2.conv / .bn
    conv1.6 / bn1       stem.conv3.conv / .bn
    conv1 / bn1         stem.conv1.conv / .bn      plain 7x7 stem (resnet*)
    maxpool.0 / .1      stem.pool.conv / .bn       resnetrs* strided-conv stem pool
    layerI.J.conv1/bn1  stages.(I-1).blocks.J.conv_temporal.conv / .bn   (1x1 -> kt x 1 x 1)
    layerI.J.conv2/bn2  ... conv_spatial.conv / .bn
    layerI.J.conv3/bn3  ... conv_expand.conv / .bn
    layerI.J.se.fc1/2   ... se.fc1 / se.fc2
    layerI.J.downsample.1/.2 (avg_down) or .0/.1 (strided conv)   ... shortcut.conv / .bn
    fc                  head.fc

Inflation modes, for a 2D kernel W (O, I, kh, kw) into a temporal size kt:

- ``center``: W at the middle tap, zeros elsewhere. Each output frame then sees only its own
  input frame, so every conv is the 2D conv applied frame by frame, whatever the clip and the
  temporal padding. Only the clip-wide means (SE, self-gating, the head's pool) mix frames; on a
  clip of identical frames those means equal the 2D ones, so the whole 3D network reproduces the
  2D logits exactly (tests/models/test_weights.py checks < 1e-4 on resnetrs50).
- ``mean`` (I3D): W / kt at every tap. On a *static* input (every frame the same image x) an
  output frame whose kt taps all land inside the clip gets sum_k W/kt * x = W * x: exactly the
  2D response. With zero temporal padding, an output frame whose window reaches past either end
  of the clip sees only n < kt real frames and gets n/kt of the 2D response *before* BN (BN's
  shift makes it no simple scaling after). For the symmetric padding kt//2 and temporal stride s
  this affects output frame t when t*s < kt//2 or t*s + kt//2 > T-1. What mean mode preserves
  is therefore: the activations of the interior frames, layer by layer, for as long as the input
  to each layer is still static in the frames its window reads. The boundary frames propagate
  inward by kt//2 frames at every temporal conv, and the clip-wide means of SE and the head mix
  them into every frame, so the full network's logits on a static clip are close to, not equal
  to, the 2D logits (closer the longer the clip). Center mode has no such boundary effect, which
  is why it is the default.

TensorFlow Model Garden's 3D checkpoints are converted by `video_rs.models.tf_weights` (same
`Conversion` rule, through `map_onto_model`).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from video_rs.models.blocks import Conv3dSame, MaxPool3dSame, ProjectionShortcut3D

INFLATE_MODES = ("center", "mean")

_STEM_DEEP = {"conv1.0": "stem.conv1.conv", "conv1.1": "stem.conv1.bn", "conv1.3": "stem.conv2.conv",
              "conv1.4": "stem.conv2.bn", "conv1.6": "stem.conv3.conv", "bn1": "stem.conv3.bn"}
_STEM_PLAIN = {"conv1": "stem.conv1.conv", "bn1": "stem.conv1.bn"}
_STEM_POOL = {"maxpool.0": "stem.pool.conv", "maxpool.1": "stem.pool.bn"}
_BLOCK = {"conv1": "conv_temporal.conv", "bn1": "conv_temporal.bn", "conv2": "conv_spatial.conv",
          "bn2": "conv_spatial.bn", "conv3": "conv_expand.conv", "bn3": "conv_expand.bn",
          "se.fc1": "se.fc1", "se.fc2": "se.fc2"}
_SHORTCUT_AVG = {"downsample.1": "shortcut.conv", "downsample.2": "shortcut.bn"}
_SHORTCUT_CONV = {"downsample.0": "shortcut.conv", "downsample.1": "shortcut.bn"}
_BLOCK_KEY = re.compile(r"layer(\d+)\.(\d+)\.(.+)\.([a-z_]+)$")
_HEAD = ("head.fc.weight", "head.fc.bias")


class WeightConversionError(ValueError):
    """Tensors that did not fit; the message lists every one by name and shape."""


def inflate_kernel(weight: torch.Tensor, temporal_size: int, mode: str = "center") -> torch.Tensor:
    """A 2D conv kernel (O, I, kh, kw) as a 3D one (O, I, kt, kh, kw); see the module docstring."""
    if mode not in INFLATE_MODES:
        raise ValueError(f"inflation mode must be one of {INFLATE_MODES}, got {mode!r}")
    if mode == "mean":
        return weight.unsqueeze(2).repeat(1, 1, temporal_size, 1, 1) / temporal_size
    out = weight.new_zeros(weight.shape[:2] + (temporal_size,) + weight.shape[2:])
    out[:, :, temporal_size // 2] = weight
    return out


def timm_layout(source: dict[str, torch.Tensor]) -> dict[str, bool]:
    """Which timm ResNet flavour a state dict is: deep stem, conv stem pool, avg-pool shortcut."""
    return {
        "deep_stem": "conv1.0.weight" in source,
        "conv_stem_pool": "maxpool.0.weight" in source,
        "avg_down": any(k.endswith("downsample.2.weight") for k in source),
    }


def timm_key_to_video_rs(key: str, layout: dict[str, bool]) -> str | None:
    """The video_rs name of one timm tensor, or None when no rule covers it."""
    if key.startswith("fc."):
        return "head." + key
    module, _, leaf = key.rpartition(".")
    stem = {**(_STEM_DEEP if layout["deep_stem"] else _STEM_PLAIN), **_STEM_POOL}
    if module in stem:
        return f"{stem[module]}.{leaf}"
    match = _BLOCK_KEY.match(key)
    if not match:
        return None
    layer, block, part, leaf = match.groups()
    parts = {**_BLOCK, **(_SHORTCUT_AVG if layout["avg_down"] else _SHORTCUT_CONV)}
    if part not in parts or int(layer) < 1:
        return None
    return f"stages.{int(layer) - 1}.blocks.{block}.{parts[part]}.{leaf}"


def _describe(name: str, tensor) -> str:
    return f"{name} {tuple(tensor.shape)}"


@dataclass
class Conversion:
    """The outcome of mapping a source state dict onto a model; `state_dict` is what loads."""

    state_dict: dict[str, torch.Tensor] = field(default_factory=dict)
    loaded: list[str] = field(default_factory=list)  # target keys filled from the source
    head_skipped: list[str] = field(default_factory=list)  # classifier of another class count
    unmapped: list[str] = field(default_factory=list)  # source tensors no rule or target takes
    mismatched: list[str] = field(default_factory=list)  # mapped, but the shapes cannot fit
    missing: list[str] = field(default_factory=list)  # target tensors nothing filled
    defaulted: list[str] = field(default_factory=list)  # BN counters absent from old 2D files, set to 0
    structure: list[str] = field(default_factory=list)  # network differences tensors cannot show

    def problems(self) -> list[str]:
        """Everything that makes the 3D network not the inflated 2D one (the head aside)."""
        return ([f"network: {s}" for s in self.structure] + [f"unmapped source tensor: {s}" for s in self.unmapped]
                + [f"shape mismatch: {s}" for s in self.mismatched] + [f"not in source: {s}" for s in self.missing])

    def load_into(self, model: nn.Module, *, allow_mismatch: bool, source: str, context: str) -> None:
        """Load `state_dict` into `model`; unless `allow_mismatch`, any problem first raises a
        WeightConversionError: "`source`: N problem(s) `context`:" and the list."""
        problems = self.problems()
        if problems and not allow_mismatch:
            raise WeightConversionError(f"{source}: {len(problems)} problem(s) {context}:\n  " + "\n  ".join(problems))
        model.load_state_dict(self.state_dict, strict=False)

    def as_load_report(self) -> dict[str, list[str]]:
        """The {"loaded", "skipped", "missing"} report of `video_rs.engine.finetune.load_pretrained`."""
        skipped = sorted(name for name in _HEAD if name not in self.state_dict)
        missing = sorted(entry.split(" ")[0] for entry in self.missing)
        return {"loaded": sorted(self.loaded), "skipped": skipped, "missing": missing}

    def summary(self) -> str:
        lines = [f"{len(self.loaded)} tensors loaded"]
        if self.head_skipped:
            lines.append("classifier left as initialised (class count differs): " + "; ".join(self.head_skipped))
        if self.defaulted:
            lines.append(f"{len(self.defaulted)} BN num_batches_tracked counters absent from the source, set to 0")
        lines += self.problems()
        return "\n".join(lines)


def _check_structure(model: nn.Module, layout: dict[str, bool]) -> list[str]:
    """Differences between the 3D net and the 2D source that leave every tensor shape the same."""
    found = []
    if any(isinstance(m, (Conv3dSame, MaxPool3dSame)) for m in model.modules()):
        found.append("TF 'same' padding on strided layers; timm pads symmetrically (RESNET.PADDING symmetric)")
    strided_conv = any(isinstance(m, ProjectionShortcut3D) and m.conv.stride != (1, 1, 1) for m in model.modules())
    avg_pooled = any(isinstance(m, ProjectionShortcut3D) and isinstance(m.pool, nn.AvgPool3d) for m in model.modules())
    if layout["avg_down"] and strided_conv:
        found.append("strided-conv shortcut where the source average-pools (RESNET.SHORTCUT avgpool)")
    if not layout["avg_down"] and avg_pooled:
        found.append("avg-pool shortcut where the source strides its conv (RESNET.SHORTCUT conv)")
    return found


def convert_timm_state_dict(source: dict[str, torch.Tensor], model: nn.Module, *, mode: str = "center") -> Conversion:
    """Map every tensor of a timm ResNet(-RS) state dict onto `model`, inflating 2D kernels."""
    if mode not in INFLATE_MODES:
        raise ValueError(f"inflation mode must be one of {INFLATE_MODES}, got {mode!r}")
    layout = timm_layout(source)

    def to_3d(tensor: torch.Tensor, want: torch.Tensor) -> torch.Tensor:
        if tensor.dim() == 4 and want.dim() == 5 and tensor.shape == want.shape[:2] + want.shape[3:]:
            return inflate_kernel(tensor, want.shape[2], mode)
        return tensor

    return map_onto_model(source, model.state_dict(), rename=lambda key: timm_key_to_video_rs(key, layout),
                          adapt=to_3d, structure=_check_structure(model, layout))


def map_onto_model(source: dict, target: dict[str, torch.Tensor], *, rename: Callable[[str], str | None],
                   adapt: Callable[[object, torch.Tensor], torch.Tensor], structure: list[str]) -> Conversion:
    """The `Conversion` of `source` onto a model's state dict `target`, whatever the source format.

    `rename` gives a source key's target name (None: no rule); `adapt(tensor, want)` turns a source
    tensor into the target's layout. A classifier of another shape, or none, is reported apart.
    """
    result = Conversion(structure=structure)
    reported: set[str] = set()  # target names already listed as mismatched
    for key, tensor in source.items():
        name = rename(key)
        if name is None or name not in target:
            result.unmapped.append(_describe(key, tensor))
            continue
        want = target[name]
        tensor = adapt(tensor, want)
        if tensor.shape != want.shape:
            entry = f"{key} {tuple(tensor.shape)} -> {name} {tuple(want.shape)}"
            (result.head_skipped if name in _HEAD else result.mismatched).append(entry)
            reported.add(name)
            continue
        result.state_dict[name] = tensor.to(want.dtype)
        result.loaded.append(name)
    for name, want in target.items():
        if name in result.state_dict or name in reported:
            continue
        if name in _HEAD:  # a headless source (timm num_classes=0, a backbone checkpoint): the head trains afresh
            result.head_skipped.append(f"{_describe(name, want)} not in source")
        elif name.endswith("num_batches_tracked"):
            result.state_dict[name] = torch.zeros_like(want)
            result.defaulted.append(name)
        else:
            result.missing.append(_describe(name, want))
    return result


def read_timm_state_dict(path: str) -> dict[str, torch.Tensor]:
    """A timm state dict from a local file (.pth / .pth.tar / .safetensors); never downloads.

    Unwraps timm's training checkpoints ({"state_dict": ...}, preferring "state_dict_ema" as timm's
    own EMA evaluation does) and the "module." prefix that DistributedDataParallel adds.
    """
    if not os.path.isfile(path):
        raise WeightConversionError(f"{path}: file not found")
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(path)
        else:  # weights_only: tensors and plain containers; a pickled module or object is refused, never run
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # empty, truncated, garbage, arbitrary pickles: each library raises its own type
        reason = (str(err).strip().splitlines() or [""])[0]
        raise WeightConversionError(f"{path}: unreadable weights file ({type(err).__name__}: {reason})") from err
    for wrapper in ("state_dict_ema", "state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightConversionError(f"{path}: not a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def inflate_timm_weights(model: nn.Module, path: str, *, mode: str = "center", allow_mismatch: bool = False) -> Conversion:
    """Load the timm checkpoint at `path` into `model`, inflated; raise on any problem unless allowed.

    With `allow_mismatch` the tensors that fit are loaded and the rest keep the model's
    initialisation; the returned `Conversion` still lists them all.
    """
    result = convert_timm_state_dict(read_timm_state_dict(path), model, mode=mode)
    result.load_into(model, allow_mismatch=allow_mismatch, source=path,
                     context="mapping the timm weights onto this 3D network (2D-compatible options: RESNET.STEM v1, "
                             "STEM_POOL conv, SHORTCUT avgpool, SELF_GATING none, SE_RATIO 0.25, PADDING symmetric, "
                             "the same DEPTH and width)")
    return result
