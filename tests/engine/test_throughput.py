"""The throughput accounting: data-wait, GPU-busy and clips/s must mean what benchmarks/README.md says.

Fake loaders and steps with known sleeps make each fraction predictable, so a mis-attributed timer
(e.g. counting the step as data wait, or timing the warm-up) fails here rather than skewing a GPU report.
"""
import time

import pytest
import torch

from video_rs.bench.train_throughput import StepTimes, summarise, time_steps

CPU = torch.device("cpu")


class SlowBatches:
    """An endless 'loader' that sleeps `delay` s per batch and counts what it handed out."""

    def __init__(self, delay: float):
        self.delay, self.served = delay, 0

    def __iter__(self):
        while True:
            time.sleep(self.delay)
            self.served += 1
            yield self.served


def test_starved_steps_are_data_wait():
    loader = SlowBatches(0.04)
    times = time_steps(lambda batch: None, loader, iters=5, warmup=2, device=CPU)
    assert loader.served == 7 and times.steps == 5
    assert times.data_wait_s / times.wall_s > 0.9
    assert times.gpu_busy_s is None and times.peak_mem_mb > 0


def test_compute_bound_steps_are_not_data_wait_and_warmup_is_untimed():
    calls = []

    def step(batch):
        calls.append(batch)
        time.sleep(0.3 if len(calls) <= 2 else 0.04)  # slow "compile" steps must stay out of the wall
        return torch.tensor(float(len(calls)))

    times = time_steps(step, SlowBatches(0.0), iters=5, warmup=2, device=CPU)
    assert len(calls) == 7
    assert times.data_wait_s / times.wall_s < 0.1
    assert 0.2 <= times.wall_s < 0.5  # 5 x 0.04 s, not the 0.6 s of warm-up
    assert times.last_loss == 7.0


def test_summarise_uses_the_slowest_rank_and_averages_fractions():
    ranks = [StepTimes(steps=10, wall_s=2.0, data_wait_s=0.5, gpu_busy_s=1.8, nvml_utilization=[90, 100],
                       peak_mem_mb=100.0, last_loss=1.5),
             StepTimes(steps=10, wall_s=4.0, data_wait_s=2.0, gpu_busy_s=2.0, nvml_utilization=[50],
                       peak_mem_mb=300.0, last_loss=1.6)]
    report = summarise(ranks, per_rank_batch=8, device_line="cuda: test", clip="32x224x224", warmup=3, settings={})
    assert report.world_size == 2 and report.global_batch == 16
    assert report.clips_per_s == pytest.approx(160 / 4.0) and report.clips_per_s_per_process == pytest.approx(20.0)
    assert report.data_wait_fraction == pytest.approx((0.25 + 0.5) / 2)
    assert report.gpu_busy_fraction == pytest.approx((0.9 + 0.5) / 2)
    assert report.nvml_utilization_mean == pytest.approx(0.8)
    assert report.peak_mem_mb == 300.0 and report.last_loss == 1.5 and "CUDA" in report.peak_mem_note


def test_summarise_cpu_has_no_gpu_figures():
    report = summarise([StepTimes(steps=4, wall_s=1.0, data_wait_s=0.1, peak_mem_mb=50.0)], per_rank_batch=2,
                       device_line="cpu: x", clip="4x32x32", warmup=1, settings={})
    assert report.gpu_busy_fraction is None and report.gpu_busy_method is None
    assert report.nvml_utilization_mean is None and report.clips_per_s == pytest.approx(8.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_busy_fraction_tracks_starvation():
    """A GPU fed slowly is mostly idle; a GPU fed instantly with long matmuls is mostly busy."""
    device = torch.device("cuda")
    a = torch.randn(4096, 4096, device=device)

    def heavy(batch):
        out = a
        for _ in range(20):
            out = out @ a
            out = out / out.norm()
        return out.sum()

    def light(batch):
        return (a[:8, :8] * 2).sum()

    fed = time_steps(heavy, SlowBatches(0.0), iters=10, warmup=2, device=device)
    starved = time_steps(light, SlowBatches(0.05), iters=10, warmup=2, device=device)
    assert fed.gpu_busy_s / fed.wall_s > 0.8 and starved.gpu_busy_s / starved.wall_s < 0.2
    assert fed.peak_mem_mb > 64  # the 4096² fp32 operand alone is 64 MiB
