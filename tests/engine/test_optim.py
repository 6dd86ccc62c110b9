"""Parameter groups and the per-iteration learning-rate schedule."""
import math

import pytest
import torch
from torch import nn

from video_rs.config import load_cfg
from video_rs.engine.optim import LRSchedule, build_optimizer, build_param_groups, lr_at


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(3, 4, 3)
        self.bn = nn.BatchNorm3d(4)
        self.head = nn.Module()
        self.head.fc = nn.Linear(4, 2)


def _cfg(*opts):
    return load_cfg(None, list(opts))


def test_no_weight_decay_on_bn_and_biases_and_head_lr_mult():
    net = TinyNet()
    groups = build_param_groups(net, weight_decay=1e-4, norm_weight_decay=0.0, head_lr_mult=10.0)
    by_param = {id(p): g for g in groups for p in g["params"]}
    assert by_param[id(net.conv.weight)]["weight_decay"] == 1e-4
    for p in (net.conv.bias, net.bn.weight, net.bn.bias, net.head.fc.bias):
        assert by_param[id(p)]["weight_decay"] == 0.0
    assert by_param[id(net.head.fc.weight)]["weight_decay"] == 1e-4
    assert by_param[id(net.head.fc.weight)]["lr_mult"] == 10.0
    assert by_param[id(net.conv.weight)]["lr_mult"] == 1.0
    assert sum(len(g["params"]) for g in groups) == len(list(net.parameters()))


def test_frozen_parameters_are_left_out():
    net = TinyNet()
    for p in net.conv.parameters():
        p.requires_grad_(False)
    groups = build_param_groups(net, weight_decay=1e-4, norm_weight_decay=0.0)
    ids = {id(p) for g in groups for p in g["params"]}
    assert id(net.conv.weight) not in ids and id(net.head.fc.weight) in ids


def test_optimizer_is_nesterov_sgd():
    opt = build_optimizer(TinyNet(), _cfg("SOLVER.NESTEROV", "True", "SOLVER.MOMENTUM", "0.9"))
    assert isinstance(opt, torch.optim.SGD)
    assert opt.defaults["nesterov"] and opt.defaults["momentum"] == 0.9


def test_adamw_keeps_the_per_group_weight_decay():
    net = TinyNet()
    opt = build_optimizer(net, _cfg("SOLVER.OPTIMIZING_METHOD", "adamw", "SOLVER.WEIGHT_DECAY", "0.01"))
    assert isinstance(opt, torch.optim.AdamW)
    by_param = {id(p): g for g in opt.param_groups for p in g["params"]}
    assert by_param[id(net.conv.weight)]["weight_decay"] == 0.01
    assert by_param[id(net.bn.weight)]["weight_decay"] == 0.0


def test_cosine_with_linear_warmup():
    kw = dict(total_steps=100, warmup_steps=10, base_lr=1.0, policy="cosine", warmup_start_lr=0.0, end_lr=0.0)
    assert lr_at(0, **kw) == 0.0
    at_warm_end = 0.5 * (1 + math.cos(math.pi * 0.1))
    assert lr_at(5, **kw) == pytest.approx(0.5 * at_warm_end)
    assert lr_at(10, **kw) == pytest.approx(at_warm_end)
    assert lr_at(50, **kw) == pytest.approx(0.5)
    assert lr_at(100, **kw) == pytest.approx(0.0)
    values = [lr_at(s, **kw) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_step_policy():
    kw = dict(total_steps=100, warmup_steps=0, base_lr=0.8, policy="steps_with_relative_lrs",
              steps=(0.0, 0.3, 0.6), lrs=(1.0, 0.1, 0.01))
    assert lr_at(0, **kw) == pytest.approx(0.8)
    assert lr_at(29, **kw) == pytest.approx(0.8)
    assert lr_at(30, **kw) == pytest.approx(0.08)
    assert lr_at(99, **kw) == pytest.approx(0.008)


def test_schedule_sets_group_lrs_and_resumes_from_its_state():
    cfg = _cfg("SOLVER.BASE_LR", "0.4", "SOLVER.MAX_EPOCH", "4", "SOLVER.WARMUP_EPOCHS", "1.0",
               "TRAIN.HEAD_LR_MULT", "2.0")
    opt = build_optimizer(TinyNet(), cfg)
    sched = LRSchedule(opt, cfg, steps_per_epoch=5)
    lrs = []
    for _ in range(12):
        lrs.append(sched.apply())
        sched.step()
    assert max(lrs) <= 0.4 and lrs[0] == 0.0 and lrs[5] > lrs[4]
    head = [g for g in opt.param_groups if g["lr_mult"] == 2.0]
    assert head and head[0]["lr"] == pytest.approx(2.0 * lrs[-1])
    again = LRSchedule(opt, cfg, steps_per_epoch=5)
    again.load_state_dict(sched.state_dict())
    assert again.lr() == sched.lr()


def test_self_gating_kernels_get_no_weight_decay():
    """Model Garden builds the self-gating conv without the L2 regulariser: its kernel and bias decay 0."""
    from video_rs.models.blocks import SelfGating3D
    from video_rs.models.resnet3d import ResNet3D

    net = ResNet3D(depth=26, num_classes=3, self_gating="last")
    groups = build_param_groups(net, weight_decay=4e-5, norm_weight_decay=1e-5)
    by_param = {id(p): g for g in groups for p in g["params"]}
    gates = [m for m in net.modules() if isinstance(m, SelfGating3D)]
    assert len(gates) == 4
    for gate in gates:
        assert by_param[id(gate.fc.weight)]["weight_decay"] == 0.0
        assert by_param[id(gate.fc.bias)]["weight_decay"] == 0.0
    assert by_param[id(net.stages[0].blocks[0].conv_temporal.conv.weight)]["weight_decay"] == 4e-5
    assert by_param[id(net.stages[0].blocks[0].se.fc1.weight)]["weight_decay"] == 4e-5  # SE keeps its L2
    assert by_param[id(net.stem.conv1.bn.weight)]["weight_decay"] == 1e-5
