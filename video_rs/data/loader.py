"""build_loader(cfg, mode): annotations -> dataset -> (distributed) sampler -> DataLoader of uint8 clips.

Batch sizes are GLOBAL, as in PySlowFast: each of the `world` ranks takes TRAIN.BATCH_SIZE / world
clips per step (an error when it does not divide, because the learning rate is tuned for the global
batch), in TRAIN.GRAD_ACCUM_STEPS loader batches (micro-batches) of equal size. An evaluation batch
holds whole videos (all views of a video come from one decode): TEST.BATCH_SIZE // world clips'
worth, at least one video; the evaluator runs the model on TEST.BATCH_SIZE clips at a time. In evaluation every rank reads its own shard, without the padding a
DistributedSampler adds, so each (video, view) is scored exactly once.

Workers leave stop signals to the training process: they ignore SIGINT, and SIGTERM from anyone else
while it lives (SLURM signals every process of a job), so it can finish its step, save its checkpoint
and then end them (`seed_worker`).
"""
from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import random
import signal
import threading
from typing import Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from video_rs.config import ConfigError
from video_rs.data.annotations import AnnotationError, VideoList, load_split
from video_rs.data.bad_videos import check_missing_files
from video_rs.data.dataset import MODES, VideoClipDataset, collate_clips
from video_rs.data.mirror import mirrored_classes

logger = logging.getLogger(__name__)


class ShardSampler(Sampler[int]):
    """Items rank, rank + world, ...: disjoint shards that together hold every item once (no padding)."""

    def __init__(self, num_items: int, rank: int = 0, world_size: int = 1):
        self.num_items, self.rank, self.world_size = num_items, rank, world_size

    def __iter__(self):
        return iter(range(self.rank, self.num_items, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.num_items, self.world_size))


class SeededDistributedSampler(DistributedSampler):
    """DistributedSampler (one rank's shard of a per-epoch shuffle) that also hands each item its seed.

    Yields `(index, seed)` with seed = f(RNG_SEED, epoch, index): a video's random clip and
    augmentation in an epoch depend on nothing else, not on the worker that loads it, the number of
    workers or processes, or whether the run was resumed. Without `set_epoch` calls, each pass over
    the sampler starts the next epoch (plain DistributedSampler would repeat its order).
    `skip_next(n)` starts the next pass n items into this rank's order: an epoch resumed after a stop
    signal never loads the items it already trained on.
    """

    def __init__(self, dataset, *, num_replicas: int, rank: int, seed: int):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self._epoch_was_set = False
        self._skip = 0

    def skip_next(self, num_items: int) -> None:
        self._skip = num_items

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self._epoch_was_set = True

    def __iter__(self):
        if not self._epoch_was_set:
            self.epoch = getattr(self, "_next_epoch", 0)
        self._next_epoch, self._epoch_was_set = self.epoch + 1, False
        skip, self._skip = self._skip, 0
        epoch_seed = int(np.random.SeedSequence([self.seed, self.epoch]).generate_state(1, np.uint64)[0])
        for index in itertools.islice(super().__iter__(), skip, None):
            yield index, (epoch_seed + index * 0x9E3779B97F4A7C15) % 2**63


def _rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def split_of(cfg, mode: str) -> tuple[str, str]:
    """(dataset kind, split name) that `mode` reads."""
    if mode == "train":
        return cfg.TRAIN.DATASET, cfg.TRAIN.SPLIT
    if mode == "val":
        return cfg.TRAIN.DATASET, "val"
    return cfg.TEST.DATASET, cfg.TEST.SPLIT


