"""build_loader end to end on real mp4 files: batch layout, views, sharding, seeding, bad files."""
import numpy as np
import pytest
import torch

from video_rs.config import load_cfg
from video_rs.data import build_loader


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


def test_val_gives_one_centre_view_per_video(tiny_synthetic_dataset, tmp_path):
    loader = build_loader(tiny_cfg(tiny_synthetic_dataset, str(tmp_path)), "val")
    batches = list(loader)
    videos = [v for b in batches for v in b[2].tolist()]
    assert videos == list(range(6)) and all((b[3] == 0).all() for b in batches)
    assert batches[0][0].shape[1:] == (3, 4, 32, 32) and loader.dataset.views_per_video == 1


def test_test_views_cover_every_video_and_view_exactly_once(tiny_synthetic_dataset, tmp_path):
    cfg = tiny_cfg(tiny_synthetic_dataset, str(tmp_path), "TEST.NUM_SPATIAL_CROPS", "3")
    loader = build_loader(cfg, "test")
    dataset = loader.dataset
    assert dataset.views_per_video == 6 and dataset.num_videos == 6
    pairs = [(v, k) for b in loader for v, k in zip(b[2].tolist(), b[3].tolist())]
    assert sorted(pairs) == [(v, k) for v in range(6) for k in range(6)]
    assert all(len(b[0]) <= 6 for b in loader)
    assert dataset.class_names == ["right", "left", "down"]


def test_test_views_are_deterministic(tiny_synthetic_dataset, tmp_path):
    cfg = tiny_cfg(tiny_synthetic_dataset, str(tmp_path))
    first, second = (next(iter(build_loader(cfg, "test")))[0] for _ in range(2))
    assert torch.equal(first, second)


def test_evaluation_shards_are_disjoint_and_complete_without_padding(tiny_synthetic_dataset, tmp_path, monkeypatch):
    """Three ranks over 6 videos (items): every (video, view) once, uneven shards allowed."""
    from video_rs.data import loader as loader_module

    cfg = tiny_cfg(tiny_synthetic_dataset, str(tmp_path), "TEST.NUM_SPATIAL_CROPS", "3", "TEST.BATCH_SIZE", "9")
    pairs = []
    for rank in range(3):
        monkeypatch.setattr(loader_module, "_rank_and_world", lambda rank=rank: (rank, 3))
        loader = build_loader(cfg, "test")
        assert loader.batch_size == 1  # 9 clips // 3 ranks = 3 clips: at least one video (6 views)
        pairs += [(v, k) for b in loader for v, k in zip(b[2].tolist(), b[3].tolist())]
    assert sorted(pairs) == [(v, k) for v in range(6) for k in range(6)]


def test_distributed_training_uses_a_distributed_sampler_with_the_per_rank_batch(tiny_synthetic_dataset, tmp_path,
                                                                                  monkeypatch):
    from torch.utils.data import DistributedSampler

    from video_rs.data import loader as loader_module

    monkeypatch.setattr(loader_module, "_rank_and_world", lambda: (1, 2))
    loader = build_loader(tiny_cfg(tiny_synthetic_dataset, str(tmp_path)), "train")
    assert isinstance(loader.sampler, DistributedSampler) and loader.batch_size == 2
    loader.sampler.set_epoch(3)
    assert len(list(loader)) == 3
    with pytest.raises(ValueError, match="global batch"):
        build_loader(tiny_cfg(tiny_synthetic_dataset, str(tmp_path), "TRAIN.BATCH_SIZE", "5"), "train")


def test_several_clips_per_video_are_flattened_into_the_batch(tiny_synthetic_dataset, tmp_path):
    cfg = tiny_cfg(tiny_synthetic_dataset, str(tmp_path), "DATA.NUM_CLIPS_PER_VIDEO", "2")
    loader = build_loader(cfg, "train")
    clips, labels, video_index, view_index = next(iter(loader))
    assert clips.shape[0] == 4 and video_index[0] == video_index[1] and video_index[2] == video_index[3]
    assert view_index.tolist() == [0, 1, 0, 1]
    assert not torch.equal(clips[0], clips[1])  # two draws of clip and augmentation
    with pytest.raises(ValueError, match="NUM_CLIPS_PER_VIDEO"):
        build_loader(tiny_cfg(tiny_synthetic_dataset, str(tmp_path), "DATA.NUM_CLIPS_PER_VIDEO", "3"), "train")


