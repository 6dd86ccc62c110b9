"""Batches are written in place (one copy per clip, shared memory in workers) and hold the same pixels as
transforming each clip on its own."""
import numpy as np
import pytest
import torch

from video_rs.config import load_cfg
from video_rs.data import build_loader
from video_rs.data.decoders import open_video
from video_rs.data.sampling import random_clip_indices
from video_rs.data.transforms import frames_to_video


def train_cfg(data_dir, out, *opts):
    return load_cfg(None, ["DATA.PATH_TO_DATA_DIR", data_dir, "OUTPUT_DIR", out, "MODEL.NUM_CLASSES", "3",
                           "DATA.NUM_FRAMES", "4", "DATA.SAMPLING_RATE", "2", "DATA.TRAIN_CROP_SIZE", "32",
                           "DATA_LOADER.NUM_WORKERS", "0", "DATA_LOADER.PIN_MEMORY", "False", "TRAIN.BATCH_SIZE", "8",
                           "DATA.NUM_CLIPS_PER_VIDEO", "2", "DATA.TRAIN_CROP_NUM_SPATIAL", "2", "AUG.ENABLE", "True",
                           "AUG.RANDAUG_MAGNITUDE", "15", "DATA.RANDOM_FLIP", "True", *map(str, opts)])


def reference_item(dataset, video, seed):
    """The item as clip-by-clip code makes it: sample, decode, transform each copy, stack."""
    s = dataset.sampling
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        with open_video(dataset.paths[video], dataset.backend) as opened:
            clips = [random_clip_indices(opened.num_frames, s.num_frames, s.sampling_rate, opened.fps, s.target_fps)
                     for _ in range(dataset.clips_per_video)]
            frames = opened.get(np.concatenate(clips)).reshape((len(clips), s.num_frames, 36, 44, 3))
        return torch.stack([dataset.transform(frames_to_video(f)) for f in frames
                            for _ in range(dataset.augmentations_per_clip)])


@pytest.mark.parametrize("in_worker", [False, True])
def test_a_batch_equals_its_clips_transformed_one_by_one(tiny_synthetic_dataset, tmp_path, monkeypatch, in_worker):
    dataset = build_loader(train_cfg(tiny_synthetic_dataset, str(tmp_path)), "train").dataset
    if in_worker:  # inside a loader worker the batch is allocated in shared memory
        monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: object())
    keys = [(3, 11), (0, 12)]
    [(clips, labels, video_index, view_index)] = dataset.__getitems__(keys)
    assert clips.is_shared() == in_worker
    assert clips.shape == (8, 3, 4, 32, 32) and video_index.tolist() == [3] * 4 + [0] * 4
    assert view_index.tolist() == [0, 1, 2, 3] * 2
    expected = torch.cat([reference_item(dataset, video, seed) for video, seed in keys])
    assert torch.equal(clips, expected)
    assert len({clip.numpy().tobytes() for clip in clips}) == 8  # every copy its own augmentation


def test_the_collated_batch_reaches_the_main_process_unchanged(tiny_synthetic_dataset, tmp_path):
    loader = build_loader(train_cfg(tiny_synthetic_dataset, str(tmp_path), "DATA_LOADER.NUM_WORKERS", 1), "train")
    loader.sampler.set_epoch(0)
    keys = next(iter(loader.batch_sampler))
    loader.sampler.set_epoch(0)
    clips, labels, video_index, _ = next(iter(loader))
    assert torch.equal(clips, torch.cat([reference_item(loader.dataset, v, s) for v, s in keys]))
    assert labels.tolist() == [loader.dataset.labels[v] for v, _ in keys for _ in range(4)]
