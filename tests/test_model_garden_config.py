"""configs/k400/3d_resnetrs50_model_garden.yaml: Model Garden's network and recipe details; defaults kept elsewhere."""
from pathlib import Path

import torch

from video_rs.config import load_cfg
from video_rs.models import build_model
from video_rs.models.blocks import Conv3dSame, MaxPool3dSame, ProjectionShortcut3D

K400 = Path(__file__).resolve().parents[1] / "configs" / "k400"
MODEL_GARDEN = K400 / "3d_resnetrs50_model_garden.yaml"


def test_model_garden_file_sets_every_layout_and_recipe_key_and_nothing_else_differs():
    mg, base = load_cfg(str(MODEL_GARDEN)), load_cfg(str(K400 / "base.yaml"))
    assert (mg.RESNET.PADDING, mg.RESNET.SHORTCUT, mg.MODEL.INIT) == ("same", "conv", "model_garden")
    assert (mg.BN.MOMENTUM, mg.DATA.TRAIN_CROP_STYLE, mg.DATA.SHORT_VIDEO) == (1.0, "tf", "loop")
    assert (base.RESNET.PADDING, base.RESNET.SHORTCUT, base.MODEL.INIT) == ("symmetric", "avgpool", "he_fan_out")
    assert (base.BN.MOMENTUM, base.DATA.TRAIN_CROP_STYLE, base.DATA.SHORT_VIDEO) == (0.1, "torchvision", "clamp")
    changed = {"RESNET.PADDING", "RESNET.SHORTCUT", "MODEL.INIT", "BN.MOMENTUM", "DATA.TRAIN_CROP_STYLE",
               "DATA.SHORT_VIDEO", "OUTPUT_DIR"}
    for section in mg:
        if isinstance(mg[section], dict):
            for key in mg[section]:
                if f"{section}.{key}" not in changed:
                    assert mg[section][key] == base[section][key], f"{section}.{key}"


def test_model_garden_file_builds_the_model_garden_network_at_every_depth_switch():
    for depth in (50, 101):
        cfg = load_cfg(str(MODEL_GARDEN), ["RESNET.DEPTH", str(depth)])
        model = build_model(cfg, device="meta")
        shortcuts = [m for m in model.modules() if isinstance(m, ProjectionShortcut3D)]
        assert len(shortcuts) == 4 and all(isinstance(s.pool, torch.nn.Identity) for s in shortcuts)
        assert isinstance(model.stem.pool, MaxPool3dSame) and isinstance(model.stem.conv1.conv, Conv3dSame)
        assert len(model.stages[2].blocks) == {50: 6, 101: 23}[depth]


def test_bn_momentum_one_keeps_the_latest_batch_statistics():
    """BN.MOMENTUM 1.0 = Keras momentum 0: after a training step the running mean is that batch's mean."""
    cfg = load_cfg(str(MODEL_GARDEN), ["RESNET.DEPTH", "26", "MODEL.NUM_CLASSES", "3"])
    model = build_model(cfg).train()
    bn = model.stem.conv1.bn
    assert bn.momentum == 1.0
    seen = {}
    bn.register_forward_hook(lambda m, inputs, out: seen.update(x=inputs[0].detach()))
    for seed in (0, 1):  # the second batch replaces the first batch's statistics entirely
        model(torch.randn(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(seed)))
    x = seen["x"]
    torch.testing.assert_close(bn.running_mean, x.mean(dim=(0, 2, 3, 4)), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(bn.running_var, x.var(dim=(0, 2, 3, 4), unbiased=True), rtol=1e-5, atol=1e-6)
    default = build_model(load_cfg(str(K400 / "base.yaml"), ["RESNET.DEPTH", "26"]))
    assert default.stem.conv1.bn.momentum == 0.1
