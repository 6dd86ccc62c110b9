"""tools/convert_weights.py --from tf: Model Garden 3D ResNet-RS checkpoints into the Model Garden-layout config.

The parity tests build Model Garden's own Keras network (tf-models-official), so they run only where
TensorFlow and tf-models-official are installed; the name map and the missing-TensorFlow error are
checked everywhere.
"""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from video_rs.engine.checkpoint import build_model_from_checkpoint, load_checkpoint
from video_rs.models.resnet3d import ResNet3D
from video_rs.models.tf_weights import (backbone_layer_names, model_garden_layout_problems, tf_name_to_video_rs,
                                        tf_tensor_to_torch)

ROOT = Path(__file__).resolve().parents[2]
MODEL_GARDEN_CFG = str(ROOT / "configs/k400/3d_resnetrs50_model_garden.yaml")
HAVE_TF = importlib.util.find_spec("tensorflow") is not None and importlib.util.find_spec("official") is not None
needs_tf = pytest.mark.skipif(
    not HAVE_TF, reason="needs tensorflow and tf-models-official (optional; not in requirements.txt)")


@pytest.fixture(scope="module")
def convert(load_tool):
    return load_tool("convert_weights").main


# ----------------------------------------------------------------------------- without TensorFlow
def test_model_garden_variable_names_map_onto_the_network():
    """Names as Keras writes them for Model Garden's RS-50 (copied from a saved checkpoint's index)."""
    layers = backbone_layer_names(ResNet3D(depth=50, shortcut="conv", padding="same"))
    assert len(layers) == 6 + 16
    cases = {
        "backbone/layer_with_weights-0/kernel": "stem.conv1.conv.weight",
        "backbone/layer_with_weights-5/moving_variance": "stem.conv3.bn.running_var",
        "backbone/layer_with_weights-6/_shortcut_conv/kernel": "stages.0.blocks.0.shortcut.conv.weight",
        "backbone/layer_with_weights-9/_norm0/gamma": "stages.1.blocks.0.shortcut.bn.weight",
        "backbone/layer_with_weights-10/_squeeze_excitation/_se_reduce/kernel": "stages.1.blocks.1.se.fc1.weight",
        "backbone/layer_with_weights-12/_self_gating/_transformer_w/bias": "stages.1.blocks.3.self_gating.fc.bias",
        "model/layer_with_weights-0/layer_with_weights-21/_norm3/moving_mean":
            "stages.3.blocks.2.conv_expand.bn.running_mean",
        "model/layer_with_weights-1/kernel": "head.fc.weight",
    }
    for tf_name, ours in cases.items():
        assert tf_name_to_video_rs(tf_name, layers) == ours, tf_name
    for unknown in ("backbone/layer_with_weights-22/_norm1/gamma", "backbone/layer_with_weights-6/_norm9/beta",
                    "optimizer/iter", "model/layer_with_weights-2/kernel"):
        assert tf_name_to_video_rs(unknown, layers) is None, unknown


def test_keras_kernels_take_pytorch_layouts():
    conv = np.arange(3 * 1 * 1 * 4 * 5, dtype=np.float32).reshape(3, 1, 1, 4, 5)  # (T, H, W, I, O)
    assert tf_tensor_to_torch(conv)[2, 1, 0, 0, 0] == conv[0, 0, 0, 1, 2]
    se = np.arange(4 * 5, dtype=np.float32).reshape(1, 1, 4, 5)  # Conv2D (1, 1, I, O)
    assert tf_tensor_to_torch(se).shape == (5, 4, 1, 1, 1) and tf_tensor_to_torch(se)[2, 1, 0, 0, 0] == se[0, 0, 1, 2]
    dense = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert torch.equal(tf_tensor_to_torch(dense), torch.from_numpy(dense).t())


def test_layouts_other_than_model_gardens_are_named_with_the_key_to_change():
    assert model_garden_layout_problems(ResNet3D(depth=26, shortcut="conv", padding="same")) == []
    problems = " ".join(model_garden_layout_problems(ResNet3D(depth=26, stem_pool="conv")))
    for key in ("RESNET.SHORTCUT conv", "RESNET.PADDING same", "RESNET.STEM_POOL max"):
        assert key in problems


