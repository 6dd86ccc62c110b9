"""2D -> 3D inflation of timm ResNet(-RS) weights: exact on static clips, every tensor accounted for.

Random timm models stand in for the pretrained ones (no downloads). Their BN layers get random
affine parameters (timm zero-inits the last BN of each block, which would hide the residual
branches) and statistics from a calibration pass, so a wrong mapping shows in the logits.
"""
from functools import partial

import pytest
import timm
import torch
from timm.layers import get_attn
from timm.models.resnet import Bottleneck, ResNet
from torch import nn

from video_rs.config import load_cfg
from video_rs.engine.finetune import load_pretrained
from video_rs.models import build_model
from video_rs.models.weights import (
    WeightConversionError,
    convert_timm_state_dict,
    inflate_kernel,
    inflate_timm_weights,
    read_timm_state_dict,
)

RS_2D_COMPATIBLE = ["RESNET.STEM_POOL", "conv", "RESNET.SELF_GATING", "none", "RESNET.SE_RATIO", "0.25",
                    "RESNET.SHORTCUT", "avgpool", "MODEL.NUM_CLASSES", "1000"]
# timm's plain ResNet-26 (7x7 stem, max-pool, strided-conv shortcut) and our R3D baseline layout at depth 26
PLAIN_2D_COMPATIBLE = ["RESNET.DEPTH", "26", "RESNET.STEM", "v0", "RESNET.STEM_POOL", "max", "RESNET.SHORTCUT", "conv",
                       "RESNET.SE_RATIO", "0.0", "RESNET.SELF_GATING", "none", "MODEL.NUM_CLASSES", "1000"]
SIZE, FRAMES = 64, 8


def calibrate(model: nn.Module, seed: int) -> nn.Module:
    """Random BN affine parameters, then BN statistics from a forward pass, then eval mode."""
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.weight.data = 0.5 + torch.rand(module.num_features, generator=gen)
            module.bias.data = 0.1 * torch.randn(module.num_features, generator=gen)
            module.momentum = None  # cumulative average: one pass sets the statistics of that pass
            module.reset_running_stats()
    model.train()
    with torch.no_grad():
        model(torch.randn(4, 3, SIZE, SIZE, generator=gen))
    return model.eval()


def rs26_2d() -> ResNet:
    """A resnetrs-style timm net at depth 26 (2,2,2,2), which timm does not register: cheap error cases."""
    se = partial(get_attn("se"), rd_ratio=0.25)
    return ResNet(block=Bottleneck, layers=(2, 2, 2, 2), stem_width=32, stem_type="deep", replace_stem_pool=True,
                  avg_down=True, block_args=dict(attn_layer=se))


@pytest.fixture(scope="module")
def resnetrs50():
    torch.manual_seed(0)
    return calibrate(timm.create_model("resnetrs50", pretrained=False), seed=1)


@pytest.fixture(scope="module")
def static_clip():
    """One 64x64 frame (the 2D input) and the clip of FRAMES copies of it (the 3D input)."""
    frame = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    return frame, frame.unsqueeze(2).expand(-1, -1, FRAMES, -1, -1).contiguous()


def inflated(model_2d: nn.Module, opts: list[str], mode: str = "center") -> nn.Module:
    model_3d = build_model(load_cfg(None, opts)).eval()
    conversion = convert_timm_state_dict(model_2d.state_dict(), model_3d, mode=mode)
    assert conversion.problems() == [] and not conversion.head_skipped and not conversion.defaulted
    model_3d.load_state_dict(conversion.state_dict, strict=True)
    return model_3d


def test_center_inflated_resnetrs50_reproduces_2d_logits_on_static_clip(resnetrs50, static_clip):
    frame, clip = static_clip
    model_3d = inflated(resnetrs50, RS_2D_COMPATIBLE)
    weights = model_3d.state_dict()
    assert weights["stem.conv1.conv.weight"].shape[2] == 5
    for stage, kt in ((0, 1), (1, 1), (2, 3), (3, 3)):
        assert {w.shape[2] for k, w in weights.items() if k.startswith(f"stages.{stage}.") and "conv_temporal.conv" in k} == {kt}
    with torch.no_grad():
        logits_2d, logits_3d = resnetrs50(frame), model_3d(clip)
    diff = (logits_2d - logits_3d).abs().max().item()
    print(f"resnetrs50 center inflation: max |logit diff| = {diff:.3g} (logit std {logits_2d.std():.3g})")
    assert logits_2d.std() > 0.1  # logits carry signal, so a small difference means something
    assert diff < 1e-4