def load_videos(cfg, mode: str) -> VideoList:
    """The split's video list, after the start-up check that its files exist (synthetic data made first)."""
    # not at module top: the package would then import synthetic, and `python -m video_rs.data.synthetic`
    # would run a second copy of a module already imported (runpy warns)
    from video_rs.data.synthetic import ensure_synthetic_dataset

    ensure_synthetic_dataset(cfg)
    kind, split = split_of(cfg, mode)
    try:
        videos = load_split(cfg, kind, split)
        if not videos.paths:  # else a train list says "lower TRAIN.BATCH_SIZE" and a test "scores" nothing
            raise AnnotationError(f"{videos.source}: the {split!r} list is empty: no videos to read")
    except AnnotationError as err:
        if mode != "val":
            raise
        raise AnnotationError(f"{err} (validation reads the 'val' split every TRAIN.EVAL_PERIOD = "
                              f"{cfg.TRAIN.EVAL_PERIOD} epochs; TRAIN.EVAL_PERIOD 0 trains without it)") from err
    check_missing_files(videos.paths, cfg, split, videos.source)
    return videos


def check_test_split(cfg) -> None:
    """Start-up check of the split the multi-view test reads after training (TEST.ENABLE), so a missing
    test.csv (or a wrong path prefix) stops the run before the first epoch, not after the last."""
    if not cfg.TEST.ENABLE or (cfg.TRAIN.EVAL_PERIOD and split_of(cfg, "test") == split_of(cfg, "val")):
        return  # no test, or the split validation already read
    try:
        load_videos(cfg, "test")
    except AnnotationError as err:
        kind, split = split_of(cfg, "test")
        raise AnnotationError(f"{err} (the multi-view test after training reads the {split!r} split of "
                              f"TEST.DATASET {kind}: TEST.SPLIT names it; TEST.ENABLE False trains without the "
                              "test)") from err