@pytest.mark.skipif(HAVE_TF, reason="TensorFlow is installed here")
def test_missing_tensorflow_is_one_error_line(convert, tmp_path, capsys):
    code = convert(["--from", "tf", "--src", str(tmp_path / "ckpt-1"), "--cfg", MODEL_GARDEN_CFG,
                    "--out", str(tmp_path / "out.pyth")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "TensorFlow" in err
    assert not (tmp_path / "out.pyth").exists()


# ----------------------------------------------------------------------------- with TensorFlow
def _keras_model_garden(depth: int, num_classes: int):
    """Model Garden's ResNet3D-RS backbone + video head, as its Kinetics-400 experiment configures them."""
    import tf_keras
    from official.vision.modeling import video_classification_model
    from official.vision.modeling.backbones import resnet_3d

    blocks = [spec[2] for spec in resnet_3d.RESNET_SPECS[depth]]
    backbone = resnet_3d.ResNet3D(
        model_id=depth, temporal_strides=[1, 1, 1, 1],
        temporal_kernel_sizes=[(k,) * n for k, n in zip((1, 1, 3, 3), blocks)], use_self_gating=[True] * 4,
        input_specs=tf_keras.layers.InputSpec(shape=[None, None, None, None, 3]), stem_type="v1",
        stem_conv_temporal_kernel_size=5, stem_conv_temporal_stride=2, stem_pool_temporal_stride=1,
        se_ratio=0.25, norm_momentum=0.0, norm_epsilon=1e-5)
    return video_classification_model.VideoClassificationModel(
        backbone, num_classes=num_classes, dropout_rate=0.5,
        input_specs={"image": tf_keras.layers.InputSpec(shape=[None, None, None, None, 3])})


def _randomise_statistics(model, seed: int) -> None:
    """Random BN statistics and affine terms and random biases, so every tensor's mapping matters."""
    rng = np.random.default_rng(seed)
    for variable in model.variables:
        name, shape = variable.name, variable.shape
        if "moving_variance" in name or "gamma" in name:
            variable.assign(rng.uniform(0.5, 1.5, shape).astype(np.float32))
        elif "moving_mean" in name or "beta" in name or "bias" in name:
            variable.assign(rng.normal(0.0, 0.1, shape).astype(np.float32))


@needs_tf
@pytest.mark.parametrize("depth, clip", [(50, (8, 64, 64)), (101, (16, 96, 96))])
def test_converted_model_garden_checkpoint_reproduces_the_keras_logits(convert, tmp_path, capsys, depth, clip):
    import tensorflow as tf
    import tf_keras

    tf_keras.utils.set_random_seed(depth)  # Python, NumPy and TF seeds: the Keras initialisers repeat
    keras_model = _keras_model_garden(depth, num_classes=10)
    _randomise_statistics(keras_model, seed=depth)
    # saved as Model Garden's trainer saves: the model, its backbone as a checkpoint item, the step
    prefix = tf.train.Checkpoint(model=keras_model, backbone=keras_model.backbone,
                                 global_step=tf.Variable(7, dtype=tf.int64)).save(str(tmp_path / "ckpt"))
    clips = np.random.default_rng(0).uniform(0, 1, (2,) + clip + (3,)).astype(np.float32)  # N, T, H, W, C
    expected = keras_model({"image": tf.constant(clips)}, training=False).numpy()

    out = str(tmp_path / "converted.pyth")
    overrides = ["RESNET.DEPTH", str(depth), "MODEL.NUM_CLASSES", "10"]
    assert convert(["--from", "tf", "--src", prefix, "--cfg", MODEL_GARDEN_CFG, "--out", out] + overrides) == 0
    report = capsys.readouterr().out
    assert "2 optimizer / counter variables not read" in report  # global_step, save_counter and "problem" not in report
    model, _ = build_model_from_checkpoint(load_checkpoint(out))
    with torch.no_grad():
        logits = model.eval()(torch.from_numpy(clips).permute(0, 4, 1, 2, 3)).numpy()
    difference = float(np.abs(logits - expected).max())
    print(f"\nRS-{depth} {clip}: max |logit difference| = {difference:.2e} (logits up to {np.abs(expected).max():.2f})")
    assert difference < 1e-5


@needs_tf
def test_default_layout_does_not_take_model_garden_weights(convert, tmp_path, capsys):
    import tensorflow as tf

    keras_model = _keras_model_garden(50, num_classes=10)
    prefix = tf.train.Checkpoint(model=keras_model).save(str(tmp_path / "ckpt"))
    base = str(ROOT / "configs/k400/base.yaml")
    assert convert(["--from", "tf", "--src", prefix, "--cfg", base, "--out", str(tmp_path / "x.pyth"),
                    "MODEL.NUM_CLASSES", "10"]) == 2
    err = capsys.readouterr().err
    assert "RESNET.SHORTCUT conv" in err and "RESNET.PADDING same" in err
