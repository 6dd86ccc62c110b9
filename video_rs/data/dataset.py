"""VideoClipDataset: one annotation row -> decoded, transformed uint8 clips, with the bad-video policy.

An item is a small stack of clips that share one decode, flattened into the batch by `collate_clips`:

    train  item = a video              -> K = NUM_CLIPS_PER_VIDEO random clips, each augmented
                                          S = TRAIN_CROP_NUM_SPATIAL times      (views 0..K*S-1)
    val    item = a video              -> 1 centre clip, centre crop             (view 0)
    test   item = a video              -> NUM_ENSEMBLE_VIEWS clips x NUM_SPATIAL_CROPS crops  (view k*S + s)

each as `(clips uint8 [K, C, T, H, W], labels [K], video_index [K], view_index [K])`.

A test video is opened once and its temporal views are decoded together: one `get` of the sorted
union of their frames, resized once per spatial crop, then gathered into views (a view's pixels are
the same as decoding it alone). Views further apart than EVAL_DECODE_GAP_SECONDS are reached by a
seek instead of decoding through the gap, and one decode holds at most EVAL_DECODE_BYTES of frames.

Training never dies from a bad file: another clip of the same video is tried DECODE_RETRIES
times (when the error says another clip may work), then a random other video. Evaluation returns
zero clips with view index FAILED_VIEW, which the evaluator leaves out and reports.
"""
from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from video_rs.data.annotations import VideoList
from video_rs.data.bad_videos import BadVideoLog, TooManyBadVideos
from video_rs.data.decoders import DecodeError, open_video
from video_rs.data.sampling import decode_groups, random_clip_indices, uniform_clip_indices
from video_rs.data.transforms import EvalTransform, TrainTransform, frames_to_video, gather_clip

logger = logging.getLogger(__name__)

FAILED_VIEW = -1  # view_index of a view that could not be decoded (evaluation only)
MODES = ("train", "val", "test")
MAX_REPLACEMENT_VIDEOS = 100  # consecutive unreadable videos before training gives up
EVAL_DECODE_BYTES = 256 * 2**20  # decoded frames one evaluation decode may hold: ~770 frames of 454 x 256
EVAL_DECODE_GAP_SECONDS = 2.0  # views further apart are reached by a seek, not by decoding the gap


@dataclass(frozen=True)
class ClipSampling:
    num_frames: int
    sampling_rate: int
    target_fps: float
    short_video: str = "clamp"  # "clamp" or "loop" (video_rs.data.sampling)


