"""build_loader end to end on real mp4 files: batch layout, views, sharding, seeding, bad files."""
import pytest
import torch

from video_rs.config import load_cfg
from video_rs.data import FAILED_VIEW, build_loader


def tiny_cfg(data_dir, output_dir, *opts):
    base = ["DATA.PATH_TO_DATA_DIR", data_dir, "OUTPUT_DIR", output_dir, "MODEL.NUM_CLASSES", "3",
            "DATA.NUM_FRAMES", "4", "DATA.SAMPLING_RATE", "2", "DATA.TRAIN_CROP_SIZE", "32",
            "DATA.TEST_CROP_SIZE", "32", "DATA_LOADER.NUM_WORKERS", "0", "DATA_LOADER.PIN_MEMORY", "False",
            "TRAIN.BATCH_SIZE", "4", "TEST.BATCH_SIZE", "6", "TEST.NUM_ENSEMBLE_VIEWS", "2", "TEST.SPLIT", "test"]
    return load_cfg(None, base + [str(o) for o in opts])


def test_train_batches_are_uint8_clips_with_labels_and_indices(tiny_synthetic_dataset, tmp_path):
    cfg = tiny_cfg(tiny_synthetic_dataset, str(tmp_path))
    loader = build_loader(cfg, "train", output_dir=str(tmp_path))
    batches = list(loader)
    assert len(batches) == 12 // 4
    clips, labels, video_index, view_index = batches[0]
    assert clips.dtype == torch.uint8 and clips.shape == (4, 3, 4, 32, 32)
    assert labels.dtype == video_index.dtype == view_index.dtype == torch.int64
    dataset = loader.dataset
    for label, video in zip(labels.tolist(), video_index.tolist()):
        assert dataset.labels[video] == label
    seen = sorted(v for b in batches for v in b[2].tolist())
    assert seen == list(range(12))  # one clip per video per epoch, shuffled
    assert (view_index == 0).all()
