"""Annotation readers: Kinetics CSVs, UCF101 / HMDB51 split files, folders; errors name file and line."""
import json
import os
import re

import numpy as np
import pytest

from video_rs.config import load_cfg
from video_rs.data.annotations import (AnnotationError, load_split, read_folder, read_hmdb51, read_kinetics,
                                       read_path_label_file, read_ucf101, split_path_label)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    return path


@pytest.mark.parametrize("line,expected", [
    ("a/b.mp4 3", ("a/b.mp4", "3")),
    ("a/b.mp4,3", ("a/b.mp4", "3")),
    ("dir with spaces/my video.mp4 12", ("dir with spaces/my video.mp4", "12")),
    ("x,y.mp4, 7\n", ("x,y.mp4", "7")),
    ("abseiling/v 1.mp4\tabseiling", ("abseiling/v 1.mp4", "abseiling")),
    ("lonely.mp4", None),
])
def test_rows_split_from_the_right(line, expected):
    assert split_path_label(line) == expected


def test_kinetics_csv_paths_labels_and_class_names(tmp_path):
    root = str(tmp_path)
    write(f"{root}/classes.txt", "abseiling\nair drumming\nzumba\n")
    write(f"{root}/train.csv", "a/x 1.mp4 0\n/abs/y.mp4,2\n\n# comment\nb/z.mp4 air drumming\nc/w 2.mp4,zumba\n")
    videos = read_kinetics(root, "train", num_classes=3)
    assert videos.paths == [f"{root}/a/x 1.mp4", "/abs/y.mp4", f"{root}/b/z.mp4", f"{root}/c/w 2.mp4"]  # CSV-relative
    assert videos.labels == [0, 2, 1, 2] and videos.class_names == ["abseiling", "air drumming", "zumba"]
    prefixed = read_kinetics(root, "train", path_prefix="/data/k400", num_classes=3)
    assert prefixed.paths[0] == "/data/k400/a/x 1.mp4" and prefixed.paths[1] == "/abs/y.mp4"


def test_class_names_from_json(tmp_path):
    root = str(tmp_path)
    write(f"{root}/classnames.json", json.dumps({"b": 1, "a": 0}))
    write(f"{root}/val.csv", "v.mp4 b\n")
    assert read_kinetics(root, "val", num_classes=2).labels == [1]


@pytest.mark.parametrize("row,message", [
    ("justonefield", "expected 'path label'"),
    ("v.mp4 7", "label 7 outside [0, 3)"),
    ("v.mp4 -1", "label -1 outside"),
    ("v.mp4 walking", "unknown class name 'walking'"),
])
def test_bad_rows_fail_naming_file_and_line(tmp_path, row, message):
    path = write(str(tmp_path / "train.csv"), f"ok.mp4 0\n{row}\n")
    with pytest.raises(AnnotationError, match=re.escape(message)) as caught:
        read_path_label_file(path, num_classes=3)
    assert f"{path}:2" in str(caught.value)


def test_missing_csv_and_class_count_mismatch(tmp_path):
    with pytest.raises(AnnotationError, match="not found"):
        read_kinetics(str(tmp_path), "train", num_classes=3)
    write(str(tmp_path / "classes.txt"), "a\nb\n")
    write(str(tmp_path / "train.csv"), "v.mp4 0\n")
    with pytest.raises(AnnotationError, match="2 classes but MODEL.NUM_CLASSES = 3"):
        read_kinetics(str(tmp_path), "train", num_classes=3)


@pytest.fixture
def ucf_dir(tmp_path):
    lists = tmp_path / "ucfTrainTestlist"
    write(str(lists / "classInd.txt"), "1 ApplyEyeMakeup\n2 Archery\n3 YoYo\n")
    write(str(lists / "trainlist02.txt"), "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\nYoYo/v_YoYo_g09_c02.avi 3\n")
    write(str(lists / "testlist02.txt"), "Archery/v_Archery_g01_c01.avi\nYoYo/v_YoYo_g01_c01.avi\n")
    return str(tmp_path)


def test_ucf101_split_files(ucf_dir):
    train = read_ucf101(ucf_dir, "train", 2, path_prefix="/videos/UCF-101", num_classes=3)
    assert train.paths == ["/videos/UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi",
                           "/videos/UCF-101/YoYo/v_YoYo_g09_c02.avi"]
    assert train.labels == [0, 2] and train.class_names == ["ApplyEyeMakeup", "Archery", "YoYo"]
    test = read_ucf101(ucf_dir, "test", 2, num_classes=3)
    assert test.labels == [1, 2] and test.paths[0] == os.path.join(ucf_dir, "Archery/v_Archery_g01_c01.avi")
    with pytest.raises(AnnotationError, match="testlist01.txt not found"):
        read_ucf101(ucf_dir, "val", 1, num_classes=3)


