"""End-to-end training throughput: real H.264 files -> loader -> Runtime -> optimizer steps, timed.

`tools/benchmark_train.py` is the command line. The model-only benchmark (`bench/profile.py`) feeds
one random tensor; this one runs what `train()` runs (loader, uint8 -> device -> normalise,
channels-last, autocast, DDP, compile, EMA), so it answers the end-to-end question: how many
clips/s, and is the GPU waiting on the data?

    for each timed step:   [ wait on loader ]  [ prepare + forward + backward + SGD (+ EMA) ]
                           └─ data_wait ─────┘ └─ CUDA events: device-busy window ──────────┘
    wall = first timed step start .. last step done (device synchronised)

What each figure means:
- clips_per_s: global clips (all ranks) in the timed steps / wall.
- data_wait_fraction: host time blocked in `next(loader)` / wall. On CUDA the host may run ahead of
  the GPU, so waiting on data costs speed only when the GPU also runs dry; gpu_busy says whether it did.
- gpu_busy_fraction (CUDA): the summed CUDA-event time from each step's first device op to its last,
  over wall. Gaps inside a step (launch overhead) count as busy; gaps between steps (starved by the
  loader or the host) count as idle. nvml_utilization_mean is NVML's own kernel-active percentage
  (`torch.cuda.utilization()`), sampled once per step, where pynvml is installed.
- peak_mem_mb: CUDA max_memory_allocated over the timed steps; on CPU the main process's peak RSS
  (workers excluded).
"""
from __future__ import annotations

import contextlib
import itertools
import os
import resource
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Iterator

import torch
import torch.distributed as dist
from torch import nn

from video_rs.bench.profile import describe_device
from video_rs.data import build_loader
from video_rs.data.loader import endless_batches
from video_rs.engine.distributed import all_gather_object, get_world_size, is_main_process
from video_rs.engine.ema import ModelEma
from video_rs.engine.optim import LRSchedule, build_optimizer
from video_rs.engine.runtime import Runtime, maybe_sync_batchnorm, wrap_for_training
from video_rs.engine.session import run_session, start_run
from video_rs.engine.train import TrainState, seed_everything, steps_per_epoch, train_step
from video_rs.models import build_model

GPU_BUSY_METHOD = ("CUDA events from each step's first device op (uint8 copy) to its last (optimizer/EMA), "
                   "summed over the timed steps / wall; launch gaps inside a step count as busy")


@dataclass
class StepTimes:
    """Raw timings of one process's timed window."""

    steps: int
    wall_s: float
    data_wait_s: float
    gpu_busy_s: float | None = None
    nvml_utilization: list[float] = field(default_factory=list)
    peak_mem_mb: float | None = None
    last_loss: float | None = None


def _nvml_utilization() -> float | None:
    with contextlib.suppress(Exception):  # pynvml missing or NVML unreadable in this container
        return float(torch.cuda.utilization())
    return None


def time_steps(step: Callable[[object], torch.Tensor | None], batches: Iterable, *, iters: int, warmup: int,
               device: torch.device) -> StepTimes:
    """Run `step(batch)` for warmup + iters batches; time the last `iters` (see the module docstring).

    `step` returns the loss (kept on the device; read once at the end, so no per-step host sync).
    """
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    cuda = device.type == "cuda"
    batches = iter(batches)
    for _ in range(warmup):
        step(next(batches))
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    events, nvml, data_wait, loss = [], [], 0.0, None
    start = time.perf_counter()
    for _ in range(iters):
        tick = time.perf_counter()
        batch = next(batches)
        data_wait += time.perf_counter() - tick
        if cuda:
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
        loss = step(batch)
        if cuda:
            end.record()
            events.append((begin, end))
            util = _nvml_utilization()
            if util is not None:
                nvml.append(util)
    if cuda:
        torch.cuda.synchronize(device)
    wall = time.perf_counter() - start
    times = StepTimes(steps=iters, wall_s=wall, data_wait_s=data_wait, nvml_utilization=nvml,
                      last_loss=None if loss is None else float(loss.detach().float()))
    if cuda:
        times.gpu_busy_s = sum(b.elapsed_time(e) for b, e in events) / 1e3
        times.peak_mem_mb = torch.cuda.max_memory_allocated(device) / 2**20
    else:  # Linux reports KiB
        times.peak_mem_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return times


