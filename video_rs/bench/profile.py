"""Model cost: parameters, fvcore FLOPs, inference and training throughput, peak memory.

fvcore counts ONE FUSED MULTIPLY-ADD AS ONE FLOP, so its "FLOPs" are multiply-adds; we report
them as GMACs (the architecture specification's "88.4 G" for R3D-RS-50 at 32x224² is this count).
Elementwise ops (ReLU, sigmoid, SE means, pooling) are not counted by fvcore; convs, linears and BN are.

`tools/benchmark.py` is the command line; this module holds the logic so tests call it directly.
"""
from __future__ import annotations

import contextlib
import logging
import platform
import resource
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Callable

import torch
from torch import nn
from torchvision.models.video import r2plus1d_18

from video_rs.models.resnet3d import create_model

with warnings.catch_warnings():  # fvcore's import trips torch's jit deprecation notice
    warnings.simplefilter("ignore", FutureWarning)
    from fvcore.nn import FlopCountAnalysis

MACS_NOTE = "GMACs: fvcore FLOP count, which counts one multiply-add as one FLOP (batch 1, fp32, eval mode)"


@dataclass
class BenchSettings:
    """How to measure: device, batch, iterations (0 = parameters and GMACs only), speed options."""

    device: str = "cpu"
    batch_size: int = 8
    iters: int = 20
    warmup: int = 5
    amp: bool = False  # bfloat16 autocast, CUDA only
    channels_last: bool = False
    compile: bool = False
    train: bool = True  # also time forward + backward + SGD step


@dataclass
class BenchResult:
    model: str
    input: str  # "T x H x W"
    params: int
    gmacs: float | None
    infer_clips_per_s: float | None = None
    infer_peak_mem_mb: float | None = None
    train_clips_per_s: float | None = None
    train_peak_mem_mb: float | None = None
    error: str = ""


def resolve_device(name: str = "auto") -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda asked for, but torch sees no CUDA device")
    return name


def describe_device(device: str) -> str:
    """A line naming the hardware, for the results files."""
    if device == "cuda":
        return f"cuda: {torch.cuda.get_device_name()} (torch {torch.__version__})"
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    return f"cpu: {cpu}, {torch.get_num_threads()} threads (torch {torch.__version__})"


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_gmacs(model: nn.Module, clip_shape: tuple[int, int, int], device: str = "cpu") -> float:
    """fvcore multiply-adds (its "FLOPs") of one clip, in G; unsupported-op warnings silenced."""
    was_training = model.training
    model.eval()
    clip = torch.zeros(1, 3, *clip_shape, device=device)
    fvcore_log = logging.getLogger("fvcore.nn.jit_analysis")
    level = fvcore_log.level
    fvcore_log.setLevel(logging.ERROR)  # "unsupported operator aten::mean / sigmoid ..." are expected
    try:
        with torch.no_grad():
            analysis = FlopCountAnalysis(model, clip)
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            total = analysis.total()
    finally:
        fvcore_log.setLevel(level)
        model.train(was_training)
    return total / 1e9


class _PeakMemory:
    """Peak memory of a phase: CUDA allocator peak, or on CPU the growth of the process's peak RSS."""

    def __init__(self, device: str) -> None:
        self.device = device

    def __enter__(self) -> "_PeakMemory":
        if self.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        else:
            self.start_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return self

    def __exit__(self, *exc) -> None:
        if self.device == "cuda":
            torch.cuda.synchronize()
            self.mb = torch.cuda.max_memory_allocated() / 2**20
        else:  # Linux reports KiB; growth only shows when the phase beats every earlier peak
            self.mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - self.start_kb) / 1024


def _timed(step: Callable[[], None], settings: BenchSettings) -> tuple[float, float]:
    """(clips per second, peak memory MB) of `step` over settings.iters after settings.warmup."""
    for _ in range(settings.warmup):
        step()
    with _PeakMemory(settings.device) as memory:
        start = time.perf_counter()
        for _ in range(settings.iters):
            step()
        if settings.device == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
    return settings.batch_size * settings.iters / elapsed, memory.mb