def test_ucf101_label_that_contradicts_the_folder_names_the_line(ucf_dir):
    write(os.path.join(ucf_dir, "ucfTrainTestlist", "trainlist01.txt"), "Archery/v_a.avi 2\nYoYo/v_b.avi 1\n")
    with pytest.raises(AnnotationError, match=r"trainlist01.txt:2: label '1' does not match class 'YoYo'"):
        read_ucf101(ucf_dir, "train", 1, num_classes=3)


def test_hmdb51_split_files(tmp_path):
    splits = tmp_path / "testTrainMulti_7030_splits"
    write(str(splits / "brush_hair_test_split1.txt"), "b1.avi 1 \nb2.avi 2 \nb3.avi 0 \n")
    write(str(splits / "cartwheel_test_split1.txt"), "c1.avi 2\nc2.avi 1\n")
    train = read_hmdb51(str(tmp_path), "train", 1, path_prefix="/hmdb", num_classes=2)
    assert train.paths == ["/hmdb/brush_hair/b1.avi", "/hmdb/cartwheel/c2.avi"] and train.labels == [0, 1]
    test = read_hmdb51(str(tmp_path), "test", 1, num_classes=2)
    assert [os.path.basename(p) for p in test.paths] == ["b2.avi", "c1.avi"] and test.labels == [0, 1]
    assert test.class_names == ["brush_hair", "cartwheel"]
    write(str(splits / "cartwheel_test_split1.txt"), "c1.avi 2\nc2.avi 5\n")
    with pytest.raises(AnnotationError, match="cartwheel_test_split1.txt:2"):
        read_hmdb51(str(tmp_path), "train", 1, num_classes=2)
    with pytest.raises(AnnotationError, match="_test_split2.txt"):
        read_hmdb51(str(tmp_path), "train", 2, num_classes=2)


def test_folder_per_class_with_and_without_split_folders(tmp_path):
    for split, names in (("train", ["dog", "cat"]), ("val", ["cat"])):
        for name in names:
            write(str(tmp_path / split / name / "a.mp4"), "")
            write(str(tmp_path / split / name / "notes.txt"), "")
    train = read_folder(str(tmp_path), "train", num_classes=2)
    assert train.class_names == ["cat", "dog"] and train.labels == [0, 1]
    val = read_folder(str(tmp_path), "val", num_classes=2)
    assert val.labels == [0] and val.paths == [str(tmp_path / "val" / "cat" / "a.mp4")]
    flat = tmp_path / "flat"
    write(str(flat / "run" / "1.avi"), "")
    write(str(flat / "jump" / "2.webm"), "")
    assert read_folder(str(flat), "test").labels == [0, 1]  # no split folders: every split reads all
    write(str(tmp_path / "val" / "horse" / "h.mp4"), "")
    with pytest.raises(AnnotationError, match="horse: class folder not among"):
        read_folder(str(tmp_path), "val", num_classes=2)
    with pytest.raises(AnnotationError, match=r"has split folders \(train, val\) but no test/ folder for the 'test'"):
        read_folder(str(tmp_path), "test", num_classes=2)  # was: "train: class folder not among the 2 known classes"


def test_load_split_dispatches_on_the_dataset_kind(ucf_dir):
    cfg = load_cfg(None, ["DATA.PATH_TO_DATA_DIR", ucf_dir, "MODEL.NUM_CLASSES", "3", "DATA.SPLIT_ID", "2",
                          "TRAIN.DATASET", "ucf101"])
    assert len(load_split(cfg, "ucf101", "train")) == 2
    with pytest.raises(AnnotationError, match="MODEL.NUM_CLASSES = 400"):
        load_split(load_cfg(None, ["DATA.PATH_TO_DATA_DIR", ucf_dir, "DATA.SPLIT_ID", "2"]), "ucf101", "train")
    with pytest.raises(AnnotationError, match="not a folder"):
        load_split(load_cfg(None, ["DATA.PATH_TO_DATA_DIR", "/does/not/exist"]), "kinetics", "train")


REQUIRED_EXTENSIONS = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ts", ".flv", ".3gp", ".wmv",
                       ".ivf", ".ogv")


