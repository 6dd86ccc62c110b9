"""Batches are written in place (one copy per clip, shared memory in workers) and hold the same pixels as
transforming each clip on its own."""
import pytest
import torch

from video_rs.bench.data_compare import clip_by_clip_item
from video_rs.config import load_cfg
from video_rs.data import build_loader


def train_cfg(data_dir, out, *opts):
    return load_cfg(None, ["DATA.PATH_TO_DATA_DIR", data_dir, "OUTPUT_DIR", out, "MODEL.NUM_CLASSES", "3",
                           "DATA.NUM_FRAMES", "4", "DATA.SAMPLING_RATE", "2", "DATA.TRAIN_CROP_SIZE", "32",
                           "DATA_LOADER.NUM_WORKERS", "0", "DATA_LOADER.PIN_MEMORY", "False", "TRAIN.BATCH_SIZE", "8",
                           "DATA.NUM_CLIPS_PER_VIDEO", "2", "DATA.TRAIN_CROP_NUM_SPATIAL", "2", "AUG.ENABLE", "True",
                           "AUG.RANDAUG_MAGNITUDE", "15", "DATA.RANDOM_FLIP", "True", *map(str, opts)])


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
    expected = torch.cat([clip_by_clip_item(dataset, video, seed) for video, seed in keys])
    assert torch.equal(clips, expected)
    assert len({clip.numpy().tobytes() for clip in clips}) == 8  # every copy its own augmentation


def test_the_collated_batch_reaches_the_main_process_unchanged(tiny_synthetic_dataset, tmp_path):
    loader = build_loader(train_cfg(tiny_synthetic_dataset, str(tmp_path), "DATA_LOADER.NUM_WORKERS", 1), "train")
    loader.sampler.set_epoch(0)
    keys = next(iter(loader.batch_sampler))
    loader.sampler.set_epoch(0)
    clips, labels, video_index, _ = next(iter(loader))
    assert torch.equal(clips, torch.cat([clip_by_clip_item(loader.dataset, v, s) for v, s in keys]))
    assert labels.tolist() == [loader.dataset.labels[v] for v, _ in keys for _ in range(4)]
