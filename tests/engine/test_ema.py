"""EMA of weights and BatchNorm buffers."""
import pytest
import torch
from torch import nn

from video_rs.engine.ema import ModelEma


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv3d(2, 3, 1), nn.BatchNorm3d(3))


def test_ema_tracks_weights_and_bn_buffers():
    net = _net()
    ema = ModelEma(net, decay=0.5, dynamic_decay=False)
    before = ema.module[0].weight.clone()
    with torch.no_grad():
        net[0].weight.add_(1.0)
    net.train()
    net(torch.randn(4, 2, 2, 3, 3))  # moves BN running stats
    ema.update(net)
    assert torch.allclose(ema.module[0].weight, before + 0.5)
    assert torch.allclose(ema.module[1].running_mean, 0.5 * net[1].running_mean)
    assert ema.module[1].num_batches_tracked.item() == 1
    assert not any(p.requires_grad for p in ema.module.parameters())


def test_dynamic_decay_starts_small_and_caps():
    ema = ModelEma(_net(), decay=0.9999, dynamic_decay=True)
    assert ema.current_decay() == pytest.approx(0.1)
    ema.num_updates = 10**7
    assert ema.current_decay() == pytest.approx(0.9999)


def test_state_round_trip():
    net = _net()
    ema = ModelEma(net, decay=0.9, dynamic_decay=True)
    ema.update(net)
    other = ModelEma(_net(), decay=0.9)
    other.load_state_dict(ema.state_dict())
    assert other.num_updates == 1
    for a, b in zip(other.module.state_dict().values(), ema.module.state_dict().values()):
        assert torch.equal(a, b)


def test_update_follows_a_model_whose_tensors_were_replaced_after_the_first_update():
    """The EMA caches where tensors live, not the tensors: `.to()` must not leave it averaging stale copies."""
    net = _net()
    ema = ModelEma(net, decay=0.5, dynamic_decay=False)
    ema.update(net)
    net.double()  # new buffer tensors and new parameter storage
    with torch.no_grad():
        net[0].weight.fill_(2.0)
        net[1].running_mean.fill_(4.0)
    before = ema.module[0].weight.clone()
    ema.update(net)
    assert torch.allclose(ema.module[0].weight, 0.5 * before + 1.0)
    assert torch.allclose(ema.module[1].running_mean, torch.full((3,), 2.0))
    assert ema.module[0].weight.dtype == torch.float32


def test_fused_update_equals_the_formula_for_every_tensor_of_a_real_network():
    from video_rs.models import create_model

    torch.manual_seed(0)
    net = create_model("resnet3d_rs50", num_classes=5, width_multiplier=0.125)
    ema = ModelEma(net, decay=0.9, dynamic_decay=False)
    start = {k: v.clone() for k, v in ema.module.state_dict().items()}
    net.train()
    net(torch.randn(2, 3, 4, 32, 32))  # BN statistics and counters move
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
    ema.update(net)
    averaged = ema.module.state_dict()
    for name, value in net.state_dict().items():
        want = 0.9 * start[name] + 0.1 * value if value.dtype.is_floating_point else value
        assert torch.allclose(averaged[name], want, atol=1e-6), name
