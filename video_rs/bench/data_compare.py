"""The project's train and test loaders beside decode baselines, on the same clips, interleaved in one run.

    train clips (the train loader's own draws, replayed):
      decord floor     decord.VideoReader(...).get_batch(clip frames): decode and nothing else
      pyav slowfast    PySlowFast's PyAV path: seek before the clip, decode to its end, RGB every frame
      train loader     the configured train loader (workers, crop, flip, RandAugment as configured, collate)
    test videos (every temporal x spatial view):
      test per view    each temporal view opened and decoded on its own (the test path before decode-once)
      test loader      the configured test loader: every view of a video from one decode

Variants take turns round by round (the order rotating), so load from other work on the machine hits
them alike; ratios within one run are the trustworthy numbers. A loader's CPU time is the main
process's while it waits for batches plus its workers' over the timed rounds (read from /proc), so a
worker's decode counts where it is spent. With workers, a loader's batches are prefetched while
other variants run, so its wall-clock clips/s is not reported; clips per CPU-second is.
"""
from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch

from video_rs.bench.data_throughput import _with, with_loader_settings
from video_rs.data import dataset as dataset_module
from video_rs.data.dataset import VideoClipDataset
from video_rs.data.decoders import open_video
from video_rs.data.loader import build_loader, endless_batches
from video_rs.data.sampling import decode_groups
from video_rs.data.transforms import frames_to_video

TRAIN_TARGET, TEST_TARGET = 330, 1000  # clips/s one GPU needs (RS-50 train / multi-view test)


def _children(pid: int) -> list[int]:
    """Direct child processes of `pid` (Linux /proc; none once it has ended)."""
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(c) for c in handle.read().split()]
        except OSError:
            pass
    return found


def _cpu_of(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0  # ended meanwhile
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def workers_cpu(pids: list[int]) -> float:
    """CPU seconds of these processes and their descendants."""
    return sum(_cpu_of(pid) + workers_cpu(_children(pid)) for pid in pids)


@dataclass
class Variant:
    name: str
    kind: str  # "train" or "test": which target and which ratios apply
    step: Callable[[int], int]  # runs round r, returns the clips it made
    workers: list[int] = field(default_factory=list)  # its loader's worker processes (their CPU is its own)
    clips: int = 0
    cpu: float = 0.0
    wall: float = 0.0

    def row(self) -> dict:
        cpu_ms = 1000 * self.cpu / self.clips if self.clips else float("nan")
        target = TRAIN_TARGET if self.kind == "train" else TEST_TARGET
        # with workers, a loader's batches were prefetched while other variants ran: its wall time means nothing
        wall_rate = self.clips / self.wall if self.wall and not self.workers else float("nan")
        return {"variant": self.name, "kind": self.kind, "clips": self.clips, "clips_per_s": wall_rate,
                "clips_per_cpu_s": 1000 / cpu_ms, "cpu_ms_per_clip": cpu_ms,
                "cores_for_target": target * cpu_ms / 1000, "target_clips_per_s": target}


def keyframe_indices(path: str) -> list[int]:
    """Display indices of a file's keyframes, from its packets (nothing decoded)."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        fps, base = float(stream.average_rate), float(stream.time_base)
        start = stream.start_time or 0
        return sorted(round((p.pts - start) * base * fps) for p in container.demux(stream)
                      if p.is_keyframe and p.pts is not None)


def frames_decoded(gets, keyframes: list[int]) -> int:
    """Frames a forward decoder decodes for these `get`s: from the keyframe before each one's first frame to its last."""
    return sum(int(np.max(w)) - max(k for k in keyframes if k <= int(np.min(w))) + 1 for w in gets)


def _train_draws(loader, batches: int) -> list[list[tuple[int, int]]]:
    """The (video, seed) items of the loader's first `batches` batches of epoch 0 (then reset to epoch 0)."""
    loader.sampler.set_epoch(0)
    draws = []
    for batch in loader.batch_sampler:
        draws.append(list(batch))
        if len(draws) == batches:
            break
    loader.sampler.set_epoch(0)
    return draws


def _replayed(dataset, items) -> list[tuple[str, np.ndarray, float]]:
    """(path, frames, fps) of each train item (video, seed), for the baselines to decode the same clips."""
    out = []
    for video, seed in items:
        with open_video(dataset.paths[video], dataset.backend) as opened:
            # the train item's first draw under its seed
            clip = dataset.clip_indices(opened, torch.Generator().manual_seed(seed))
            out.append((dataset.paths[video], clip, opened.fps))
    return out


def decord_floor(path: str, indices: np.ndarray) -> np.ndarray:
    import decord

    reader = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)
    return reader.get_batch(indices.tolist()).asnumpy()


