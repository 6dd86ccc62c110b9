"""The bad-video policy with real broken files: training never dies, evaluation reports, a wrong prefix stops."""
import logging
import os

import numpy as np
import pytest
import torch

from video_rs.config import load_cfg
from video_rs.data import FAILED_VIEW, TooManyBadVideos, build_loader, check_bad_fraction, read_bad_videos
from video_rs.data import dataset as dataset_module

GOOD, BAD = 4, ("missing.mp4", "empty.mp4", "truncated.mp4", "random.mp4")


@pytest.fixture(scope="module")
def mixed_dir(tmp_path_factory, index_frames, write_test_video):
    """4 good videos (labels 0, 1, 2, 0) and 4 broken ones listed in every split's CSV."""
    root = tmp_path_factory.mktemp("mixed")
    for i in range(GOOD):
        write_test_video(str(root / f"good{i}.mp4"), index_frames(30 + 10 * i), gop=8)
    data = open(root / "good0.mp4", "rb").read()
    (root / "empty.mp4").write_bytes(b"")
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (root / "random.mp4").write_bytes(np.random.default_rng(1).bytes(3000))
    rows = [f"good{i}.mp4 {i % 3}" for i in range(GOOD)] + [f"{name} 1" for name in BAD]
    for split in ("train", "val", "test"):
        (root / f"{split}.csv").write_text("\n".join(rows) + "\n")
    return str(root)


def cfg_for(data_dir, out, *opts):
    base = ["DATA.PATH_TO_DATA_DIR", data_dir, "OUTPUT_DIR", out, "MODEL.NUM_CLASSES", "3", "DATA.NUM_FRAMES", "4",
            "DATA.SAMPLING_RATE", "2", "DATA.TRAIN_CROP_SIZE", "24", "DATA.TEST_CROP_SIZE", "24",
            "DATA_LOADER.NUM_WORKERS", "0", "DATA_LOADER.PIN_MEMORY", "False", "TRAIN.BATCH_SIZE", "4",
            "TEST.BATCH_SIZE", "6", "TEST.NUM_ENSEMBLE_VIEWS", "2", "TEST.NUM_SPATIAL_CROPS", "3", "TEST.SPLIT", "test",
            "DATA.MAX_BAD_FRACTION", "0.6", "DATA.DECODE_RETRIES", "2"]
    return load_cfg(None, base + [str(o) for o in opts])


@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_training_epochs_never_die_and_log_each_bad_video_once(mixed_dir, tmp_path, caplog, backend):
    cfg = cfg_for(mixed_dir, str(tmp_path), "DATA.DECODING_BACKEND", backend)
    loader = build_loader(cfg, "train", output_dir=str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="video_rs.data"):
        for _epoch in range(3):
            batches = list(loader)
            assert len(batches) == 2 and all(len(b[0]) == 4 for b in batches)
            for clips, labels, video_index, _ in batches:
                assert (video_index < GOOD).all()  # bad rows were replaced by readable videos...
                assert clips.flatten(1).float().std(1).min() >= 0  # ...with real clips
                assert labels.tolist() == [loader.dataset.labels[v] for v in video_index.tolist()]
    bad = read_bad_videos(str(tmp_path))
    assert sorted(os.path.basename(p) for p in bad) == sorted(BAD)
    assert "file not found" in bad[os.path.join(mixed_dir, "missing.mp4")]
    assert "empty" in bad[os.path.join(mixed_dir, "empty.mp4")]
    logged = [r.getMessage() for r in caplog.records if "cannot decode" in r.getMessage()]
    assert len(logged) == len(BAD)  # once per path, however often it is drawn
    lines = open(os.path.join(str(tmp_path), "bad_videos.txt")).read().splitlines()
    assert len(lines) == len(BAD) and all(line.endswith("\ttrain") for line in lines)


def test_workers_append_and_reading_deduplicates(mixed_dir, tmp_path):
    cfg = cfg_for(mixed_dir, str(tmp_path), "DATA_LOADER.NUM_WORKERS", "2")
    loader = build_loader(cfg, "train", output_dir=str(tmp_path))
    for _ in range(2):
        assert sum(len(b[0]) for b in loader) == 8
    lines = open(os.path.join(str(tmp_path), "bad_videos.txt")).read().splitlines()
    bad = read_bad_videos(str(tmp_path))
    assert sorted(os.path.basename(p) for p in bad) == sorted(BAD) and len(lines) >= len(bad)
    assert read_bad_videos(str(tmp_path), split="val") == {}