def test_folder_datasets_read_every_container_and_name_skipped_files_once(tmp_path, write_test_video, caplog):
    """Files in .ivf, .flv, .3gp, .ts, .wmv (any case) were skipped without a word."""
    from video_rs.data.check import check_video

    frames = np.zeros((4, 36, 44, 3), dtype=np.uint8)
    (tmp_path / "walk").mkdir()
    names = [f"v{i}{ext.upper() if i % 2 else ext}" for i, ext in enumerate(REQUIRED_EXTENSIONS)]
    for name in names:  # one H.264 stream under every name: FFmpeg opens by content, as it does for real downloads
        write_test_video(str(tmp_path / "walk" / name), frames)
    for junk in ("notes.txt", "thumb.jpg", "labels.csv", ".DS_Store"):
        write(str(tmp_path / "walk" / junk), "")
    with caplog.at_level("WARNING", logger="video_rs.data"):
        videos = read_folder(str(tmp_path), "train", num_classes=1)
    assert sorted(os.path.basename(p) for p in videos.paths) == sorted(names)
    assert all(check_video(path, 0, "pyav").ok for path in videos.paths)
    warnings = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(warnings) == 1 and "skipped 3 file(s)" in warnings[0]
    assert all(os.path.join("walk", junk) in warnings[0] for junk in ("notes.txt", "thumb.jpg", "labels.csv"))
    assert ".DS_Store" not in warnings[0]


def test_class_name_file_errors_name_the_file(tmp_path):
    """A classes.txt left in the folder broke later runs with messages that never named it."""
    classes = write(str(tmp_path / "classes.txt"), "up\ndown\nleft\n")
    write(str(tmp_path / "run" / "a.mp4"), "")
    with pytest.raises(AnnotationError, match=re.escape(f"{classes} defines 3 classes but MODEL.NUM_CLASSES = 1")):
        read_folder(str(tmp_path), "train", num_classes=1)
    with pytest.raises(AnnotationError, match=re.escape(f"not among the 3 known classes (the names in {classes})")):
        read_folder(str(tmp_path), "train", num_classes=3)
    write(str(tmp_path / "train.csv"), "a.mp4 walking\n")
    with pytest.raises(AnnotationError, match=re.escape(f"from {classes}")):
        read_kinetics(str(tmp_path), "train", num_classes=3)
    with pytest.raises(AnnotationError, match=re.escape(f"{classes} defines 3 classes")):
        read_kinetics(str(tmp_path), "train", num_classes=2)


def test_a_csv_saved_with_a_byte_order_mark_keeps_its_first_row(tmp_path):
    """Excel and many Windows editors start UTF-8 files with a BOM; the first path must not absorb it."""
    (tmp_path / "classes.txt").write_bytes("\ufeffcafé\nabseiling\n".encode("utf-8"))
    (tmp_path / "train.csv").write_bytes("\ufeffa.mp4 café\r\nb.mp4 1\r\n".encode("utf-8"))
    videos = read_kinetics(str(tmp_path), "train")
    assert videos.paths == [str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4")] and videos.labels == [0, 1]
    assert videos.class_names == ["café", "abseiling"]


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
def test_a_csv_in_another_encoding_fails_naming_file_and_line(tmp_path, encoding):
    csv = tmp_path / "train.csv"
    csv.write_bytes("a.mp4 0\nb.mp4 0\ncafé.mp4 1\n".encode(encoding))
    line = 3 if encoding == "latin-1" else 1  # UTF-16's own BOM is the first undecodable byte
    with pytest.raises(AnnotationError, match=rf"^{re.escape(str(csv))}:{line}: not UTF-8 text .*save the file as "
                                              "UTF-8"):
        read_path_label_file(str(csv))


@pytest.mark.parametrize("mode", ["train", "val", "test"])
def test_an_empty_list_is_named_as_empty(tmp_path, mode):
    """Not "lower TRAIN.BATCH_SIZE" for training, nor a test that scores nothing and succeeds."""
    from video_rs.data import build_loader

    for split in ("train", "val", "test"):
        write(str(tmp_path / f"{split}.csv"), "# no rows yet\n" if split == mode else "a.mp4 0\n")
    cfg = load_cfg(None, ["DATA.PATH_TO_DATA_DIR", str(tmp_path), "MODEL.NUM_CLASSES", "2", "TEST.SPLIT", "test"])
    with pytest.raises(AnnotationError, match=rf"^{re.escape(str(tmp_path / (mode + '.csv')))}: the '{mode}' list "
                                              "is empty: no videos to read"):
        build_loader(cfg, mode)
