"""ResNet3D against the spec: parameter counts, shapes, stochastic depth, variants, build_model."""
import pytest
import torch
from torch import nn

from video_rs.config import load_cfg
from video_rs.models import ResNet3D, build_model, create_model, list_models
from video_rs.models.blocks import Conv3dSame, DropPath, MaxPool3dSame

# the spec's table, written out again so a typo in the package's copy fails here
SPEC_BLOCKS = {26: (2, 2, 2, 2), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3), 200: (3, 24, 36, 3),
               270: (4, 29, 53, 4), 300: (4, 36, 54, 4), 350: (4, 36, 72, 4), 420: (4, 44, 87, 4)}
RS50_BACKBONE, RS50_K400 = 47_310_240, 48_129_840
TINY = dict(depth=26, width_multiplier=0.25, scale_stem_width=True, num_classes=5)


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def spec_param_count(depth: int, *, stem: str = "v1", se_ratio: float = 0.25, self_gating: str = "last",
                     kernels=(1, 1, 3, 3), stem_kt: int = 5, num_classes: int = 0) -> int:
    """Trainable parameters of the spec's network, counted by hand (BN: gamma and beta)."""
    if stem == "v1":
        total = 3 * 32 * stem_kt * 9 + 32 * 32 * 9 + 32 * 64 * 9 + 2 * (32 + 32 + 64)
    else:
        total = 3 * 64 * stem_kt * 49 + 2 * 64
    cin = 64
    for i, blocks in enumerate(SPEC_BLOCKS[depth]):
        f = 64 * 2 ** i
        out = 4 * f
        for j in range(blocks):
            total += cin * f * kernels[i] + f * f * 9 + f * out + 2 * (f + f + out)
            if j == 0:  # channels (res2) or stride (res3..5) change: projection shortcut
                total += cin * out + 2 * out
            if se_ratio:
                r = max(1, int(out * se_ratio))
                total += 2 * out * r + r + out
            if self_gating == "all" or (self_gating == "last" and j == blocks - 1):
                total += out * out + out
            cin = out
    return total + (cin * num_classes + num_classes if num_classes else 0)


def meta_model(**kwargs) -> ResNet3D:
    with torch.device("meta"):
        return ResNet3D(**kwargs)


def test_hand_count_reproduces_the_reference_numbers():
    assert spec_param_count(50) == RS50_BACKBONE
    assert spec_param_count(50, num_classes=400) == RS50_K400


@pytest.mark.parametrize("shortcut", ["avgpool", "conv"])
def test_rs50_k400_parameter_count(shortcut):
    model = meta_model(depth=50, stem="v1", stem_pool_temporal_stride=1, se_ratio=0.25, self_gating="last",
                       shortcut=shortcut, num_classes=400)
    assert count(model) - count(model.head) == RS50_BACKBONE
    assert count(model) == RS50_K400


def test_default_cfg_builds_the_reference_model():
    model = build_model(load_cfg(None), device="meta")
    assert count(model) == RS50_K400 and model.num_classes == 400


@pytest.mark.parametrize("frames,size,expected", [(8, 64, (4, 2, 2)), (32, 224, (16, 7, 7)), (32, 256, (16, 8, 8))])
def test_rs50_res5_shape(frames, size, expected):
    """Meta tensors carry shapes only, so the full-size forward costs nothing."""
    model = meta_model(depth=50)
    feats = model.forward_features(torch.empty(2, 3, frames, size, size, device="meta"))
    assert feats.shape == (2, 2048, *expected)
    assert model(torch.empty(2, 3, frames, size, size, device="meta")).shape == (2, 400)


def test_stem_reaches_res2_at_16x56x56():
    model = meta_model(depth=50)
    assert model.stem(torch.empty(1, 3, 32, 224, 224, device="meta")).shape == (1, 64, 16, 56, 56)


