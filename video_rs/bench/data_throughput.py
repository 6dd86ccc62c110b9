"""Data-loader throughput: clips/s a config's loader delivers with a given number of workers.

Compare the number with the model's training clips/s (tools/benchmark.py): when the loader is
slower, more workers, a faster backend, shorter keyframe intervals or pre-resized videos pay off
before any model change does. Worker start-up and the first batches are not timed.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from video_rs.data.loader import build_loader, endless_batches


@dataclass
class LoaderSpeed:
    mode: str
    backend: str
    num_workers: int
    batch_size: int
    batches: int
    clips: int
    seconds: float
    first_batch_seconds: float  # worker start-up + the first decode

    @property
    def clips_per_second(self) -> float:
        return self.clips / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self) -> dict:
        return {**asdict(self), "clips_per_second": self.clips_per_second}


def _with(cfg, **overrides):
    """A copy of the (possibly frozen) cfg with dotted-key overrides."""
    cfg = cfg.clone()
    cfg.defrost()
    for key, value in overrides.items():
        node = cfg
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    cfg.freeze()
    return cfg


def with_loader_settings(cfg, num_workers: int | None, backend: str | None):
    """`cfg` with DATA_LOADER.NUM_WORKERS and DATA.DECODING_BACKEND replaced where given."""
    overrides = {}
    if num_workers is not None:
        overrides["DATA_LOADER.NUM_WORKERS"] = num_workers
    if backend is not None:
        overrides["DATA.DECODING_BACKEND"] = backend
    return _with(cfg, **overrides)


def measure_loader(cfg, *, mode: str = "train", num_workers: int | None = None, backend: str | None = None,
                   batches: int = 20, warmup: int = 2) -> LoaderSpeed:
    """Time `batches` batches after `warmup` untimed ones (epochs restart when the split runs out)."""
    cfg = with_loader_settings(cfg, num_workers, backend)
    loader = build_loader(cfg, mode)
    started = time.perf_counter()
    stream = endless_batches(loader)
    next(stream)
    first = time.perf_counter() - started
    for _ in range(max(warmup - 1, 0)):
        next(stream)
    clips, started = 0, time.perf_counter()
    for _ in range(batches):
        clips += len(next(stream)[0])
    seconds = time.perf_counter() - started
    return LoaderSpeed(mode, cfg.DATA.DECODING_BACKEND, cfg.DATA_LOADER.NUM_WORKERS, loader.batch_size, batches,
                       clips, seconds, first)


def describe_loader(cfg, mode: str) -> str:
    """One line saying what a timed clip includes, so numbers from different settings are not mixed up."""
    if mode != "train":
        return f"{mode}: one decoded clip per view, crops resized to DATA.TEST_CROP_SIZE; batch = videos x views"
    aug = cfg.AUG.ENABLE and cfg.AUG.RANDAUG_NUM_OPS > 0
    where = "none" if not aug else ("on the device (NOT in these numbers)" if cfg.AUG.ON_DEVICE else "in the workers")
    return (f"train: {cfg.DATA.NUM_CLIPS_PER_VIDEO} clip(s) x {cfg.DATA.TRAIN_CROP_NUM_SPATIAL} augmented cop(ies) "
            f"per decoded video; RandAugment {where}; batch column = videos per batch")