def measure_speed(model: nn.Module, clip_shape: tuple[int, int, int], settings: BenchSettings) -> dict:
    """Inference (no grad) and training (forward + backward + SGD step) throughput and peak memory."""
    device = settings.device
    memory_format = torch.channels_last_3d if settings.channels_last else torch.contiguous_format
    model = model.to(device, memory_format=memory_format)
    runner = torch.compile(model) if settings.compile else model
    clips = torch.randn(settings.batch_size, 3, *clip_shape, device=device).to(memory_format=memory_format)
    use_amp = settings.amp and device == "cuda"
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_amp else contextlib.nullcontext

    def infer() -> None:
        with torch.inference_mode(), autocast():
            runner(clips)

    model.eval()
    out = dict(zip(("infer_clips_per_s", "infer_peak_mem_mb"), _timed(infer, settings)))
    if not settings.train:
        return out
    labels = torch.randint(0, 2, (settings.batch_size,), device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def train_step() -> None:
        with autocast():
            loss = nn.functional.cross_entropy(runner(clips), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    model.train()
    out.update(zip(("train_clips_per_s", "train_peak_mem_mb"), _timed(train_step, settings)))
    return out


def benchmark_model(name: str, model: nn.Module, clip_shape: tuple[int, int, int], settings: BenchSettings) -> BenchResult:
    """Everything for one model; a CUDA out-of-memory is recorded in `error`, not raised."""
    model = model.to(settings.device)
    result = BenchResult(model=name, input="x".join(map(str, clip_shape)), params=count_parameters(model),
                         gmacs=round(count_gmacs(model, clip_shape, settings.device), 2))
    if settings.iters > 0:
        try:
            result.__dict__.update(measure_speed(model, clip_shape, settings))
        except torch.cuda.OutOfMemoryError:
            result.error = f"CUDA out of memory at batch {settings.batch_size}"
        finally:
            if settings.device == "cuda":
                torch.cuda.empty_cache()
    return result


def result_dicts(results: list[BenchResult]) -> list[dict]:
    return [asdict(r) for r in results]


# ----------------------------------------------------------------------------- the comparison table
def _adaptive_head_pool(model: nn.Module) -> nn.Module:
    """pytorchvideo heads pool with a kernel fixed to the standard input; make it adaptive.

    Identical output at the standard input (the kernel covers the whole feature map there) and it
    lets shrunken test inputs run. Parameters and multiply-adds are unchanged.
    """
    for parent in model.modules():
        for child_name, child in parent.named_children():
            if isinstance(child, nn.AvgPool3d):
                setattr(parent, child_name, nn.AdaptiveAvgPool3d(1))
    return model


def _ours(variant: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        return create_model(variant)

    return build


class MissingDependencyError(ImportError):
    """An optional dependency that one measurement needs is not installed; the message says how to get it."""


def _pytorchvideo(name: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        try:
            from pytorchvideo.models import hub  # lazy: an optional dependency, only for the peer-model table
        except ImportError as err:
            raise MissingDependencyError(
                f"the peer model {name} needs pytorchvideo: pip install 'video_rs[bench]' (or -r requirements.txt), "
                "or leave it out with --models") from err

        return _adaptive_head_pool(getattr(hub, name)(pretrained=False))

    return build


def _r2plus1d_18() -> nn.Module:
    return r2plus1d_18(weights=None)


# name -> (builder, standard clip T, H, W): each model at the input it is usually reported at, plus the
# R3D-50 baseline of the paper's study and slow_r50 at our 32-frame input (same-input cost comparison)
COMPARE_MODELS: dict[str, tuple[Callable[[], nn.Module], tuple[int, int, int]]] = {
    **{f"3d_resnetrs{d}": (_ours(f"resnet3d_rs{d}"), (32, 224, 224)) for d in (50, 101, 152, 200)},
    "3d_resnet50_baseline": (_ours("resnet3d_50"), (32, 224, 224)),
    "slow_r50": (_pytorchvideo("slow_r50"), (8, 224, 224)),
    "slow_r50_32f": (_pytorchvideo("slow_r50"), (32, 224, 224)),
    "x3d_m": (_pytorchvideo("x3d_m"), (16, 224, 224)),
    "x3d_l": (_pytorchvideo("x3d_l"), (16, 312, 312)),
    "r2plus1d_18": (_r2plus1d_18, (16, 112, 112)),
}


def compare_models(names: list[str], settings: BenchSettings, *, frames: int | None = None,
                   size: int | None = None) -> list[BenchResult]:
    """Benchmark each named model at its standard input (or at `frames` x `size`² where given)."""
    unknown = sorted(set(names) - set(COMPARE_MODELS))
    if unknown:
        raise ValueError(f"unknown models {unknown}; choose from {list(COMPARE_MODELS)}")
    results = []
    for name in names:
        build, (t, h, w) = COMPARE_MODELS[name]
        shape = (frames or t, size or h, size or w)
        results.append(benchmark_model(name, build(), shape, settings))
    return results


def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def markdown_table(results: list[BenchResult], settings: BenchSettings, device_line: str) -> str:
    """The RESULTS.md text: settings, the note on what fvcore counts, one row per model."""
    memory = "CUDA max_memory_allocated" if settings.device == "cuda" else "growth of peak process RSS (CPU)"
    lines = [
        "# Model cost benchmark",
        "",
        f"Device: {device_line}",
        (f"Batch {settings.batch_size}, {settings.iters} timed iterations after {settings.warmup} warm-up; "
         f"amp (bf16, CUDA only): {settings.amp}; channels-last: {settings.channels_last}; compile: {settings.compile}."
         if settings.iters > 0 else "Speed not measured (--iters 0): parameters and multiply-adds only."),
        f"{MACS_NOTE}. Peak memory: {memory}. Training = forward + backward + SGD step.",
        "",
        "| model | input T x H x W | params (M) | GMACs / clip | infer clips/s | train clips/s "
        "| infer peak MB | train peak MB | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.model} | {r.input} | {r.params / 1e6:.2f} | {_fmt(r.gmacs, 2)} | {_fmt(r.infer_clips_per_s, 2)} "
            f"| {_fmt(r.train_clips_per_s, 2)} | {_fmt(r.infer_peak_mem_mb, 0)} | {_fmt(r.train_peak_mem_mb, 0)} "
            f"| {r.error} |"
        )
    return "\n".join(lines) + "\n"