def test_spatial_copies_share_the_decoded_frames_and_multiply_the_clips(tiny_synthetic_dataset, tmp_path):
    """TRAIN_CROP_NUM_SPATIAL 2: two augmentations of ONE decoded clip (same frames, different crops)."""
    torch.manual_seed(0)
    cfg = tiny_cfg(tiny_synthetic_dataset, str(tmp_path), "DATA.NUM_CLIPS_PER_VIDEO", "2",
                   "DATA.TRAIN_CROP_NUM_SPATIAL", "2", "TRAIN.BATCH_SIZE", "8", "DATA.RANDOM_FLIP", "False",
                   "DATA.TRAIN_JITTER_SCALES_RELATIVE", "[1.0, 1.0]", "DATA.TRAIN_JITTER_ASPECT_RELATIVE", "[1.0, 1.0]")
    clips, labels, video_index, view_index = next(iter(build_loader(cfg, "train")))
    assert clips.shape[0] == 8 and view_index.tolist() == [0, 1, 2, 3] * 2
    assert len(set(video_index[:4].tolist())) == 1 and len(set(labels[:4].tolist())) == 1
    # full-frame "crops" without flip: a clip's two copies are identical, the two decoded clips are not
    assert torch.equal(clips[0], clips[1]) and torch.equal(clips[2], clips[3])
    assert not torch.equal(clips[0], clips[2])
    with pytest.raises(ValueError, match="TRAIN_CROP_NUM_SPATIAL"):
        build_loader(tiny_cfg(tiny_synthetic_dataset, str(tmp_path), "DATA.TRAIN_CROP_NUM_SPATIAL", "3"), "train")


def test_randaugment_on_device_leaves_the_loader_clips_unaugmented(tiny_synthetic_dataset, tmp_path):
    aug = ["AUG.ENABLE", "True", "AUG.RANDAUG_MAGNITUDE", "20", "DATA.RANDOM_FLIP", "False",
           "DATA.TRAIN_JITTER_SCALES_RELATIVE", "[1.0, 1.0]", "DATA.TRAIN_JITTER_ASPECT_RELATIVE", "[1.0, 1.0]"]
    batches = {}
    for on_device in ("False", "True"):
        torch.manual_seed(0)
        cfg = tiny_cfg(tiny_synthetic_dataset, str(tmp_path), *aug, "AUG.ON_DEVICE", on_device)
        batches[on_device] = next(iter(build_loader(cfg, "train")))[0]
    torch.manual_seed(0)
    plain = next(iter(build_loader(tiny_cfg(tiny_synthetic_dataset, str(tmp_path), *aug[2:]), "train")))[0]
    assert torch.equal(batches["True"], plain) and not torch.equal(batches["False"], plain)


def test_too_few_videos_for_one_batch_is_an_error(tiny_synthetic_dataset, tmp_path):
    with pytest.raises(ValueError, match="fewer than one batch"):
        build_loader(tiny_cfg(tiny_synthetic_dataset, str(tmp_path), "TRAIN.BATCH_SIZE", "16"), "train")


def test_a_dataset_without_a_val_split_says_how_to_train_without_validation(tiny_synthetic_dataset, tmp_path):
    import shutil

    from video_rs.data import AnnotationError

    data = tmp_path / "no_val"
    shutil.copytree(tiny_synthetic_dataset, data)
    (data / "val.csv").unlink()
    cfg = tiny_cfg(str(data), str(tmp_path / "out"))
    assert len(build_loader(cfg, "train").dataset) == 12
    with pytest.raises(AnnotationError, match=r"val.csv \(validation .* TRAIN.EVAL_PERIOD 0 trains without it"):
        build_loader(cfg, "val")


def epoch_batches(loader, epoch=None):
    if epoch is not None:
        loader.sampler.set_epoch(epoch)
    return [tuple(t.clone() for t in batch) for batch in loader]


def same(a, b):
    return len(a) == len(b) and all(torch.equal(x, y) for ba, bb in zip(a, b) for x, y in zip(ba, bb))