def test_tiny_forward_shapes():
    torch.manual_seed(0)
    model = ResNet3D(**TINY).eval()
    x = torch.randn(2, 3, 8, 64, 64)
    assert model.forward_features(x).shape == (2, 512, 4, 2, 2)  # 4 * 512 * 0.25 channels
    logits = model(x)
    assert logits.shape == (2, 5) and torch.isfinite(logits).all()


def _drop_paths(model: nn.Module) -> list[list[float]]:
    return [[b.drop_path.p for b in stage.blocks] for stage in model.stages]


def test_stage_drop_path_rates_follow_the_spec():
    rates = _drop_paths(meta_model(depth=50, drop_path_rate=0.1))
    expected = [0.04, 0.06, 0.08, 0.10]
    for stage_rates, p, blocks in zip(rates, expected, SPEC_BLOCKS[50]):
        assert len(stage_rates) == blocks
        assert stage_rates == pytest.approx([p] * blocks)


def test_stochastic_depth_only_in_training():
    torch.manual_seed(0)
    model = ResNet3D(**TINY, drop_path_rate=0.5)
    x = torch.randn(4, 3, 4, 32, 32)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
        model.train()
        assert not torch.allclose(model(x), model(x))
        control = ResNet3D(**TINY, drop_path_rate=0.0).train()  # train-mode BN alone is deterministic
        assert torch.equal(control(x), control(x))


@pytest.mark.parametrize("options", [
    dict(self_gating="last", shortcut="avgpool", stem_pool="max"),
    dict(self_gating="all", shortcut="conv", stem_pool="conv", padding="same", temporal_strides=(1, 2, 1, 1)),
])
def test_every_parameter_gets_a_gradient(options):
    torch.manual_seed(0)
    model = ResNet3D(**TINY, dropout_rate=0.2, drop_path_rate=0.1, **options).train()
    model(torch.randn(2, 3, 8, 32, 32)).logsumexp(dim=1).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_baseline_r3d50_layout():
    model = create_model("resnet3d_50")
    assert model.stem.conv1.conv.kernel_size == (5, 7, 7) and model.stem.conv1.conv.stride == (2, 2, 2)
    assert model.stem.conv2 is None and isinstance(model.stem.pool, nn.MaxPool3d)
    blocks = [b for stage in model.stages for b in stage.blocks]
    assert all(b.se is None and b.self_gating is None and b.drop_path.p == 0 for b in blocks)
    first = model.stages[1].blocks[0].shortcut
    assert isinstance(first.pool, nn.Identity) and first.conv.stride == (1, 2, 2)
    assert model.head.dropout.p == 0.0
    assert count(model) == spec_param_count(50, stem="v0", se_ratio=0.0, self_gating="none", num_classes=400)


@pytest.mark.parametrize("name", list_models())
def test_registered_variant_builds(name):
    with torch.device("meta"):
        model = create_model(name, num_classes=400)
    depth = int(name.rsplit("rs", 1)[-1]) if "_rs" in name else 50
    rs = "_rs" in name
    expected = spec_param_count(depth, stem="v1" if rs else "v0", se_ratio=0.25 if rs else 0.0,
                                self_gating="last" if rs else "none", num_classes=400)
    assert count(model) == expected
    assert [len(s.blocks) for s in model.stages] == list(SPEC_BLOCKS[depth])


def test_every_spec_depth_is_registered():
    assert {f"resnet3d_rs{d}" for d in SPEC_BLOCKS} | {"resnet3d_50"} == set(list_models())


def test_per_block_temporal_kernels():
    kernels = [[1, 3], [3, 1], [1, 1], [3, 5]]
    model = ResNet3D(**TINY, temporal_kernels=kernels)
    got = [[b.conv_temporal.conv.kernel_size[0] for b in stage.blocks] for stage in model.stages]
    assert got == kernels
    assert model(torch.randn(1, 3, 8, 32, 32)).shape == (1, 5)
    with pytest.raises(ValueError, match="2 blocks"):
        ResNet3D(**TINY, temporal_kernels=[[1, 3, 3], 1, 3, 3])


