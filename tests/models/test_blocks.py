"""Blocks: TF "same" padding, SE width rule, gating order, drop path, shortcuts and stems."""
import pytest
import torch
from torch import nn

from video_rs.models.blocks import (
    Bottleneck3D,
    ConvNormAct3d,
    Conv3dSame,
    DropPath,
    MaxPool3dSame,
    ProjectionShortcut3D,
    SqueezeExcite3D,
    Stem3D,
    create_conv3d,
    same_padding,
    se_channels,
)


def _grid(h: int = 4, w: int = 4) -> torch.Tensor:
    """0..h*w-1 laid out as a (1,1,1,h,w) clip, so each output value names the window it summed."""
    return torch.arange(h * w, dtype=torch.float32).reshape(1, 1, 1, h, w)


@pytest.mark.parametrize("size,kernel,stride,expected", [
    (4, 3, 2, (0, 1)),  # even input, stride 2: TF puts the extra pixel after
    (7, 3, 2, (1, 1)),
    (8, 3, 1, (1, 1)),
    (8, 1, 2, (0, 0)),
    (32, 5, 2, (1, 2)),
])
def test_same_padding_matches_tensorflow_rule(size, kernel, stride, expected):
    assert same_padding(size, kernel, stride) == expected


def test_conv_same_samples_windows_from_the_first_pixel():
    """A 3x3 stride-2 sum on a 4x4 grid: TF "same" windows start at rows/cols 0 and 2 (pad after)."""
    conv = create_conv3d(1, 1, (1, 3, 3), stride=(1, 2, 2), padding="same")
    assert isinstance(conv, Conv3dSame)
    nn.init.ones_(conv.weight)
    out = conv(_grid())[0, 0, 0]
    assert out.tolist() == [[45.0, 39.0], [66.0, 50.0]]
    symmetric = create_conv3d(1, 1, (1, 3, 3), stride=(1, 2, 2), padding="symmetric")
    nn.init.ones_(symmetric.weight)
    assert symmetric(_grid())[0, 0, 0].tolist() != out.tolist()  # the grid shift the option exists for


def test_max_pool_same_ignores_padding():
    """Negative values: a zero-padded pool would return 0 at the padded windows; TF pads with -inf."""
    pool = MaxPool3dSame((1, 3, 3), stride=(1, 2, 2))
    out = pool(-(_grid() + 1))[0, 0, 0]
    assert out.tolist() == [[-1.0, -3.0], [-9.0, -11.0]]


def test_same_padding_only_replaces_striding_layers():
    assert type(create_conv3d(4, 4, (3, 3, 3), padding="same")) is nn.Conv3d
    assert isinstance(create_conv3d(4, 4, (3, 1, 1), stride=(2, 1, 1), padding="same"), Conv3dSame)


@pytest.mark.parametrize("channels,ratio,expected", [(256, 0.25, 64), (256, 0.2, 51), (2048, 0.25, 512), (8, 0.01, 1)])
def test_se_width_rule(channels, ratio, expected):
    assert se_channels(channels, ratio) == expected


def test_bottleneck_se_width_is_f_at_ratio_quarter():
    block = Bottleneck3D(32, 16, se_ratio=0.25)
    assert block.se.fc1.out_channels == 16 and block.se.fc2.out_channels == 64
    assert block.se.fc1.bias is not None and block.se.fc2.bias is not None
    assert Bottleneck3D(32, 16, se_ratio=0.0).se is None


def test_se_scales_each_channel_by_one_factor():
    torch.manual_seed(0)
    se = SqueezeExcite3D(6, reduced_channels=2)
    x = torch.rand(2, 6, 3, 4, 4) + 0.5
    ratio = se(x) / x
    assert torch.allclose(ratio, ratio[..., :1, :1, :1].expand_as(ratio), atol=1e-6)
    assert ((ratio > 0) & (ratio < 1)).all()


def _call_order(block: Bottleneck3D, x: torch.Tensor) -> list[str]:
    order: list[str] = []
    for name in ("self_gating", "se"):
        getattr(block, name).register_forward_hook(lambda *_, name=name: order.append(name))
    block(x)
    return order


@pytest.mark.parametrize("after_se,expected", [(False, ["self_gating", "se"]), (True, ["se", "self_gating"])])
def test_self_gating_position(after_se, expected):
    block = Bottleneck3D(16, 4, se_ratio=0.25, self_gating=True, self_gating_after_se=after_se)
    assert _call_order(block, torch.randn(1, 16, 2, 4, 4)) == expected