def test_an_epoch_depends_on_seed_and_epoch_only_not_on_workers_or_history(tiny_synthetic_dataset, tmp_path):
    """Same (RNG_SEED, epoch): the same order, clips and augmentation with 0 or 2 workers, fresh or resumed."""
    def loader(seed=3, workers=0):
        return build_loader(tiny_cfg(tiny_synthetic_dataset, str(tmp_path), "RNG_SEED", seed,
                                     "DATA_LOADER.NUM_WORKERS", workers, "AUG.ENABLE", "True"), "train")

    running = loader()
    epoch0, epoch1 = epoch_batches(running, 0), epoch_batches(running, 1)
    assert not same(epoch0, epoch1)
    assert same(epoch_batches(loader(workers=2), 1), epoch1)  # "resumed" at epoch 1, other worker count
    assert same(epoch_batches(loader(), 0), epoch0)
    assert not same(epoch_batches(loader(seed=4), 0), epoch0)
    unset = loader()  # nobody calls set_epoch: each pass is a new epoch, not a repeat
    assert same(epoch_batches(unset), epoch0) and same(epoch_batches(unset), epoch1)


def test_item_seeding_leaves_the_callers_random_stream_alone(tiny_synthetic_dataset, tmp_path):
    loader = build_loader(tiny_cfg(tiny_synthetic_dataset, str(tmp_path)), "train")
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    list(loader)  # seeded items: the global stream is untouched...
    assert torch.equal(torch.rand(3), expected)
    torch.manual_seed(0)
    loader.dataset[0]  # ...while an unseeded access draws from it (so the check above can fail)
    assert not torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_target_fps_resamples_a_60_fps_video(tmp_path, index_frames, frame_numbers, write_test_video, backend):
    """NUM_FRAMES 4 at rate 2 on a 30 fps timeline = every 4th frame of a 60 fps file; centre crop, no resize."""
    write_test_video(str(tmp_path / "v60.mp4"), index_frames(60, 32, 64), fps=60, crf=4)
    (tmp_path / "val.csv").write_text("v60.mp4 0\n")
    cfg = tiny_cfg(str(tmp_path), str(tmp_path), "DATA.DECODING_BACKEND", backend)
    clips, *_ = next(iter(build_loader(cfg, "val")))
    shown = frame_numbers(clips[0].permute(1, 2, 3, 0).numpy())
    assert np.array_equal(np.diff(shown), [4, 4, 4]) and shown[0] == round((59 - 12) / 2)


def test_flipping_mirror_image_classes_is_warned_about(tiny_synthetic_dataset, tmp_path, caplog):
    build_loader(tiny_cfg(tiny_synthetic_dataset, str(tmp_path), "DATA.RANDOM_FLIP", "False"), "train")
    assert "RANDOM_FLIP" not in caplog.text
    build_loader(tiny_cfg(tiny_synthetic_dataset, str(tmp_path)), "train")
    assert "right/left" in caplog.text and "RANDOM_FLIP" in caplog.text


def test_synthetic_dataset_is_made_on_first_use(tmp_path):
    root = str(tmp_path / "made")
    cfg = tiny_cfg(root, str(tmp_path), "SYNTHETIC.ENABLE", "True", "SYNTHETIC.VIDEOS_PER_CLASS", "[2, 1, 1]",
                   "SYNTHETIC.NUM_FRAMES", "12", "SYNTHETIC.SIZE", "[32, 64]", "MODEL.NUM_CLASSES", "2",
                   "TRAIN.BATCH_SIZE", "2")
    assert len(list(build_loader(cfg, "train"))) == 2
    assert open(f"{root}/classes.txt").read().split() == ["right", "left"]
    too_many = tiny_cfg(str(tmp_path / "other"), str(tmp_path), "SYNTHETIC.ENABLE", "True", "MODEL.NUM_CLASSES", "50")
    with pytest.raises(ValueError, match="motion classes"):
        build_loader(too_many, "train")


def test_items_load_on_one_thread_and_the_callers_thread_count_returns(tiny_synthetic_dataset, tmp_path, monkeypatch):
    loader = build_loader(tiny_cfg(tiny_synthetic_dataset, str(tmp_path)), "train")
    seen = []
    real = loader.dataset._train_item
    monkeypatch.setattr(loader.dataset, "_train_item",
                        lambda video, out: seen.append(torch.get_num_threads()) or real(video, out))
    torch.set_num_threads(2)
    try:
        assert len(list(loader)) == 3
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    assert seen == [1] * 12


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_seeded_item_leaves_the_gpu_random_stream_alone(tiny_synthetic_dataset, tmp_path):
    """NUM_WORKERS 0 loads items in the training process: their seeds must not reset dropout's GPU stream."""
    dataset = build_loader(tiny_cfg(tiny_synthetic_dataset, str(tmp_path)), "train").dataset
    torch.cuda.init()
    before = torch.cuda.get_rng_state()
    dataset[(0, 1234)]
    assert torch.equal(torch.cuda.get_rng_state(), before)
