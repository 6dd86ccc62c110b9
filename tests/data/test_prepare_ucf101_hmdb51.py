"""datasets/prepare_ucf101_hmdb51.py on tiny UCF101 / HMDB51 trees of real .avi (MPEG-4 part 2) videos."""
import os

import av
import numpy as np
import pytest

from video_rs.config import load_cfg
from video_rs.data.annotations import load_split, read_hmdb51, read_ucf101
from video_rs.data.decoders import open_video

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs")
NUM_FRAMES = 10


def write_avi(path, height=48, width=64, seed=0):
    """A 10-frame 25 fps .avi as the datasets ship them (mpeg4 in AVI), random content."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    frames = np.random.default_rng(seed).integers(0, 256, (NUM_FRAMES, height, width, 3), dtype=np.uint8)
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def run_tool(load_script, capsys, *args):
    tool = load_script("datasets/prepare_ucf101_hmdb51.py")
    assert tool.main([str(arg) for arg in args]) == 0
    return capsys.readouterr().out


def mtimes(paths):
    return {path: os.path.getmtime(path) for path in paths}


def assert_resized(path, size):
    with open_video(path, "pyav") as video:
        assert (video.info.height, video.info.width, video.num_frames) == (*size, NUM_FRAMES)
        assert video.get([0, NUM_FRAMES - 1]).shape == (2, *size, 3)


@pytest.fixture(scope="module")
def ucf101_raw(tmp_path_factory):
    """UCF-101/<Class>/v_*.avi and ucfTrainTestlist/ (CRLF, as shipped); g03 not on disk, g04 not a video."""
    root = tmp_path_factory.mktemp("ucf101_raw")
    for seed, name in enumerate(["ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01", "ApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01",
                                 "Basketball/v_Basketball_g01_c01", "Basketball/v_Basketball_g02_c01"]):
        write_avi(root / "UCF-101" / f"{name}.avi", seed=seed)
    (root / "UCF-101" / "Basketball" / "v_Basketball_g04_c01.avi").write_bytes(b"RIFF not really a video")
    lists = root / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_bytes(b"1 ApplyEyeMakeup\r\n2 Basketball\r\n")
    (lists / "trainlist01.txt").write_bytes(b"ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi 1\r\n"
                                            b"Basketball/v_Basketball_g01_c01.avi 2\r\n"
                                            b"Basketball/v_Basketball_g04_c01.avi 2\r\n")
    (lists / "testlist01.txt").write_bytes(b"ApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01.avi\r\n"
                                           b"Basketball/v_Basketball_g02_c01.avi\r\n"
                                           b"Basketball/v_Basketball_g03_c01.avi\r\n")
    return root


def test_prepare_ucf101_resizes_rewrites_the_lists_reports_and_resumes(ucf101_raw, tmp_path, load_script, capsys):
    out = tmp_path / "ucf101_32"
    args = ["--dataset", "ucf101", "--videos", ucf101_raw / "UCF-101", "--splits", ucf101_raw, "--out", out,
            "--short-side", "32", "--gop", "4", "--workers", "2", "--fast-decode"]
    summary = run_tool(load_script, capsys, *args)
    assert "ucf101: 6 videos in the split files: 4 resized, 0 already done, 1 missing, 1 failed" in summary
    assert b"cabac=0" in open(out / "Basketball" / "v_Basketball_g01_c01.mp4", "rb").read()  # --fast-decode

    train, test = read_ucf101(str(out), "train", 1), read_ucf101(str(out), "test", 1)
    assert train.paths == [str(out / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g01_c01.mp4"),
                           str(out / "Basketball" / "v_Basketball_g01_c01.mp4")]  # g04 (failed) left out
    assert test.paths == [str(out / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g02_c01.mp4"),
                          str(out / "Basketball" / "v_Basketball_g02_c01.mp4")]  # g03 (missing) left out
    assert train.labels == test.labels == [0, 1] and train.class_names == ["ApplyEyeMakeup", "Basketball"]
    # the shipped config reads the prepared folder with only the data folder (and, for this toy, the class count) set
    cfg = load_cfg(os.path.join(CONFIGS, "ucf101", "3d_resnetrs50_finetune.yaml"),
                   ["DATA.PATH_TO_DATA_DIR", str(out), "MODEL.NUM_CLASSES", "2"])
    assert load_split(cfg, cfg.TRAIN.DATASET, cfg.TRAIN.SPLIT).paths == train.paths
    for path in train.paths + test.paths:
        assert_resized(path, (32, 42))  # 48 x 64 -> short side 32, even width
    assert (out / "missing.txt").read_text() == "Basketball/v_Basketball_g03_c01.avi\n"
    (failed,) = (out / "failed.txt").read_text().splitlines()
    assert failed.startswith("Basketball/v_Basketball_g04_c01.avi\t")

    (out / "Basketball" / "v_Basketball_g02_c01.mp4").write_bytes(b"half a file")  # exists but does not decode
    done = mtimes(train.paths + test.paths[:1])
    summary = run_tool(load_script, capsys, *args)
    assert "4 resized" not in summary and "1 resized, 3 already done, 1 missing, 1 failed" in summary
    assert mtimes(done) == done
    assert_resized(test.paths[1], (32, 42))
    assert read_ucf101(str(out), "test", 1).paths == test.paths


HMDB_A = "#20_Brushing_Hair_(Beauty)!_brush_hair_f_nm_np1_ba_goo_0"  # HMDB51 names carry such characters


@pytest.fixture(scope="module")
def hmdb51_raw(tmp_path_factory):
    """hmdb51_org/<class>/*.avi and two splits; gone.avi (used) and unused.avi (0 in every split) not on disk."""
    root = tmp_path_factory.mktemp("hmdb51_raw")
    videos = root / "hmdb51_org"
    write_avi(videos / "brush_hair" / f"{HMDB_A}.avi", seed=0)
    write_avi(videos / "brush_hair" / "b.avi", seed=1)
    write_avi(videos / "brush_hair" / "c.avi", height=64, width=48, seed=2)  # portrait
    write_avi(videos / "cartwheel" / "d.avi", seed=3)
    write_avi(videos / "cartwheel" / "e.avi", seed=4)
    splits = root / "testTrainMulti_7030_splits"
    splits.mkdir()
    (splits / "brush_hair_test_split1.txt").write_text(f"{HMDB_A}.avi 1 \nb.avi 2 \nc.avi 0 \n")
    (splits / "brush_hair_test_split2.txt").write_text(f"{HMDB_A}.avi 2 \nb.avi 0 \nc.avi 1 \n")
    (splits / "cartwheel_test_split1.txt").write_text("d.avi 1 \ne.avi 2 \nunused.avi 0 \n")
    (splits / "cartwheel_test_split2.txt").write_text("d.avi 2 \ne.avi 1 \nunused.avi 0 \ngone.avi 1 \n")
    return root


def test_prepare_hmdb51_resizes_the_used_videos_rewrites_the_splits_and_resumes(hmdb51_raw, tmp_path, load_script,
                                                                               capsys):
    out = tmp_path / "hmdb51_32"
    # --videos is the parent of hmdb51_org/: the class folders are found below it
    args = ["--dataset", "hmdb51", "--videos", hmdb51_raw, "--splits", hmdb51_raw / "testTrainMulti_7030_splits",
            "--out", out, "--short-side", "32", "--gop", "4", "--workers", "1"]
    summary = run_tool(load_script, capsys, *args)
    assert "hmdb51: 6 videos in the split files: 5 resized, 0 already done, 1 missing, 0 failed" in summary

    brush, cart = out / "brush_hair", out / "cartwheel"
    expected = {(1, "train"): ([brush / f"{HMDB_A}.mp4", cart / "d.mp4"], [0, 1]),
                (1, "test"): ([brush / "b.mp4", cart / "e.mp4"], [0, 1]),
                (2, "train"): ([brush / "c.mp4", cart / "e.mp4"], [0, 1]),  # gone.avi (missing) left out
                (2, "test"): ([brush / f"{HMDB_A}.mp4", cart / "d.mp4"], [0, 1])}
    for (split_id, split), (paths, labels) in expected.items():
        videos = read_hmdb51(str(out), split, split_id)
        assert (videos.paths, videos.labels) == ([str(path) for path in paths], labels), (split_id, split)
        assert videos.class_names == ["brush_hair", "cartwheel"]
    cfg = load_cfg(os.path.join(CONFIGS, "hmdb51", "3d_resnetrs50_finetune.yaml"),
                   ["DATA.PATH_TO_DATA_DIR", str(out), "MODEL.NUM_CLASSES", "2"])
    assert load_split(cfg, cfg.TEST.DATASET, cfg.TEST.SPLIT).paths == [str(brush / "b.mp4"), str(cart / "e.mp4")]
    for path in (brush / f"{HMDB_A}.mp4", brush / "b.mp4", cart / "d.mp4", cart / "e.mp4"):
        assert_resized(path, (32, 42))
    assert_resized(brush / "c.mp4", (42, 32))  # portrait: the width is the short side
    assert not (cart / "unused.mp4").exists()  # 0 in every split: not needed, not missing
    assert (out / "missing.txt").read_text() == "cartwheel/gone.avi\n"
    assert (out / "failed.txt").read_text() == ""

    done = mtimes(sorted(str(path) for path in out.rglob("*.mp4")))
    assert len(done) == 5
    summary = run_tool(load_script, capsys, *args)
    assert "0 resized, 5 already done, 1 missing, 0 failed" in summary
    assert mtimes(done) == done


def test_prepare_names_absent_split_files_and_will_not_overwrite_them(tmp_path, load_script, capsys):
    (tmp_path / "trainlist01.txt").write_text("A/v_A_g01_c01.avi 1\n")  # classInd.txt absent
    tool = load_script("datasets/prepare_ucf101_hmdb51.py")
    (tmp_path / "ucfTrainTestlist").mkdir()
    (tmp_path / "ucfTrainTestlist" / "classInd.txt").write_text("1 A\n")
    (tmp_path / "ucfTrainTestlist" / "trainlist01.txt").write_text("A/v_A_g01_c01.avi 1\n")
    for dataset, splits, out, expected in (("hmdb51", tmp_path, tmp_path / "out", "_test_split"),
                                           ("ucf101", tmp_path, tmp_path / "out", "classInd.txt not found"),
                                           ("ucf101", tmp_path / "ucfTrainTestlist", tmp_path, "overwrite")):
        with pytest.raises(SystemExit):
            tool.main(["--dataset", dataset, "--videos", str(tmp_path), "--splits", str(splits), "--out", str(out)])
        assert expected in capsys.readouterr().err
    assert (tmp_path / "ucfTrainTestlist" / "trainlist01.txt").read_text() == "A/v_A_g01_c01.avi 1\n"
