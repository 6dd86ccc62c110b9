"""TensorFlow Model Garden 3D ResNet(-RS) checkpoints onto the video_rs network of a cfg.

Model Garden's network is `ResNet3D` with RESNET.PADDING "same", RESNET.SHORTCUT "conv",
RESNET.STEM_POOL "max" and RESNET.SELF_GATING "last" (`configs/k400/3d_resnetrs50_model_garden.yaml`);
with those its logits are reproduced (tests/tools/test_convert_tf_weights.py, which needs TensorFlow and
tf-models-official). Reading a checkpoint needs TensorFlow, which video_rs does not depend on.

Every model variable is mapped or reported, as for timm files (`video_rs.models.weights.Conversion`);
optimizer state and counters are listed as not read. Names are the object paths Keras writes
(`.../.ATTRIBUTES/VARIABLE_VALUE` dropped). B is the backbone: `backbone/` in Model Garden's training
checkpoints (its trainer saves `model.checkpoint_items`), `model/layer_with_weights-0/` when only the
classifier was saved. Keras numbers a functional model's layers that own weights in build order::

    B layer_with_weights-0 .. 5           stem.conv1.conv, stem.conv1.bn, stem.conv2.conv, stem.conv2.bn,
                                          stem.conv3.conv, stem.conv3.bn   (stem v0: 0 .. 1)
    B layer_with_weights-(s + k)          the k-th bottleneck over all stages in order (s = stem layers):
        _temporal_conv / _norm1           conv_temporal.conv / .bn
        _spatial_conv / _norm2            conv_spatial.conv / .bn
        _expand_conv / _norm3             conv_expand.conv / .bn
        _shortcut_conv / _norm0           shortcut.conv / .bn
        _squeeze_excitation/_se_reduce    se.fc1            (_se_expand: se.fc2)
        _self_gating/_transformer_w       self_gating.fc
    model/layer_with_weights-1            head.fc

Tensors: Conv3D kernels (T, H, W, I, O) -> (O, I, T, H, W); the SE's Conv2D kernels (1, 1, I, O) ->
(O, I, 1, 1, 1); Dense (I, O) -> (O, I); BN gamma / beta / moving_mean / moving_variance ->
weight / bias / running_mean / running_var. BN epsilon is not in the checkpoint: Model Garden's
Kinetics-400 experiments use 1e-5 (BN.EPSILON), its library default is 1e-3.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from video_rs.models.blocks import Conv3dSame, MaxPool3dSame, ProjectionShortcut3D
from video_rs.models.weights import Conversion, WeightConversionError, map_onto_model

_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
_BACKBONE_PREFIXES = ("backbone/", "model/layer_with_weights-0/")
_LAYER = re.compile(r"layer_with_weights-(\d+)/(?:(.+)/)?([a-z_]+)$")
_HEAD = re.compile(r"model/layer_with_weights-1/(kernel|bias)$")
_LEAVES = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias",
           "moving_mean": "running_mean", "moving_variance": "running_var"}
_BLOCK_PARTS = {"_temporal_conv": "conv_temporal.conv", "_norm1": "conv_temporal.bn",
                "_spatial_conv": "conv_spatial.conv", "_norm2": "conv_spatial.bn",
                "_expand_conv": "conv_expand.conv", "_norm3": "conv_expand.bn",
                "_shortcut_conv": "shortcut.conv", "_norm0": "shortcut.bn",
                "_squeeze_excitation/_se_reduce": "se.fc1", "_squeeze_excitation/_se_expand": "se.fc2",
                "_self_gating/_transformer_w": "self_gating.fc"}


class TensorFlowMissing(WeightConversionError):
    """TensorFlow is needed to read the checkpoint and is not installed."""


@dataclass
class TFCheckpoint:
    """The variables of a TF2 object-based checkpoint: model tensors, and what was left unread."""

    tensors: dict[str, np.ndarray] = field(default_factory=dict)
    not_read: list[str] = field(default_factory=list)  # optimizer slots, step counters: "name (shape)"


def _is_model_variable(name: str) -> bool:
    return ".OPTIMIZER_SLOT" not in name and name.startswith(("model/", "backbone/"))


def read_tf_checkpoint(path: str) -> TFCheckpoint:
    """The model variables of a TF checkpoint (a prefix such as `ckpt-100`, or its folder)."""
    try:
        import tensorflow as tf
    except ImportError as err:
        raise TensorFlowMissing("reading a TensorFlow checkpoint needs TensorFlow, an optional dependency "
                                f"of video_rs (pip install tensorflow-cpu): {err}") from None
    try:
        reader = tf.train.load_checkpoint(path)
    except (ValueError, tf.errors.OpError) as err:
        raise WeightConversionError(f"{path}: not a readable TensorFlow checkpoint ({err})") from None
    result = TFCheckpoint()
    for key, shape in sorted(reader.get_variable_to_shape_map().items()):
        if not key.endswith(_SUFFIX):
            continue  # the object graph itself
        name = key[: -len(_SUFFIX)]
        if _is_model_variable(name):
            result.tensors[name] = reader.get_tensor(key)
        else:
            result.not_read.append(f"{name} {tuple(shape)}")
    return result


def backbone_layer_names(model: nn.Module) -> list[str]:
    """The video_rs module of each Keras `layer_with_weights-N` of Model Garden's backbone, in order."""
    names = [f"stem.{conv}.{part}" for conv in ("conv1", "conv2", "conv3")
             if getattr(model.stem, conv) is not None for part in ("conv", "bn")]
    for i, stage in enumerate(model.stages):
        names += [f"stages.{i}.blocks.{j}" for j in range(len(stage.blocks))]
    return names


