"""tools/check_dataset.py, tools/benchmark_data.py and datasets/prepare_kinetics.py on real small videos."""
import json
import os

import av
import numpy as np
import pytest


@pytest.fixture(scope="module")
def checked_dir(tmp_path_factory, index_frames, write_test_video):
    """Two good videos (30 frames at 30 fps, 6 at 15 fps), one missing, one corrupt; train.csv lists all four, val.csv one."""
    root = tmp_path_factory.mktemp("check")
    write_test_video(str(root / "long.mp4"), index_frames(30))
    write_test_video(str(root / "short.mp4"), index_frames(6), fps=15)
    (root / "corrupt.mp4").write_bytes(b"\x00\x01" * 500)
    (root / "train.csv").write_text("long.mp4 0\nshort.mp4 1\nmissing.mp4 0\ncorrupt.mp4 1\n")
    (root / "val.csv").write_text("long.mp4 0\n")
    return str(root)


def common(data_dir):
    return ["DATA.PATH_TO_DATA_DIR", data_dir, "MODEL.NUM_CLASSES", "2", "DATA.NUM_FRAMES", "8",
            "DATA.SAMPLING_RATE", "2"]


def test_check_dataset_reports_bad_and_short_videos_and_writes_a_clean_csv(checked_dir, tmp_path, load_script, capsys):
    tool = load_script("tools/check_dataset.py")
    report = str(tmp_path / "report.json")
    code = tool.main(["--workers", "2", "--splits", "train", "--write-clean", str(tmp_path / "clean"),
                      "--json", report] + common(checked_dir))
    out = capsys.readouterr().out
    assert code == 1
    assert "4 videos: 2 bad, 1 shorter than one clip" in out and "missing.mp4: file not found" in out
    assert "short.mp4: 6 frames" in out  # 8 frames at rate 2 on a 30 fps timeline span 8 frames at 15 fps
    data = json.load(open(report))["splits"][0]
    assert data["stats"]["fps"] == {"30.00": 1, "15.00": 1} and data["stats"]["resolutions"] == {"44x36": 2}
    assert sorted(os.path.basename(b["path"]) for b in data["bad"]) == ["corrupt.mp4", "missing.mp4"]
    clean = open(tmp_path / "clean" / "train.csv").read().split("\n")
    assert [os.path.basename(line.split()[0]) for line in clean if line] == ["long.mp4", "short.mp4"]


def test_clean_csv_folder_keeps_the_class_names(checked_dir, tmp_path, load_script, capsys):
    """--write-clean output is a dataset folder: with classes.txt the class names survive the round trip."""
    import shutil

    from video_rs.config import load_cfg
    from video_rs.data.annotations import load_split

    data = tmp_path / "named"
    shutil.copytree(checked_dir, data)
    (data / "classes.txt").write_text("jumping\nair drumming\n")
    (data / "train.csv").write_text("long.mp4 jumping\nshort.mp4 air drumming\nmissing.mp4 jumping\n")
    tool = load_script("tools/check_dataset.py")
    assert tool.main(["--workers", "1", "--splits", "train", "--write-clean", str(tmp_path / "clean")]
                     + common(str(data))) == 1
    capsys.readouterr()
    clean = load_split(load_cfg(None, common(str(tmp_path / "clean"))), "kinetics", "train")
    assert clean.class_names == ["jumping", "air drumming"] and clean.labels == [0, 1]


def test_clean_csvs_of_a_folder_dataset_say_how_to_train_on_them(checked_dir, tmp_path, load_script, capsys):
    """A folder-per-class split becomes path-label CSVs: the tool says to read them as TRAIN.DATASET kinetics."""
    import shutil

    from video_rs.config import load_cfg
    from video_rs.data.annotations import load_split

    for class_name in ("a", "b"):
        os.makedirs(tmp_path / "tree" / "train" / class_name)
        shutil.copy(os.path.join(checked_dir, "long.mp4"), tmp_path / "tree" / "train" / class_name / "v.mp4")
    shutil.copy(os.path.join(checked_dir, "corrupt.mp4"), tmp_path / "tree" / "train" / "b" / "bad.mp4")
    tool = load_script("tools/check_dataset.py")
    clean = str(tmp_path / "clean")
    assert tool.main(["--workers", "1", "--splits", "train", "--write-clean", clean, "TRAIN.DATASET", "folder"]
                     + common(str(tmp_path / "tree"))) == 1
    out = capsys.readouterr().out
    assert f"train on them with TRAIN.DATASET kinetics DATA.PATH_TO_DATA_DIR {clean}" in out
    videos = load_split(load_cfg(None, common(clean)), "kinetics", "train")
    assert videos.labels == [0, 1] and all(os.path.basename(path) == "v.mp4" for path in videos.paths)