def test_views_of_a_bad_video_in_several_workers_are_listed_and_logged_once(mixed_dir, tmp_path):
    """Test views of one video land in different workers (batch of one item): still one line per bad file."""
    cfg = cfg_for(mixed_dir, str(tmp_path), "DATA_LOADER.NUM_WORKERS", "2", "TEST.BATCH_SIZE", "3",
                  "TEST.NUM_ENSEMBLE_VIEWS", "4")
    loader = build_loader(cfg, "test", output_dir=str(tmp_path))
    assert loader.batch_size == 1  # each (video, temporal view) is its own batch, so workers alternate
    list(loader)
    lines = open(os.path.join(str(tmp_path), "bad_videos.txt")).read().splitlines()
    assert sorted(os.path.basename(line.split("\t")[0]) for line in lines) == sorted(BAD)


def test_a_video_another_worker_or_session_listed_is_not_logged_again(tmp_path, caplog):
    from video_rs.data.bad_videos import BadVideoLog

    first, second = BadVideoLog(str(tmp_path), "train"), BadVideoLog(str(tmp_path), "train")
    other_split = BadVideoLog(str(tmp_path), "test")
    with caplog.at_level(logging.WARNING, logger="video_rs.data"):
        first.record("/data/a b.mp4", "file not found")
        second.record("/data/a b.mp4", "file not found")  # another worker: listed already
        second.record("/data/c.mp4", "empty file (0 bytes)")
        first.record("/data/c.mp4", "empty file (0 bytes)")
        other_split.record("/data/a b.mp4", "file not found")  # the test split lists it too
    logged = [r.getMessage() for r in caplog.records if "cannot decode" in r.getMessage()]
    assert logged == ["cannot decode /data/a b.mp4 (train split): file not found",
                      "cannot decode /data/c.mp4 (train split): empty file (0 bytes)",
                      "cannot decode /data/a b.mp4 (test split): file not found"]
    assert open(os.path.join(str(tmp_path), "bad_videos.txt")).read().splitlines() == [
        "/data/a b.mp4\tfile not found\ttrain", "/data/c.mp4\tempty file (0 bytes)\ttrain",
        "/data/a b.mp4\tfile not found\ttest"]


def test_retryable_failures_retry_the_same_video_then_move_on(tmp_path, index_frames, monkeypatch):
    """A file whose tail is cut: opening works, clips fail (retryable); DECODE_RETRIES more tries, then another video."""
    from video_rs.data.encode import write_video

    root = tmp_path / "data"
    root.mkdir()
    path = str(root / "cut.mp4")
    noise = np.random.default_rng(0).integers(0, 256, (60, 36, 44, 3), dtype=np.uint8)  # big frames
    write_video(path, noise, crf=4, gop=4, faststart=True)
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 4])  # header promises 60 frames; about 15 remain
    write_video(str(root / "good.mp4"), index_frames(30))
    (root / "train.csv").write_text("cut.mp4 0\ngood.mp4 1\n")
    cfg = cfg_for(str(root), str(tmp_path / "out"), "DATA.DECODING_BACKEND", "pyav", "DATA.DECODE_RETRIES", "3",
                  "DATA.NUM_FRAMES", "16", "TRAIN.BATCH_SIZE", "1", "DATA.MAX_BAD_FRACTION", "0.5")
    loader = build_loader(cfg, "train", output_dir=str(tmp_path / "out"))
    opened = []
    real_open = dataset_module.open_video
    monkeypatch.setattr(dataset_module, "open_video", lambda p, b: opened.append(os.path.basename(p)) or real_open(p, b))
    torch.manual_seed(0)
    clips, labels, video_index, _ = loader.dataset[0]
    assert video_index.tolist() == [1] and labels.tolist() == [1]
    assert opened[:4] == ["cut.mp4"] * 4 and set(opened[4:]) <= {"good.mp4", "cut.mp4"}
    assert read_bad_videos(str(tmp_path / "out"))[path].startswith("frames ")  # names the frames that failed