def seed_worker(worker_id: int) -> None:
    """numpy and `random` follow torch's per-worker seed (the loader's generator + worker id); stop
    signals are left to the training process.

    Training items reseed torch from their own seed (SeededDistributedSampler); this covers the rest.
    Workers ignore SIGINT, which Ctrl-C sends to every process of the terminal, and SIGTERM from anyone
    but the training process while it lives (see `_outlive_foreign_sigterm`): the training process
    stops after its step (with a checkpoint) and ends its workers itself.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _outlive_foreign_sigterm()
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def _outlive_foreign_sigterm() -> None:
    """In a loader worker: a SIGTERM sent by the training process ends the worker at once; one from
    anyone else is ignored while the training process lives.

    SLURM (at the time limit, or `scancel`) sends SIGTERM to every process of the job step, workers
    included; a dead worker would end the run with a DataLoader error before the training process has
    saved its checkpoint. Ignoring every SIGTERM is no answer: the DataLoader and multiprocessing's exit
    handler end workers with SIGTERM (`terminate()`, then a join without timeout at interpreter exit).
    So SIGTERM is blocked in every thread of the worker (threads started later inherit the mask) and a
    thread reads each one with its sender: from the training process (or once that process is gone)
    the worker exits with status 0, as torch's own worker handler does for its parent (a non-zero
    status would make the loader report a failed worker). A worker whose training process dies without
    ending it (kill -9) leaves within seconds by torch's parent watchdog, as before.
    """
    if not hasattr(signal, "sigwaitinfo"):  # macOS, Windows: SIGTERM keeps torch's handling (it ends the worker)
        return
    parent = os.getppid()
    creator = multiprocessing.parent_process()
    trainer = creator.pid if creator is not None else parent  # differs from the parent under forkserver
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    threading.Thread(target=_exit_on_sigterm_from, args=(trainer, parent), name="sigterm_filter",
                     daemon=True).start()


def _exit_on_sigterm_from(trainer: int, parent: int) -> None:
    while True:
        sender = signal.sigwaitinfo({signal.SIGTERM}).si_pid
        if sender in (trainer, parent) or os.getppid() != parent:
            os._exit(0)


def _loader_seed(base: int, rank: int, mode: str) -> int:
    """Distinct streams per rank and mode, all fixed by RNG_SEED."""
    return int(np.random.SeedSequence([base, rank, MODES.index(mode)]).generate_state(1)[0])


def _per_rank(total: int, world: int, key: str) -> int:
    if total % world:
        raise ConfigError(f"{key} = {total} is the global batch; it must divide evenly over {world} processes")
    return total // world


def build_loader(cfg, mode: str, *, output_dir: str | None = None, videos: VideoList | None = None,
                 log_bad_videos: bool = True) -> DataLoader:
    """A DataLoader of `(clips uint8 [B, C, T, H, W], labels, video_index, view_index)` batches.

    `mode`: "train" (TRAIN.SPLIT, random clips, shuffled, drop_last), "val" (split "val", one centre
    view per video) or "test" (TEST.SPLIT, NUM_ENSEMBLE_VIEWS x NUM_SPATIAL_CROPS views per video).
    `videos` replaces the annotation files (e.g. a list of paths to predict). `output_dir` receives
    bad_videos.txt. `log_bad_videos=False`: the caller reports unreadable videos itself (no log line, no file).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if videos is None:
        videos = load_videos(cfg, mode)
    dataset = VideoClipDataset.from_cfg(cfg, mode, videos, output_dir=output_dir, log_bad_videos=log_bad_videos)
    if mode == "train" and cfg.DATA.RANDOM_FLIP and mirrored_classes(videos.class_names):
        logger.warning("DATA.RANDOM_FLIP is on but classes %s are mirror images of each other: a flip swaps "
                       "their labels (set DATA.RANDOM_FLIP False for the synthetic dataset)",
                       mirrored_classes(videos.class_names))
    rank, world = _rank_and_world()
    generator = torch.Generator().manual_seed(_loader_seed(cfg.RNG_SEED, rank, mode))
    if mode == "train":
        accum = cfg.TRAIN.GRAD_ACCUM_STEPS
        step_clips = _per_rank(cfg.TRAIN.BATCH_SIZE, world, "TRAIN.BATCH_SIZE")
        clips = step_clips // accum
        if step_clips % accum or clips % dataset.clips_per_item:
            raise ConfigError(f"TRAIN.BATCH_SIZE per process ({step_clips}) / TRAIN.GRAD_ACCUM_STEPS ({accum}) must be "
                             f"a whole multiple of DATA.NUM_CLIPS_PER_VIDEO x DATA.TRAIN_CROP_NUM_SPATIAL "
                             f"({dataset.clips_per_item})")
        batch_size = clips // dataset.clips_per_item
        sampler = SeededDistributedSampler(dataset, num_replicas=world, rank=rank, seed=cfg.RNG_SEED)
        if len(sampler) < batch_size * accum:
            raise ConfigError(f"the {split_of(cfg, mode)[1]!r} split gives each of {world} process(es) "
                             f"{len(sampler)} videos, fewer than one batch of {batch_size * accum}: lower "
                             "TRAIN.BATCH_SIZE")
    else:
        clips = max(1, cfg.TEST.BATCH_SIZE // world)
        batch_size = max(1, clips // dataset.clips_per_item)
        sampler = ShardSampler(len(dataset), rank, world)
    workers = cfg.DATA_LOADER.NUM_WORKERS
    return DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=workers, collate_fn=collate_clips,
        pin_memory=cfg.DATA_LOADER.PIN_MEMORY and torch.cuda.is_available(), drop_last=mode == "train",
        worker_init_fn=seed_worker, generator=generator, persistent_workers=workers > 0,
        prefetch_factor=cfg.DATA_LOADER.PREFETCH_FACTOR if workers > 0 else None)


def endless_batches(loader) -> Iterator:
    """The loader's batches epoch after epoch, reshuffled each pass (set_epoch): for benchmarks that time
    more batches than one epoch holds."""
    for epoch in itertools.count():
        if hasattr(getattr(loader, "sampler", None), "set_epoch"):
            loader.sampler.set_epoch(epoch)
        yield from loader