def tf_name_to_video_rs(name: str, layers: list[str]) -> str | None:
    """The video_rs tensor name of one Model Garden variable, or None when no rule covers it."""
    head = _HEAD.fullmatch(name)
    if head:
        return f"head.fc.{_LEAVES[head.group(1)]}"
    prefix = next((p for p in _BACKBONE_PREFIXES if name.startswith(p)), None)
    match = _LAYER.fullmatch(name[len(prefix):]) if prefix else None
    if not match or match.group(3) not in _LEAVES:
        return None
    index, part, leaf = int(match.group(1)), match.group(2), _LEAVES[match.group(3)]
    if index >= len(layers):
        return None
    module = layers[index]
    if module.startswith("stem."):
        return f"{module}.{leaf}" if part is None else None
    if part not in _BLOCK_PARTS:
        return None
    return f"{module}.{_BLOCK_PARTS[part]}.{leaf}"


def tf_tensor_to_torch(array: np.ndarray) -> torch.Tensor:
    """A Keras kernel in PyTorch's layout (see the module docstring); vectors unchanged."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.dim() == 5:  # Conv3D (T, H, W, I, O)
        return tensor.permute(4, 3, 0, 1, 2).contiguous()
    if tensor.dim() == 4:  # Conv2D on the squeezed SE input (1, 1, I, O)
        return tensor.permute(3, 2, 0, 1).unsqueeze(-1).contiguous()
    if tensor.dim() == 2:  # Dense (I, O)
        return tensor.t().contiguous()
    return tensor


def model_garden_layout_problems(model: nn.Module) -> list[str]:
    """Ways `model` differs from Model Garden's network that no tensor shape shows."""
    found = []
    modules = list(model.modules())
    if any(isinstance(m, ProjectionShortcut3D) and not isinstance(m.pool, nn.Identity) for m in modules):
        found.append("avg-pool shortcut where Model Garden strides a 1x1x1 conv (RESNET.SHORTCUT conv)")
    symmetric = [m for m in modules if (isinstance(m, nn.Conv3d) and not isinstance(m, Conv3dSame)
                                         and max(m.stride) > 1 and max(m.kernel_size) > 1)
                 or (isinstance(m, nn.MaxPool3d) and not isinstance(m, MaxPool3dSame))]
    if symmetric:
        found.append("symmetric padding on strided layers where Model Garden pads 'same' (RESNET.PADDING same)")
    if not isinstance(model.stem.pool, nn.MaxPool3d):
        found.append("strided-conv stem pool where Model Garden max-pools (RESNET.STEM_POOL max)")
    return found


def convert_tf_variables(tensors: dict[str, np.ndarray], model: nn.Module) -> Conversion:
    """Map every Model Garden model variable onto `model` (a `ResNet3D`)."""
    layers = backbone_layer_names(model)
    return map_onto_model(tensors, model.state_dict(), rename=lambda name: tf_name_to_video_rs(name, layers),
                          adapt=lambda array, want: tf_tensor_to_torch(array),
                          structure=model_garden_layout_problems(model))


def load_tf_weights(model: nn.Module, path: str, *, allow_mismatch: bool = False) -> tuple[Conversion, TFCheckpoint]:
    """Load the Model Garden checkpoint at `path` into `model`; raise on any problem unless allowed."""
    checkpoint = read_tf_checkpoint(path)
    if not checkpoint.tensors:
        raise WeightConversionError(f"{path}: no model variables (model/... or backbone/...) in the checkpoint")
    result = convert_tf_variables(checkpoint.tensors, model)
    result.load_into(model, allow_mismatch=allow_mismatch, source=path,
                     context="mapping the Model Garden weights onto this network (Model Garden's layout: "
                             "configs/k400/3d_resnetrs50_model_garden.yaml with the checkpoint's RESNET.DEPTH)")
    return result, checkpoint