def make_train_step(model: nn.Module, state, runtime, criterion, cfg) -> Callable[[list], torch.Tensor]:
    """One optimizer step on TRAIN.GRAD_ACCUM_STEPS loader batches: train.py's own `train_step`, so the
    benchmark times what training runs."""
    def step(batches: list) -> torch.Tensor:
        outputs, _ = train_step(model, [(batch[0], batch[1]) for batch in batches], state, runtime, criterion, cfg)
        return outputs[-1][0]

    return step


def _steps_of(batches: Iterable, accum: int) -> Iterator[list]:
    """Loader batches grouped into the `accum` micro-batches of one optimizer step.

    A group is fetched whole before its step (training fetches micro-batch k+1 while k runs), so with
    accum > 1 a data-bound benchmark reads slightly slower than the training it stands for.
    """
    batches = iter(batches)
    while group := list(itertools.islice(batches, accum)):
        yield group


@dataclass
class ThroughputReport:
    """What benchmark_train prints and writes; per-rank raw timings in `ranks`."""

    device: str
    world_size: int
    global_batch: int
    clip: str  # "T x H x W"
    iters: int
    warmup: int
    clips_per_s: float
    clips_per_s_per_process: float
    data_wait_fraction: float
    gpu_busy_fraction: float | None
    gpu_busy_method: str | None
    nvml_utilization_mean: float | None
    peak_mem_mb: float | None
    peak_mem_note: str
    last_loss: float | None
    settings: dict
    ranks: list[dict]


def summarise(ranks: list[StepTimes], *, per_rank_batch: int, device_line: str, clip: str, warmup: int,
              settings: dict) -> ThroughputReport:
    """Global clips/s over the slowest rank's wall; fractions averaged over ranks; the largest peak memory."""
    world = len(ranks)
    wall = max(r.wall_s for r in ranks)
    clips = per_rank_batch * sum(r.steps for r in ranks)
    busy = [r.gpu_busy_s / r.wall_s for r in ranks if r.gpu_busy_s is not None]
    nvml = [u for r in ranks for u in r.nvml_utilization]
    cuda = device_line.startswith("cuda")
    return ThroughputReport(
        device=device_line, world_size=world, global_batch=per_rank_batch * world, clip=clip, iters=ranks[0].steps,
        warmup=warmup, clips_per_s=clips / wall, clips_per_s_per_process=clips / wall / world,
        data_wait_fraction=sum(r.data_wait_s / r.wall_s for r in ranks) / world,
        gpu_busy_fraction=sum(busy) / len(busy) if busy else None, gpu_busy_method=GPU_BUSY_METHOD if busy else None,
        nvml_utilization_mean=sum(nvml) / len(nvml) / 100 if nvml else None,
        peak_mem_mb=max((r.peak_mem_mb for r in ranks if r.peak_mem_mb is not None), default=None),
        peak_mem_note="CUDA max_memory_allocated, timed steps, largest rank" if cuda
        else "peak RSS of the main process (data workers excluded)",
        last_loss=ranks[0].last_loss, settings=settings, ranks=[asdict(r) for r in ranks])