def test_self_gating_modes_choose_blocks():
    def gated(mode):
        return [[b.self_gating is not None for b in s.blocks] for s in meta_model(depth=50, self_gating=mode).stages]

    assert gated("last") == [[False] * (n - 1) + [True] for n in SPEC_BLOCKS[50]]
    assert gated("all") == [[True] * n for n in SPEC_BLOCKS[50]]
    assert gated("none") == [[False] * n for n in SPEC_BLOCKS[50]]


def test_width_multiplier_scales_stages_and_optionally_stem():
    model = meta_model(depth=26, width_multiplier=0.5)
    assert model.stem.conv3.conv.out_channels == 64 and model.num_features == 1024
    assert meta_model(depth=26, width_multiplier=0.5, scale_stem_width=True).stem.conv3.conv.out_channels == 32


def test_same_padding_keeps_state_dict_keys_and_shapes():
    sym, same = ResNet3D(**TINY), ResNet3D(**TINY, padding="same")
    assert sym.state_dict().keys() == same.state_dict().keys()
    assert isinstance(same.stem.conv1.conv, Conv3dSame) and isinstance(same.stem.pool, MaxPool3dSame)
    assert isinstance(same.stages[1].blocks[0].conv_spatial.conv, Conv3dSame)
    x = torch.randn(1, 3, 8, 32, 32)
    assert same.eval()(x).shape == sym.eval()(x).shape


def test_zero_init_last_bn():
    model = ResNet3D(**TINY, zero_init_last=True)
    assert all(b.conv_expand.bn.weight.abs().sum() == 0 for s in model.stages for b in s.blocks)
    assert ResNet3D(**TINY).stages[0].blocks[0].conv_expand.bn.weight.abs().sum() > 0


def test_bn_options_reach_every_norm_layer():
    model = meta_model(depth=26, bn_eps=1e-3, bn_momentum=1.0)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm3d)]
    assert norms and all(m.eps == 1e-3 and m.momentum == 1.0 for m in norms)


def test_head_interface_for_the_trainer():
    model = ResNet3D(**TINY, dropout_rate=0.3)
    assert isinstance(model.head.fc, nn.Linear) and model.head.dropout.p == 0.3 and model.num_classes == 5


def test_build_model_maps_cfg_keys():
    cfg = load_cfg(None, ["RESNET.DEPTH", "26", "RESNET.WIDTH_MULTIPLIER", "0.25", "RESNET.STEM", "v0",
                          "RESNET.SHORTCUT", "conv", "RESNET.SE_RATIO", "0.0", "RESNET.SELF_GATING", "all",
                          "RESNET.STEM_POOL", "conv", "RESNET.PADDING", "same", "MODEL.NUM_CLASSES", "7",
                          "MODEL.DROPOUT_RATE", "0.2", "MODEL.DROPPATH_RATE", "0.3", "BN.EPSILON", "0.001",
                          "RESNET.TEMPORAL_STRIDES", "[1, 1, 2, 1]", "RESNET.STEM_TEMPORAL_KERNEL", "3"])
    model = build_model(cfg, device="meta")
    block = model.stages[0].blocks[-1]
    assert model.num_classes == 7 and model.head.dropout.p == 0.2 and model.num_features == 512
    assert model.stem.conv1.conv.kernel_size == (3, 7, 7) and isinstance(model.stem.pool.conv, Conv3dSame)
    assert block.se is None and block.self_gating is not None and block.conv_expand.bn.eps == 1e-3
    assert model.stages[2].blocks[0].conv_temporal.conv.stride == (2, 1, 1)
    assert model.stages[3].blocks[0].drop_path.p == pytest.approx(0.3)
    assert isinstance(model.stages[1].blocks[0].drop_path, DropPath)