def test_mean_inflation_is_exact_on_interior_frames_only(resnetrs50, static_clip):
    """The stem's 5-tap conv (temporal stride 2, pad 2) reads only real frames for outputs 1..2 of 4."""
    frame, clip = static_clip
    model_3d = inflated(resnetrs50, RS_2D_COMPATIBLE, mode="mean")
    with torch.no_grad():
        stem_2d = resnetrs50.maxpool(resnetrs50.act1(resnetrs50.bn1(resnetrs50.conv1(frame))))
        stem_3d = model_3d.stem(clip)
        logit_diff = (resnetrs50(frame) - model_3d(clip)).abs().max().item()
    assert stem_3d.shape[2] == FRAMES // 2
    for t in (1, 2):
        assert (stem_3d[:, :, t] - stem_2d).abs().max() < 1e-4
    for t in (0, 3):  # the window of these reaches into the zero padding: 3 of 5 and 4 of 5 taps
        assert (stem_3d[:, :, t] - stem_2d).abs().max() > 1e-2
    assert logit_diff > 1e-3  # boundary frames reach every frame through SE and the pool: not exact


def test_mean_inflated_conv_scales_boundary_frames_by_the_taps_inside():
    conv_2d = nn.Conv2d(4, 6, 3, padding=1, bias=False)
    conv_3d = nn.Conv3d(4, 6, (3, 3, 3), padding=1, bias=False)
    conv_3d.weight.data = inflate_kernel(conv_2d.weight.data, 3, "mean")
    frame = torch.randn(2, 4, 9, 9)
    with torch.no_grad():
        out_2d = conv_2d(frame)
        out_3d = conv_3d(frame.unsqueeze(2).expand(-1, -1, 5, -1, -1))
    for t, fraction in ((0, 2 / 3), (1, 1.0), (2, 1.0), (3, 1.0), (4, 2 / 3)):
        torch.testing.assert_close(out_3d[:, :, t], fraction * out_2d, atol=1e-5, rtol=1e-5)


def test_inflate_kernel_modes():
    weight = torch.randn(8, 4, 3, 3)
    center = inflate_kernel(weight, 5, "center")
    assert center.shape == (8, 4, 5, 3, 3)
    assert torch.equal(center[:, :, 2], weight) and not center[:, :, [0, 1, 3, 4]].any()
    mean = inflate_kernel(weight, 3, "mean")
    torch.testing.assert_close(mean.sum(dim=2), weight)
    assert torch.equal(mean[:, :, 0], mean[:, :, 2])
    with pytest.raises(ValueError, match="inflation mode"):
        inflate_kernel(weight, 3, "sideways")


def test_plain_resnet_layout_maps_onto_the_baseline_network(static_clip):
    """timm's 7x7-stem, strided-conv-shortcut ResNet: the other key layout, also exact."""
    frame, clip = static_clip
    torch.manual_seed(3)
    model_2d = calibrate(timm.create_model("resnet26", pretrained=False), seed=4)
    model_3d = inflated(model_2d, PLAIN_2D_COMPATIBLE)
    assert model_3d.stem.conv1.conv.weight.shape[2:] == (5, 7, 7)
    with torch.no_grad():
        assert (model_2d(frame) - model_3d(clip)).abs().max() < 1e-4


def test_every_unfit_tensor_is_named_with_its_shape(tmp_path):
    """Max-pool stem and self-gating (the 3D reference layout) do not exist in timm: all listed, then raise."""
    path = str(tmp_path / "rs26.pth")
    torch.save(rs26_2d().state_dict(), path)
    model_3d = build_model(load_cfg(None, ["RESNET.DEPTH", "26", "RESNET.STEM_POOL", "max", "MODEL.NUM_CLASSES", "1000"]))
    before = {k: v.clone() for k, v in model_3d.state_dict().items()}
    with pytest.raises(WeightConversionError) as err:
        inflate_timm_weights(model_3d, path)
    message = str(err.value)
    assert "maxpool.0.weight (64, 64, 3, 3)" in message and "maxpool.1.running_var (64,)" in message
    for stage, channels in enumerate((256, 512, 1024, 2048)):
        assert f"stages.{stage}.blocks.1.self_gating.fc.weight ({channels}, {channels}, 1, 1, 1)" in message
    assert "stages.0.blocks.0.self_gating" not in message  # Model Garden gates the last block only
    assert all(torch.equal(v, before[k]) for k, v in model_3d.state_dict().items()), "nothing loads on error"

    conversion = inflate_timm_weights(model_3d, path, allow_mismatch=True)
    assert len(conversion.unmapped) == 6 and len(conversion.missing) == 8
    saved = torch.load(path, weights_only=True)
    assert torch.equal(model_3d.state_dict()["stages.3.blocks.1.se.fc2.bias"], saved["layer4.1.se.fc2.bias"])