def pyav_slowfast(path: str, indices: np.ndarray, fps_hint: float) -> np.ndarray:
    """PySlowFast's `pyav_decode`: seek (backward, keyframe) before the clip's start time, decode every frame
    up to its end time, convert each to RGB, then pick the sampled ones."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or fps_hint)
        base = float(stream.time_base)
        start_pts, end_pts = int(indices.min() / fps / base), int(indices.max() / fps / base)
        container.seek(max(start_pts - 1024, 0), any_frame=False, backward=True, stream=stream)
        frames = {}
        for frame in container.decode(stream):
            if frame.pts < start_pts:
                continue
            frames[int(round(frame.pts * base * fps))] = frame.to_rgb().to_ndarray()
            if frame.pts >= end_pts:
                break
    keys = sorted(frames)
    return np.stack([frames[keys[min(np.searchsorted(keys, i), len(keys) - 1)]] for i in indices])


def per_view_item(dataset, video: int) -> torch.Tensor:
    """Every view of a test video the way the test loader made them before decode-once: an open per view."""
    views = []
    for k in range(dataset.num_temporal_views):
        with open_video(dataset.paths[video], dataset.backend) as opened:
            frames = opened.get(dataset.view_indices(opened)[k])
        views.append(dataset.transform(frames_to_video(frames)))
    return torch.cat(views)


def _started(loader) -> tuple[Iterator, list[int]]:
    """An endless stream over `loader` with its first batch taken, and its worker processes (started by it)."""
    before = set(_children(os.getpid()))
    stream = endless_batches(loader)
    next(stream)
    return stream, sorted(set(_children(os.getpid())) - before)


def build_variants(cfg, *, rounds: int, num_workers: int | None,
                   backend: str | None) -> tuple[list[Variant], VideoClipDataset]:
    """The five variants and the test dataset they read; round 0 of each is already run here (the loaders'
    first batches start their workers)."""
    cfg = with_loader_settings(cfg, num_workers, backend)
    train, test = build_loader(cfg, "train"), build_loader(cfg, "test")
    draws = _train_draws(train, rounds)
    train_stream, train_workers = _started(train)
    test_stream, test_workers = _started(test)
    test_videos = list(test.batch_sampler)  # videos per test batch, in loader order
    dataset = train.dataset

    clips = [_replayed(dataset, batch) for batch in draws]  # worked out before any timing

    def replay(decode_clip):
        def step(r: int) -> int:
            for path, indices, fps in clips[r]:
                decode_clip(path, indices, fps)
            return len(clips[r]) * dataset.clips_per_item
        return step

    def test_per_view(r: int) -> int:
        return sum(len(per_view_item(test.dataset, v)) for v in test_videos[r % len(test_videos)])

    return [
        Variant("decord floor", "train", replay(lambda path, indices, fps: decord_floor(path, indices))),
        Variant("pyav slowfast", "train", replay(pyav_slowfast)),
        Variant("train loader", "train", lambda r: len(next(train_stream)[0]), train_workers),
        Variant("test per view", "test", test_per_view),
        Variant("test loader", "test", lambda r: len(next(test_stream)[0]), test_workers),
    ], test.dataset


def run_compare(cfg, *, rounds: int = 6, warmup: int = 1, num_workers: int | None = None,
                backend: str | None = None) -> list[dict]:
    """Rows of clips/s, CPU ms per clip and cores per GPU for each variant, after `warmup` untimed rounds,
    then a row of the frames decoded per test video (`test_frames_decoded`, plus "videos").

    The loaders' round 0 is their first batch (worker start-up), so `warmup` is at least 1.
    """
    warmup = max(warmup, 1)
    variants, test_dataset = build_variants(cfg, rounds=rounds + warmup, num_workers=num_workers, backend=backend)
    for variant in variants[:2] + variants[3:4]:
        variant.step(0)
    spent = {}
    for r in range(1, rounds + warmup):
        if r == warmup:
            spent = {v.name: workers_cpu(v.workers) for v in variants}
        order = variants[r % len(variants):] + variants[:r % len(variants)]
        for variant in order:
            cpu, wall = time.process_time(), time.perf_counter()
            clips = variant.step(r)
            if r >= warmup:
                variant.cpu += time.process_time() - cpu
                variant.wall += time.perf_counter() - wall
                variant.clips += clips
    for variant in variants:  # a full prefetch queue at both ends: the workers' work matches the batches taken
        variant.cpu += workers_cpu(variant.workers) - spent.get(variant.name, 0.0)
    rows = [v.row() for v in variants]
    first = {kind: next(row for row in rows if row["kind"] == kind) for kind in ("train", "test")}
    for row in rows:
        base = first[row["kind"]]
        row["cpu_vs_first"] = row["cpu_ms_per_clip"] / base["cpu_ms_per_clip"]
        row["clips_per_core_vs_first"] = base["cpu_ms_per_clip"] / row["cpu_ms_per_clip"]
    frames = test_frames_decoded(test_dataset, list(range(test_dataset.num_videos)))
    return rows + [{"variant": "test frames decoded", **frames, "videos": test_dataset.num_videos}]


def test_frames_decoded(dataset, videos: list[int]) -> dict:
    """Frames a forward decoder decodes for these test videos: view by view, decode-once, and one plain pass."""
    totals = {"per_view": 0, "decode_once": 0, "one_pass": 0}
    for video in videos:
        path = dataset.paths[video]
        keys = keyframe_indices(path)
        with open_video(path, dataset.backend) as opened:
            views, fps = dataset.view_indices(opened), opened.fps
        groups = decode_groups(views, max_gap=dataset_module.EVAL_DECODE_GAP_SECONDS * fps, max_frames=10**9)
        totals["per_view"] += frames_decoded(views, keys)
        totals["decode_once"] += frames_decoded([np.concatenate([views[k] for k in g]) for g in groups], keys)
        totals["one_pass"] += frames_decoded([np.concatenate(views)], keys)
    return totals


def clip_by_clip_item(dataset, video: int, seed: int) -> torch.Tensor:
    """A train item the way the loader made it before batches were written in place: sample, decode, transform
    each copy into its own tensor, stack (the reference the in-place batch must equal)."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        with open_video(dataset.paths[video], dataset.backend) as opened:
            frames = opened.get(np.concatenate([dataset.clip_indices(opened) for _ in range(dataset.clips_per_video)]))
        frames = frames.reshape((dataset.clips_per_video, dataset.sampling.num_frames) + frames.shape[1:])
        return torch.stack([dataset.transform(frames_to_video(f)) for f in frames
                            for _ in range(dataset.augmentations_per_clip)])