def test_evaluation_returns_failed_views_and_every_good_view_once(mixed_dir, tmp_path):
    cfg = cfg_for(mixed_dir, str(tmp_path))
    loader = build_loader(cfg, "test", output_dir=str(tmp_path))
    dataset = loader.dataset
    assert dataset.views_per_video == 6 and len(dataset) == 8
    seen = []
    for clips, labels, video_index, view_index in loader:
        assert clips.shape[1:] == (3, 4, 24, 24) and clips.dtype == torch.uint8
        failed = view_index == FAILED_VIEW
        assert (video_index[failed] >= GOOD).all() and (video_index[~failed] < GOOD).all()
        assert (clips[failed] == 0).all()
        seen += list(zip(video_index[~failed].tolist(), view_index[~failed].tolist()))
    assert sorted(seen) == [(v, k) for v in range(GOOD) for k in range(6)]
    assert dataset.probe(0) is None
    reasons = {os.path.basename(dataset.paths[v]): dataset.probe(v) for v in range(GOOD, 8)}
    assert all(reasons.values()) and "file not found" in reasons["missing.mp4"]


def test_wrong_path_prefix_stops_at_start_up_naming_an_example(mixed_dir, tmp_path):
    cfg = cfg_for(mixed_dir, str(tmp_path), "DATA.PATH_PREFIX", "/nonexistent/kinetics")
    with pytest.raises(TooManyBadVideos, match="PATH_PREFIX") as caught:
        build_loader(cfg, "train", output_dir=str(tmp_path))
    assert "/nonexistent/kinetics/good0.mp4" in str(caught.value) and "8 of 8" in str(caught.value)


def test_missing_files_under_the_limit_are_kept_and_over_it_stop(mixed_dir, tmp_path):
    build_loader(cfg_for(mixed_dir, str(tmp_path), "DATA.MAX_BAD_FRACTION", "0.125"), "val")  # 1 of 8 missing
    with pytest.raises(TooManyBadVideos, match="1 of 8"):
        build_loader(cfg_for(mixed_dir, str(tmp_path), "DATA.MAX_BAD_FRACTION", "0.1"), "val")


def test_check_bad_fraction_threshold(tmp_path):
    cfg = load_cfg(None, ["DATA.MAX_BAD_FRACTION", "0.05", "OUTPUT_DIR", str(tmp_path)])
    check_bad_fraction(5, 100, cfg, "train")
    check_bad_fraction(0, 0, cfg, "train")
    with pytest.raises(TooManyBadVideos, match="6 of 100 .*'train'.*bad_videos.txt"):
        check_bad_fraction(6, 100, cfg, "train")


def test_a_split_with_nothing_readable_gives_up_with_a_clear_error(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    for i in range(3):
        (root / f"junk{i}.mp4").write_bytes(b"\x00" * 100)
    (root / "train.csv").write_text("".join(f"junk{i}.mp4 0\n" for i in range(3)))
    cfg = cfg_for(str(root), str(tmp_path), "TRAIN.BATCH_SIZE", "1", "DATA.MAX_BAD_FRACTION", "1.0")
    with pytest.raises(TooManyBadVideos, match="in a row"):
        next(iter(build_loader(cfg, "train")))


def test_the_bad_fraction_counts_only_paths_of_the_current_list(tmp_path):
    """A bad_videos.txt left from before the dataset was fixed lists paths the split no longer has."""
    from video_rs.data.bad_videos import count_listed_bad_videos

    with open(tmp_path / "bad_videos.txt", "w") as handle:
        handle.writelines(f"videos/old_{i}.mp4\tmoov atom not found\ttrain\n" for i in range(10))
        handle.write("videos/kept.mp4\tinvalid data\ttrain\nvideos/kept.mp4\tinvalid data\ttest\n")
    current = ["videos/kept.mp4"] + [f"videos/new_{i}.mp4" for i in range(19)]
    assert len(read_bad_videos(str(tmp_path), "train")) == 11
    assert count_listed_bad_videos(str(tmp_path), "train", current) == 1
    cfg = load_cfg(None, ["DATA.MAX_BAD_FRACTION", "0.05", "OUTPUT_DIR", str(tmp_path)])
    check_bad_fraction(count_listed_bad_videos(str(tmp_path), "train", current), len(current), cfg, "train")