@pytest.mark.parametrize("opts, reason", [
    (["RESNET.SHORTCUT", "conv"], "strided-conv shortcut"),
    (["RESNET.PADDING", "same"], "'same' padding"),
])
def test_network_differences_that_tensors_cannot_show_are_refused(opts, reason):
    model_3d = build_model(load_cfg(None, RS_2D_COMPATIBLE + ["RESNET.DEPTH", "26"] + opts))
    conversion = convert_timm_state_dict(rs26_2d().state_dict(), model_3d)
    assert not conversion.unmapped and not conversion.mismatched and not conversion.missing
    assert len(conversion.structure) == 1 and reason in conversion.structure[0]


def test_classifier_of_another_class_count_is_reported_not_fatal():
    source = rs26_2d().state_dict()
    model_3d = build_model(load_cfg(None, RS_2D_COMPATIBLE + ["RESNET.DEPTH", "26", "MODEL.NUM_CLASSES", "400"]))
    conversion = convert_timm_state_dict(source, model_3d)
    assert conversion.problems() == []
    assert conversion.head_skipped == ["fc.weight (1000, 2048) -> head.fc.weight (400, 2048)",
                                       "fc.bias (1000,) -> head.fc.bias (400,)"]
    assert "classifier left as initialised" in conversion.summary()
    assert len(conversion.loaded) == len(model_3d.state_dict()) - 2


def test_num_batches_tracked_is_copied_or_defaulted():
    source = rs26_2d().state_dict()
    source["bn1.num_batches_tracked"].fill_(7)
    model_3d = build_model(load_cfg(None, RS_2D_COMPATIBLE + ["RESNET.DEPTH", "26"]))
    assert convert_timm_state_dict(source, model_3d).state_dict["stem.conv3.bn.num_batches_tracked"] == 7
    old_style = {k: v for k, v in source.items() if not k.endswith("num_batches_tracked")}
    conversion = convert_timm_state_dict(old_style, model_3d)
    assert conversion.problems() == [] and len(conversion.defaulted) == len(source) - len(old_style)


def test_timm_training_checkpoints_and_safetensors_are_unwrapped(tmp_path):
    from safetensors.torch import save_file

    state = {"conv1.0.weight": torch.ones(2, 3, 3, 3), "fc.bias": torch.zeros(2)}
    ema = {f"module.{k}": v + 1 for k, v in state.items()}
    torch.save({"epoch": 3, "state_dict": state, "state_dict_ema": ema}, tmp_path / "train.pth.tar")
    read = read_timm_state_dict(str(tmp_path / "train.pth.tar"))
    assert sorted(read) == sorted(state) and torch.equal(read["fc.bias"], torch.ones(2))
    save_file(state, str(tmp_path / "model.safetensors"))
    assert torch.equal(read_timm_state_dict(str(tmp_path / "model.safetensors"))["conv1.0.weight"], state["conv1.0.weight"])
    torch.save({"epoch": 3}, tmp_path / "empty.pth")
    with pytest.raises(WeightConversionError, match="not a state dict"):
        read_timm_state_dict(str(tmp_path / "empty.pth"))


def test_training_config_inflates_through_load_pretrained(tmp_path):
    """TRAIN.CHECKPOINT_TYPE timm: the trainer's fine-tune hook inflates with the configured mode."""
    source = rs26_2d()
    path = str(tmp_path / "rs26.pth")
    torch.save(source.state_dict(), path)
    cfg = load_cfg(None, RS_2D_COMPATIBLE + ["RESNET.DEPTH", "26", "MODEL.NUM_CLASSES", "400",
                                             "TRAIN.CHECKPOINT_FILE_PATH", path, "TRAIN.CHECKPOINT_TYPE", "timm",
                                             "TRAIN.CHECKPOINT_INFLATE_MODE", "mean"])
    model_3d = build_model(cfg)
    report = load_pretrained(model_3d, cfg)
    assert report["skipped"] == ["head.fc.bias", "head.fc.weight"] and not report["missing"]
    expected = inflate_kernel(source.layer3[0].conv1.weight.data, 3, "mean")
    assert torch.equal(model_3d.stages[2].blocks[0].conv_temporal.conv.weight, expected)