def _seeded_keys(num_videos: int, rounds: int, batch: int) -> list[list[tuple[int, int]]]:
    """`rounds` + 1 batches (round 0 warms up) of train items (video, seed), the same on every call."""
    generator = torch.Generator().manual_seed(0)
    return [[(int(torch.randint(num_videos, (), generator=generator)), 1000 * r + i) for i in range(batch)]
            for r in range(rounds + 1)]


def _load_as_worker(dataset, keys) -> None:
    """A batch loaded in this process as a loader worker loads it (written in place into shared memory)."""
    from unittest import mock

    with mock.patch("torch.utils.data.get_worker_info", lambda: object()):
        dataset.__getitems__(keys)


def _interleaved_cpu(runs: list[Callable[[list], object]], keys: list[list]) -> list[float]:
    """CPU seconds each run spends on the batches `keys[1:]`, the runs taking turns first round by round
    (so load from other work hits them alike); round 0 warms up."""
    spent = [0.0] * len(runs)
    order = list(range(len(runs)))
    for r, batch_keys in enumerate(keys):
        for i in order[r % len(order):] + order[:r % len(order)]:
            cpu = time.process_time()
            runs[i](batch_keys)
            if r:
                spent[i] += time.process_time() - cpu
    return spent


def worker_overhead(cfg, *, rounds: int = 8, batch: int = 4) -> list[dict]:
    """CPU a loader worker spends per train clip, in this process, three ways on the same clips, interleaved:
    the decord floor, the clip-by-clip path (stack, collate, then the copy into shared memory that sending a
    batch from a worker makes), and `__getitems__` writing in place into a shared batch."""
    dataset = build_loader(with_loader_settings(cfg, 0, None), "train").dataset
    keys = _seeded_keys(dataset.num_videos, rounds, batch)
    replayed = {id(batch_keys): _replayed(dataset, batch_keys) for batch_keys in keys}

    def floor(batch_keys):
        for path, indices, _ in replayed[id(batch_keys)]:
            decord_floor(path, indices)

    def clip_by_clip(batch_keys):
        torch.cat([clip_by_clip_item(dataset, video, seed) for video, seed in batch_keys]).share_memory_()

    variants = {"decord floor": floor, "clip by clip (before)": clip_by_clip,
                "in place (now)": lambda batch_keys: _load_as_worker(dataset, batch_keys)}
    spent = dict(zip(variants, _interleaved_cpu(list(variants.values()), keys)))
    clips = rounds * batch * dataset.clips_per_item
    floor_ms = 1000 * spent["decord floor"] / clips
    return [{"variant": name, "cpu_ms_per_clip": 1000 * cpu / clips, "overhead_ms": 1000 * cpu / clips - floor_ms,
             "clips": clips} for name, cpu in spent.items()]