class VideoClipDataset(Dataset):
    def __init__(self, videos: VideoList, *, mode: str, sampling: ClipSampling,
                 transform: TrainTransform | EvalTransform, backend: str, clips_per_video: int = 1,
                 augmentations_per_clip: int = 1,
                 num_temporal_views: int = 1, decode_retries: int = 10, output_dir: str | None = None,
                 log_bad_videos: bool = True):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.videos = videos
        self.mode = mode
        self.sampling = sampling
        self.transform = transform
        self.backend = backend
        self.clips_per_video = clips_per_video if mode == "train" else 1
        self.augmentations_per_clip = augmentations_per_clip if mode == "train" else 1
        self.num_temporal_views = num_temporal_views if mode == "test" else 1
        self.num_spatial_crops = transform.num_crops if isinstance(transform, EvalTransform) else 1
        self.decode_retries = decode_retries
        self.bad_log = BadVideoLog(output_dir, mode, quiet=not log_bad_videos)

    @classmethod
    def from_cfg(cls, cfg, mode: str, videos: VideoList, *, output_dir: str | None = None,
                 log_bad_videos: bool = True) -> "VideoClipDataset":
        data = cfg.DATA
        if mode == "train":
            transform = TrainTransform(
                crop_size=data.TRAIN_CROP_SIZE, area_range=tuple(data.TRAIN_JITTER_SCALES_RELATIVE) or None,
                aspect_range=tuple(data.TRAIN_JITTER_ASPECT_RELATIVE), jitter_scales=tuple(data.TRAIN_JITTER_SCALES),
                flip=data.RANDOM_FLIP,
                randaug_num_ops=cfg.AUG.RANDAUG_NUM_OPS if cfg.AUG.ENABLE and not cfg.AUG.ON_DEVICE else 0,
                randaug_magnitude=cfg.AUG.RANDAUG_MAGNITUDE, crop_style=data.TRAIN_CROP_STYLE)
        else:
            transform = EvalTransform(crop_size=data.TEST_CROP_SIZE,
                                      num_crops=cfg.TEST.NUM_SPATIAL_CROPS if mode == "test" else 1)
        return cls(videos, mode=mode, sampling=ClipSampling(data.NUM_FRAMES, data.SAMPLING_RATE, data.TARGET_FPS,
                                                          data.SHORT_VIDEO),
                   transform=transform, backend=data.DECODING_BACKEND, clips_per_video=data.NUM_CLIPS_PER_VIDEO,
                   augmentations_per_clip=data.TRAIN_CROP_NUM_SPATIAL,
                   num_temporal_views=cfg.TEST.NUM_ENSEMBLE_VIEWS, decode_retries=data.DECODE_RETRIES,
                   output_dir=output_dir, log_bad_videos=log_bad_videos)

    # ------------------------------------------------------------------ what the evaluator reads
    @property
    def num_videos(self) -> int:
        return len(self.videos.paths)

    @property
    def views_per_video(self) -> int:
        """Clips per video in one pass: K x S in training, temporal x spatial views in evaluation."""
        return self.clips_per_item

    @property
    def paths(self) -> list[str]:
        return self.videos.paths

    @property
    def labels(self) -> list[int]:
        return self.videos.labels

    @property
    def class_names(self) -> list[str] | None:
        return self.videos.class_names

    @property
    def clips_per_item(self) -> int:
        """An item is a video: K x S clips in training, every temporal x spatial view in evaluation."""
        if self.mode == "train":
            return self.clips_per_video * self.augmentations_per_clip
        return self.num_temporal_views * self.num_spatial_crops

    def __len__(self) -> int:
        return self.num_videos

    def probe(self, video_index: int) -> str | None:
        """Decode every frame this split would use from the video, here; the failure reason or None."""
        try:
            with open_video(self.paths[video_index], self.backend) as video:
                views = self.view_indices(video)
                for group in self._decode_groups(video, views):  # the test's decodes, memory bound included
                    video.get(np.unique(np.concatenate([views[k] for k in group])))
        except DecodeError as err:
            return err.reason
        return None

    # ------------------------------------------------------------------ items
    def __getitem__(self, key: int | tuple[int, int]):
        """`index`, or `(index, seed)` from SeededDistributedSampler: the item's draws then depend on the seed only."""
        with _one_thread():
            return self._load(key, self._clip_buffer(self.clips_per_item))

    def __getitems__(self, keys: list):
        """A whole batch (the DataLoader's fast path), already collated: one item that `collate_clips` passes on.

        Every clip is written once, straight into its slot of one batch tensor, which inside a loader
        worker lives in shared memory, so it reaches the main process without another copy.
        """
        per_item = self.clips_per_item
        clips = self._clip_buffer(len(keys) * per_item, shared=torch.utils.data.get_worker_info() is not None)
        with _one_thread():
            items = [self._load(key, clips[i * per_item:(i + 1) * per_item]) for i, key in enumerate(keys)]
        return [(clips,) + tuple(torch.cat(part) for part in list(zip(*items))[1:])]

    def _clip_buffer(self, count: int, *, shared: bool = False) -> torch.Tensor:
        size = self.transform.crop_size
        shape = (count, 3, self.sampling.num_frames, size, size)
        return _shared_uint8(shape) if shared else torch.empty(shape, dtype=torch.uint8)

    def _load(self, key, out: torch.Tensor):
        """The item `key` with its clips written into `out` [clips_per_item, C, T, S, S]."""
        if isinstance(key, tuple):
            index, seed = key
            with torch.random.fork_rng(devices=[]):  # the caller's RNG stream is left as it was
                torch.default_generator.manual_seed(seed)  # CPU only: torch.manual_seed would reseed the GPU's
                # dropout / stochastic-depth stream too when items load in the main process (NUM_WORKERS 0)
                return self._load(index, out)
        if self.mode == "train":
            return self._train_item(key, out)
        return self._eval_item(key, out)

    def _item(self, clips: torch.Tensor, video: int, views: torch.Tensor):
        count = len(clips)
        return (clips, torch.full((count,), self.labels[video], dtype=torch.int64),
                torch.full((count,), video, dtype=torch.int64), views.to(torch.int64))

    def clip_indices(self, video, generator: torch.Generator | None = None) -> np.ndarray:
        """Frames of one random training clip of an opened video (from `generator`, else torch's default)."""
        s = self.sampling
        return random_clip_indices(video.num_frames, s.num_frames, s.sampling_rate, video.fps, s.target_fps, generator,
                                   short_video=s.short_video)

    def view_indices(self, video) -> list[np.ndarray]:
        """Frames of each temporal view of an opened video (evaluation)."""
        s = self.sampling
        return uniform_clip_indices(video.num_frames, s.num_frames, s.sampling_rate, video.fps, s.target_fps,
                                    self.num_temporal_views, s.short_video)

    def _eval_item(self, video: int, clips: torch.Tensor):
        """Every view of the video from one open: zeros and FAILED_VIEW where a view cannot be decoded."""
        views = torch.full((self.clips_per_item,), FAILED_VIEW, dtype=torch.int64)
        try:
            with open_video(self.paths[video], self.backend) as opened:
                temporal = self.view_indices(opened)
                for group in self._decode_groups(opened, temporal):
                    self._decode_views(opened, [temporal[k] for k in group], group, clips, views)
        except DecodeError as err:  # the file cannot be opened: every view fails
            self.bad_log.record(err.path, err.reason)
        clips[views == FAILED_VIEW] = 0
        return self._item(clips, video, views)

    def _decode_groups(self, opened, views: list[np.ndarray]) -> list[list[int]]:
        """The temporal views (by number) that each forward decode serves together."""
        return decode_groups(views, max_gap=EVAL_DECODE_GAP_SECONDS * opened.fps,
                             max_frames=self._frames_per_decode(opened))

    @staticmethod
    def _frames_per_decode(opened) -> int:
        """Frames one decode may hold (EVAL_DECODE_BYTES); 1 (view by view) when the size cannot be read."""
        try:
            pixels = opened.pixels_per_frame
        except DecodeError:
            return 1
        return max(1, EVAL_DECODE_BYTES // (pixels * 3))

    def _decode_views(self, opened, indices: list[np.ndarray], temporal: list[int], clips: torch.Tensor,
                      views: torch.Tensor) -> None:
        """Temporal views `temporal` (frames `indices`) from one `get` into their rows of `clips` and `views`.

        When the joint decode fails, each view is tried alone, so a truncated file keeps its readable views.
        """
        crops = self.num_spatial_crops
        wanted = np.unique(np.concatenate(indices))
        try:
            resized = self.transform.crops(frames_to_video(opened.get(wanted)))  # each [len(wanted), C, S, S]
        except DecodeError as err:
            if len(temporal) == 1:
                self.bad_log.record(err.path, err.reason)
                return
            for clip, k in zip(indices, temporal):
                self._decode_views(opened, [clip], [k], clips, views)
            return
        for clip, k in zip(indices, temporal):
            frames = np.searchsorted(wanted, clip)
            for c, crop in enumerate(resized):  # gathered straight into the clip layout: one copy
                gather_clip(crop, frames, clips[k * crops + c])
            views[k * crops:(k + 1) * crops] = k * crops + torch.arange(crops)

    def _train_item(self, video: int, clips: torch.Tensor):
        for _ in range(MAX_REPLACEMENT_VIDEOS):
            for _attempt in range(self.decode_retries + 1):
                try:
                    return self._item(self._train_clips(video, clips), video, torch.arange(self.clips_per_item))
                except DecodeError as err:
                    self.bad_log.record(err.path, err.reason)
                    if not err.retryable:
                        break
            replacement = int(torch.randint(self.num_videos, ()))
            logger.debug("replacing unreadable %s by %s", self.paths[video], self.paths[replacement])
            video = replacement
        raise TooManyBadVideos(f"{MAX_REPLACEMENT_VIDEOS} videos in a row could not be decoded "
                               f"(the last: {self.paths[video]}); see bad_videos.txt")

    def _train_clips(self, video: int, out: torch.Tensor) -> torch.Tensor:
        """K random clips decoded in one pass over the file, each transformed S times (repeated augmentation)."""
        with open_video(self.paths[video], self.backend) as opened:
            frames = opened.get(np.concatenate([self.clip_indices(opened) for _ in range(self.clips_per_video)]))
        frames = frames.reshape((self.clips_per_video, self.sampling.num_frames) + frames.shape[1:])
        copies = self.augmentations_per_clip
        for i, clip in enumerate(frames):
            for j in range(copies):
                self.transform(frames_to_video(clip), out[i * copies + j])
        return out


def _shared_uint8(shape: tuple[int, ...]) -> torch.Tensor:
    """An uninitialised uint8 tensor in shared memory, so what a loader worker sends is not copied again.

    `share_memory_()` on a new tensor would copy it (measured: 263 ms for a 189 MB test batch, against
    ~100 ms to create the shared block); `_new_shared` is what torch's own default_collate calls.
    """
    new_shared = getattr(torch.UntypedStorage, "_new_shared", None)
    if new_shared is None:
        return torch.empty(shape, dtype=torch.uint8).share_memory_()
    return torch.empty(0, dtype=torch.uint8).set_(new_shared(math.prod(shape))).view(shape)


@contextlib.contextmanager
def _one_thread():
    """Clip ops are small: several threads make them ~5x slower (measured, NUM_WORKERS 0 on 2 busy cores).

    DataLoader workers already run one thread; this covers loading in the main process.
    """
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def collate_clips(items):
    """Concatenate items' clip stacks into one batch: (clips [B, C, T, H, W], labels, video_index, view_index).

    One item (a batch `__getitems__` already collated) passes through without a copy.
    """
    if len(items) == 1:
        return tuple(items[0])
    return tuple(torch.cat(parts) for parts in zip(*items))