def test_check_dataset_passes_a_clean_split(checked_dir, load_script, capsys):
    tool = load_script("tools/check_dataset.py")
    assert tool.main(["--workers", "1", "--splits", "val", "test", "--fail-on-short"] + common(checked_dir)) == 0
    assert capsys.readouterr().out.count("[val] 1 videos: 0 bad") == 1  # TEST.SPLIT is val: checked once


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_benchmark_data_measures_clips_per_second(tiny_synthetic_dataset, tmp_path, load_script, capsys, backend):
    tool = load_script("tools/benchmark_data.py")
    out_json = str(tmp_path / "speed.json")
    code = tool.main(["--backends", backend, "--workers", "0", "--batches", "4", "--warmup", "1", "--json", out_json,
                      "DATA.PATH_TO_DATA_DIR", tiny_synthetic_dataset, "MODEL.NUM_CLASSES", "3", "DATA.NUM_FRAMES", "4",
                      "DATA.TRAIN_CROP_SIZE", "32", "TRAIN.BATCH_SIZE", "4", "DATA_LOADER.PIN_MEMORY", "False"])
    (row,) = json.load(open(out_json))
    assert code == 0 and row["backend"] == backend and row["clips"] == 16 and row["clips_per_second"] > 0
    out = capsys.readouterr().out
    assert backend in out and "1 clip(s) x 1 augmented cop(ies) per decoded video; RandAugment none" in out


def test_benchmark_data_says_when_randaugment_is_left_to_the_device():
    from video_rs.config import load_cfg
    from video_rs.bench.data_throughput import describe_loader

    cfg = load_cfg(None, ["AUG.ENABLE", "True", "AUG.ON_DEVICE", "True", "DATA.TRAIN_CROP_NUM_SPATIAL", "2"])
    assert "1 clip(s) x 2 augmented" in describe_loader(cfg, "train")
    assert "RandAugment on the device (NOT in these numbers)" in describe_loader(cfg, "train")
    assert "RandAugment in the workers" in describe_loader(load_cfg(None, ["AUG.ENABLE", "True"]), "train")


@pytest.fixture(scope="module")
def kinetics_download(tmp_path_factory, write_test_video):
    """What a Kinetics download looks like: official CSV + files named <id>_<start>_<end>.mp4, nested per class."""
    root = tmp_path_factory.mktemp("k400")
    (root / "raw" / "abseiling").mkdir(parents=True)
    frames = np.random.default_rng(0).integers(0, 256, (10, 48, 64, 3), dtype=np.uint8)
    write_test_video(str(root / "raw" / "abseiling" / "aaa_000010_000020.mp4"), frames)
    write_test_video(str(root / "raw" / "bbb.mp4"), frames[:, :, :48])  # downloaded under the bare id
    (root / "train.csv").write_text("label,youtube_id,time_start,time_end,split\n"
                                    "abseiling,aaa,10,20,train\nzumba,bbb,0,10,train\nzumba,ccc,5,15,train\n")
    return root


def test_prepare_kinetics_resizes_resumes_and_reports_missing(kinetics_download, load_script, capsys):
    tool = load_script("datasets/prepare_kinetics.py")
    out = kinetics_download / "k400_32"
    argv = ["--annotations", str(kinetics_download / "train.csv"), "--videos", str(kinetics_download / "raw"),
            "--out", str(out), "--split", "train", "--short-side", "32", "--gop", "4", "--workers", "2",
            "--fast-decode"]
    assert tool.main(argv) == 0
    assert "2 videos in train.csv, 1 missing, 0 failed" in capsys.readouterr().out
    assert open(out / "classes.txt").read().split() == ["abseiling", "zumba"]
    rows = open(out / "train.csv").read().splitlines()
    assert rows == ["train/aaa_000010_000020.mp4 0", "train/bbb_000000_000010.mp4 1"]
    assert "ccc_000005_000015" in open(out / "train_missing.txt").read()
    with av.open(str(out / "train" / "aaa_000010_000020.mp4")) as container:
        stream = container.streams.video[0]
        assert (stream.height, stream.width) == (32, 42)  # 48x64 -> short side 32, even width
        keyframes = sorted(round(float(p.pts * stream.time_base * stream.average_rate))
                           for p in container.demux(stream) if p.size and p.is_keyframe)
        assert keyframes[0] == 0 and max(np.diff(keyframes)) <= 4 and len(keyframes) >= 3  # --gop 4 (x264 default: 250)
        assert stream.frames == 10
    assert b"cabac=0" in open(out / "train" / "aaa_000010_000020.mp4", "rb").read()  # --fast-decode (x264 default: 1)
    with av.open(str(out / "train" / "bbb_000000_000010.mp4")) as container:
        assert (container.streams.video[0].height, container.streams.video[0].width) == (32, 32)
    done = os.path.getmtime(out / "train" / "aaa_000010_000020.mp4")
    assert tool.main(argv) == 0  # resumable: finished videos are skipped
    assert os.path.getmtime(out / "train" / "aaa_000010_000020.mp4") == done
