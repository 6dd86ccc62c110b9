"""Which GPU a torchrun rank takes and which backend "auto" picks, without CUDA: torch.cuda and
torch.distributed are faked, so the rule that lets 2 ranks share 1 GPU is checked on any machine."""
from types import SimpleNamespace

import pytest
import torch

from video_rs.config import ConfigError
from video_rs.engine import distributed
from video_rs.engine.distributed import auto_backend, init_distributed, select_device

CUDA0 = torch.device("cuda", 0)


@pytest.fixture
def fake_cuda(monkeypatch):
    """`fake_cuda(count)`: torch sees `count` GPUs; returns the list of indices passed to set_device."""
    chosen = []

    def install(count: int) -> list[int]:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
        return chosen

    return install


@pytest.fixture
def fake_group(monkeypatch):
    """torchrun's environment for `local_world` ranks on this machine; records init_process_group calls
    and the warnings init_distributed logs."""
    calls, warnings = [], []
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(distributed.logger, "warning", lambda msg, *args: warnings.append(msg % args))

    def install(local_world: int, rank: int = 0):
        monkeypatch.setenv("WORLD_SIZE", str(local_world))
        monkeypatch.setenv("LOCAL_WORLD_SIZE", str(local_world))
        monkeypatch.setenv("RANK", str(rank))
        return calls, warnings

    return install


@pytest.mark.parametrize("count, local_rank, expected", [(1, 0, 0), (1, 1, 0), (2, 1, 1), (2, 3, 1), (4, 2, 2)])
def test_ranks_take_gpus_round_robin(fake_cuda, monkeypatch, count, local_rank, expected):
    chosen = fake_cuda(count)
    monkeypatch.setenv("LOCAL_RANK", str(local_rank))
    assert select_device(SimpleNamespace(DEVICE="auto")) == torch.device("cuda", expected)
    assert chosen == [expected]


def test_without_torchrun_the_first_gpu(fake_cuda, monkeypatch):
    chosen = fake_cuda(2)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert select_device(SimpleNamespace(DEVICE="cuda")) == CUDA0 and chosen == [0]


def test_cpu_when_asked_or_without_cuda(fake_cuda, monkeypatch):
    chosen = fake_cuda(0)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert select_device(SimpleNamespace(DEVICE="auto")) == torch.device("cpu")
    with pytest.raises(ConfigError, match="no CUDA device is available"):  # a user error: one `error:` line
        select_device(SimpleNamespace(DEVICE="cuda"))
    fake_cuda(1)
    assert select_device(SimpleNamespace(DEVICE="cpu")) == torch.device("cpu") and chosen == []


@pytest.mark.parametrize("device, local_world, count, expected", [
    (CUDA0, 1, 1, "nccl"), (CUDA0, 2, 2, "nccl"), (CUDA0, 2, 4, "nccl"),  # a GPU each
    (CUDA0, 2, 1, "gloo"), (CUDA0, 4, 2, "gloo"),  # ranks share a GPU: NCCL would refuse
    (torch.device("cpu"), 2, 0, "gloo"), (torch.device("cpu"), 2, 8, "gloo"),
])
def test_auto_backend(device, local_world, count, expected):
    assert auto_backend(device, local_world, count) == expected


def test_auto_picks_gloo_and_warns_when_two_ranks_share_one_gpu(fake_cuda, fake_group):
    fake_cuda(1)
    calls, warnings = fake_group(2)
    init_distributed(SimpleNamespace(DIST_BACKEND="auto"), CUDA0)
    assert len(calls) == 1 and calls[0]["backend"] == "gloo" and "device_id" not in calls[0]
    assert len(warnings) == 1 and "functional check" in warnings[0] and "not a scaling" in warnings[0]


def test_auto_picks_nccl_with_a_gpu_per_rank(fake_cuda, fake_group):
    fake_cuda(2)
    calls, warnings = fake_group(2)
    init_distributed(SimpleNamespace(DIST_BACKEND="auto"), torch.device("cuda", 1))
    assert calls[0]["backend"] == "nccl" and calls[0]["device_id"] == torch.device("cuda", 1)
    assert warnings == []


def test_explicit_backend_is_kept_and_only_rank_zero_warns(fake_cuda, fake_group):
    fake_cuda(1)
    calls, warnings = fake_group(2, rank=1)
    init_distributed(SimpleNamespace(DIST_BACKEND="nccl"), CUDA0)
    assert calls[0]["backend"] == "nccl" and warnings == []


def test_single_process_joins_no_group(fake_cuda, fake_group):
    fake_cuda(1)
    calls, _ = fake_group(1)
    init_distributed(SimpleNamespace(DIST_BACKEND="auto"), CUDA0)
    assert calls == []