def compare_sets(cfg, data_dirs: list[str], *, rounds: int = 8, batch: int = 4,
                 randaugment_too: bool = False) -> list[dict]:
    """CPU per train clip of the same recipe on several copies of a dataset (e.g. as downloaded vs prepared
    with `--fps`), interleaved round by round, items loaded in this process as a worker loads them.

    `randaugment_too`: each copy also with AUG.ENABLE True (RandAugment in the workers), on the same items.
    """
    settings = [(d, aug) for d in data_dirs for aug in ((False, True) if randaugment_too else (None,))]

    def dataset_for(data_dir, aug):
        overrides = {"DATA.PATH_TO_DATA_DIR": data_dir} if aug is None else {"DATA.PATH_TO_DATA_DIR": data_dir,
                                                                               "AUG.ENABLE": aug}
        return build_loader(with_loader_settings(_with(cfg, **overrides), 0, None), "train").dataset

    datasets = [dataset_for(*setting) for setting in settings]
    keys = _seeded_keys(datasets[0].num_videos, rounds, batch)
    spent = _interleaved_cpu([functools.partial(_load_as_worker, dataset) for dataset in datasets], keys)
    clips = rounds * batch * datasets[0].clips_per_item
    first = spent[0] / clips
    return [{"data_dir": d, "randaugment": aug, "cpu_ms_per_clip": 1000 * cpu / clips, "vs_first": cpu / clips / first,
             "clips": clips} for (d, aug), cpu in zip(settings, spent)]