def test_drop_path_is_per_sample_and_rescaled_in_training():
    torch.manual_seed(0)
    drop = DropPath(0.5).train()
    x = torch.ones(2000, 3, 2, 2, 2)
    out = drop(x)
    per_sample = out.flatten(1)
    assert (per_sample == per_sample[:, :1]).all()  # one decision per sample
    assert set(per_sample[:, 0].unique().tolist()) == {0.0, 2.0}  # survivors scaled by 1/(1-p)
    assert 0.45 < (per_sample[:, 0] == 0).float().mean() < 0.55
    assert torch.equal(drop.eval()(x), x)


def test_drop_path_rejects_rate_one():
    with pytest.raises(ValueError):
        DropPath(1.0)


def test_drop_path_holds_no_tensors_and_is_the_identity_at_rate_zero():
    """Checkpoints never see it (no keys), and a rate of 0 changes nothing even in training."""
    assert DropPath(0.3).state_dict() == {}
    x = torch.randn(4, 3, 2, 2, 2)
    assert torch.equal(DropPath(0.0).train()(x), x)


@pytest.mark.parametrize("mode", ["avgpool", "conv"])
def test_projection_shortcut_layouts(mode):
    short = ProjectionShortcut3D(8, 32, temporal_stride=2, spatial_stride=2, mode=mode)
    if mode == "avgpool":
        assert isinstance(short.pool, nn.AvgPool3d) and short.pool.kernel_size == (2, 2, 2)
        assert short.conv.stride == (1, 1, 1)
    else:
        assert isinstance(short.pool, nn.Identity) and short.conv.stride == (2, 2, 2)
    assert sum(p.numel() for p in short.parameters()) == 8 * 32 + 2 * 32
    assert short(torch.randn(1, 8, 4, 7, 7)).shape == (1, 32, 2, 4, 4)  # odd sizes keep pace with the 3x3 path


def test_avgpool_shortcut_does_not_pool_without_stride():
    assert isinstance(ProjectionShortcut3D(8, 32, temporal_stride=1, spatial_stride=1).pool, nn.Identity)


def test_bottleneck_layer_order_and_strides():
    block = Bottleneck3D(16, 8, temporal_kernel=3, temporal_stride=2, spatial_stride=2)
    assert block.conv_temporal.conv.kernel_size == (3, 1, 1) and block.conv_temporal.conv.stride == (2, 1, 1)
    assert block.conv_spatial.conv.kernel_size == (1, 3, 3) and block.conv_spatial.conv.stride == (1, 2, 2)
    assert block.conv_expand.conv.kernel_size == (1, 1, 1) and isinstance(block.conv_expand.act, nn.Identity)
    assert block(torch.randn(2, 16, 4, 8, 8)).shape == (2, 32, 2, 4, 4)
    assert isinstance(Bottleneck3D(32, 8).shortcut, nn.Identity)


def test_stem_v1_is_the_deep_stem():
    stem = Stem3D(stem_type="v1", temporal_kernel=5, temporal_stride=2)
    convs = [stem.conv1.conv, stem.conv2.conv, stem.conv3.conv]
    assert [c.kernel_size for c in convs] == [(5, 3, 3), (1, 3, 3), (1, 3, 3)]
    assert [c.out_channels for c in convs] == [32, 32, 64]
    assert convs[0].stride == (2, 2, 2)
    assert stem(torch.randn(1, 3, 8, 32, 32)).shape == (1, 64, 4, 8, 8)


def test_stem_v0_and_pool_kernels():
    stem = Stem3D(stem_type="v0", temporal_kernel=5, pool_temporal_stride=2)
    assert stem.conv1.conv.kernel_size == (5, 7, 7) and stem.conv2 is None and stem.conv3 is None
    assert stem.pool.kernel_size == (3, 3, 3) and stem.pool.stride == (2, 2, 2)
    assert Stem3D(pool_temporal_stride=1).pool.kernel_size == (1, 3, 3)
    assert stem(torch.randn(1, 3, 8, 32, 32)).shape == (1, 64, 2, 8, 8)


def test_conv_stem_pool_matches_timm_layout():
    """timm resnetrs `maxpool` = Sequential(conv 3x3 s2 64->64, bn, act): ours is pool.conv/.bn/.act."""
    pool = Stem3D(pool="conv").pool
    assert isinstance(pool, ConvNormAct3d)
    assert [name for name, _ in pool.named_children()] == ["conv", "bn", "act"]
    assert pool.conv.kernel_size == (1, 3, 3) and pool.conv.stride == (1, 2, 2) and pool.conv.in_channels == 64