def measure_training_throughput(cfg, *, iters: int, warmup: int) -> ThroughputReport | None:
    """Build loader, model, optimizer exactly as train() does; time `iters` steps after `warmup`.

    Returns the report on rank 0 and None on other ranks (rank 0 alone prints and writes).
    """
    with run_session():
        device = start_run(cfg, log=False)
        seed_everything(cfg.RNG_SEED)
        runtime = Runtime.from_cfg(cfg, device)
        model = runtime.place(maybe_sync_batchnorm(build_model(cfg), cfg))
        os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
        loader = build_loader(cfg, "train", output_dir=cfg.OUTPUT_DIR)
        optimizer = build_optimizer(model, cfg)
        ema = ModelEma(model, decay=cfg.MODEL_EMA.DECAY, dynamic_decay=cfg.MODEL_EMA.DYNAMIC_DECAY) \
            if cfg.MODEL_EMA.ENABLE else None
        state = TrainState(model, optimizer, LRSchedule(optimizer, cfg, steps_per_epoch=steps_per_epoch(loader, cfg)),
                           runtime.grad_scaler(), ema)
        criterion = nn.CrossEntropyLoss(label_smoothing=cfg.MODEL.LABEL_SMOOTHING)
        step = make_train_step(wrap_for_training(model, cfg, device), state, runtime, criterion, cfg)
        model.train()
        times = time_steps(step, _steps_of(endless_batches(loader), cfg.TRAIN.GRAD_ACCUM_STEPS), iters=iters,
                           warmup=warmup, device=device)
        ranks = all_gather_object(times)
        if not is_main_process():
            return None
        per_rank_batch = cfg.TRAIN.BATCH_SIZE // get_world_size()
        settings = {"num_workers": cfg.DATA_LOADER.NUM_WORKERS, "decoding_backend": cfg.DATA.DECODING_BACKEND,
                    "clips_per_video": cfg.DATA.NUM_CLIPS_PER_VIDEO, "compile": cfg.TRAIN.COMPILE,
                    "grad_accum_steps": cfg.TRAIN.GRAD_ACCUM_STEPS,
                    "amp_dtype": str(runtime.amp_dtype).replace("torch.", "") if runtime.amp_dtype else "fp32",
                    "channels_last": runtime.channels_last, "ema": cfg.MODEL_EMA.ENABLE,
                    "depth": cfg.RESNET.DEPTH, "width": cfg.RESNET.WIDTH_MULTIPLIER,
                    "dist_backend": dist.get_backend() if get_world_size() > 1 else None}  # "auto" resolved
        clip = f"{cfg.DATA.NUM_FRAMES}x{cfg.DATA.TRAIN_CROP_SIZE}x{cfg.DATA.TRAIN_CROP_SIZE}"
        return summarise(ranks, per_rank_batch=per_rank_batch, device_line=describe_device(device.type), clip=clip,
                         warmup=warmup, settings=settings)


def _fmt(value, spec: str) -> str:
    return "unmeasured" if value is None else format(value, spec)


def report_table(report: ThroughputReport) -> str:
    """A short markdown table (the reply of a GPU call carries only the end of the output)."""
    s = report.settings
    rows = [
        ("device", report.device),
        ("processes x batch", f"{report.world_size} x {report.global_batch // report.world_size}"
                              + (f" (in {s['grad_accum_steps']} micro-batches)" if s.get("grad_accum_steps", 1) > 1 else "")),
        ("clip", report.clip),
        ("model", f"depth {s['depth']}, width {s['width']}, {s['amp_dtype']}, channels-last {s['channels_last']}, "
                  f"compile {s['compile']}, EMA {s['ema']}"),
        ("data", f"{s['decoding_backend']}, {s['num_workers']} workers/process, {s['clips_per_video']} clips/video"),
        ("timed steps (after warm-up)", f"{report.iters} ({report.warmup})"),
        ("clips/s (all processes)", f"{report.clips_per_s:,.2f}"),
        ("clips/s per process", f"{report.clips_per_s_per_process:,.2f}"),
        ("data-wait fraction", f"{report.data_wait_fraction:.3f}"),
        ("GPU-busy fraction (CUDA events)", _fmt(report.gpu_busy_fraction, ".3f")),
        ("GPU utilization (NVML mean)", _fmt(report.nvml_utilization_mean, ".3f")),
        ("peak memory MB", f"{_fmt(report.peak_mem_mb, ',.0f')} ({report.peak_mem_note})"),
        ("last loss", _fmt(report.last_loss, ".4f")),
    ]
    return "\n".join(["| end-to-end training | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]) + "\n"
