"""Which videos a split holds and their labels: Kinetics-style CSVs, UCF101 / HMDB51 split files, folders.

Every reader returns a `VideoList`; every malformed row, unknown class or out-of-range label fails
at start-up with an `AnnotationError` naming the file and line, not hours later in a worker.

Relative video paths are joined with `DATA.PATH_PREFIX` when it is set, else with the folder of the
annotation file, so a dataset folder (CSV next to its videos) can be moved as a whole.
"""
from __future__ import annotations

import codecs
import glob
import io
import json
import logging
import os
import re
from dataclasses import dataclass
from typing import Sequence

# every container PyAV (FFmpeg) opens that videos are commonly stored in; compared case-insensitively
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".m2v", ".vob", ".ts", ".mts",
                    ".m2ts", ".flv", ".f4v", ".3gp", ".3g2", ".wmv", ".asf", ".ivf", ".ogv", ".ogg", ".mxf", ".dv",
                    ".y4m", ".divx", ".rm", ".rmvb", ".nut")
DATASETS = ("kinetics", "ucf101", "hmdb51", "folder")
CLASS_FILE_NAMES = ("classes.txt", "classnames.json", "class_names.json", "classes.json")
logger = logging.getLogger("video_rs.data")


class AnnotationError(ValueError):
    """An annotation file (or layout) that cannot be used; the message names the file and line."""


@dataclass
class VideoList:
    paths: list[str]
    labels: list[int]
    class_names: list[str] | None = None
    source: str = ""  # the file or folder the list came from, for messages

    def __len__(self) -> int:
        return len(self.paths)


def _resolve(path: str, prefix: str, fallback_dir: str) -> str:
    path = os.path.expanduser(path)
    if os.path.isabs(path):
        return path
    return os.path.join(prefix or fallback_dir, path)


def _check_label(label: int, num_classes: int | None, where: str) -> None:
    if label < 0 or (num_classes is not None and label >= num_classes):
        bound = f"[0, {num_classes})" if num_classes is not None else ">= 0"
        raise AnnotationError(f"{where}: label {label} outside {bound} (MODEL.NUM_CLASSES = {num_classes})")


def open_annotation(path: str) -> io.StringIO:
    """An annotation file as text: UTF-8, with or without the byte-order mark Excel writes.

    Any other encoding (Latin-1, UTF-16) stops with the file and line at fault, not a traceback
    or a first path that silently starts with an invisible character.
    """
    with open(path, "rb") as handle:
        data = handle.read()
    data = data[len(codecs.BOM_UTF8):] if data.startswith(codecs.BOM_UTF8) else data  # "utf-8-sig"
    try:
        return io.StringIO(data.decode("utf-8"), newline=None)
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise AnnotationError(f"{path}:{line}: not UTF-8 text (byte {data[err.start:err.start + 1]!r}); "
                              "save the file as UTF-8") from None


def read_class_names(path: str) -> list[str]:
    """`classes.txt` (one name per line, line i = class i) or JSON (`{name: index}` or `[name, ...]`)."""
    with open_annotation(path) as handle:
        text = handle.read()
    if path.endswith(".json"):
        data = json.loads(text)
        if isinstance(data, dict):
            names = [None] * len(data)
            for name, index in data.items():
                if not isinstance(index, int) or not 0 <= index < len(data) or names[index] is not None:
                    raise AnnotationError(f"{path}: class {name!r} has index {index!r}; indices must be 0..{len(data) - 1}, "
                                          "each once")
                names[index] = name
            return names
        return [str(name) for name in data]
    return [line.strip() for line in text.splitlines() if line.strip()]


def find_class_file(data_dir: str, class_names_file: str = "") -> str | None:
    """The class-name file named by the config, else the first of CLASS_FILE_NAMES in `data_dir` (or None)."""
    if class_names_file:
        if not os.path.isfile(class_names_file):
            raise AnnotationError(f"DATA.CLASS_NAMES_FILE not found: {class_names_file}")
        return class_names_file
    for name in CLASS_FILE_NAMES:
        candidate = os.path.join(data_dir, name)
        if os.path.isfile(candidate):
            return candidate
    return None


def find_class_names(data_dir: str, class_names_file: str = "") -> list[str] | None:
    """The names in `find_class_file`'s file (None without one)."""
    path = find_class_file(data_dir, class_names_file)
    return read_class_names(path) if path else None


def split_path_label(line: str, class_names: Sequence[str] = ()) -> tuple[str, str] | None:
    """'dir/a b.mp4 3', 'a.mp4,3' or 'a.mp4,air drumming' -> (path, label), split from the right.

    The last space wins unless only the last comma (or a known class name with spaces) gives a valid
    label, so paths may hold spaces and labels may be Kinetics class names.
    """
    line = line.strip()
    candidates = []
    for separator in (max(line.rfind(" "), line.rfind("\t")), line.rfind(",")):
        if separator > 0:
            candidates.append((line[:separator].rstrip(" ,\t"), line[separator + 1:].strip()))
    known = set(class_names)
    candidates += [(line[:-len(name)].rstrip(" ,\t"), name) for name in known
                   if " " in name and line.endswith(name) and line[:-len(name)][-1:] in (" ", ",", "\t")]
    candidates = [(path, label) for path, label in candidates if path and label]
    for path, label in candidates:
        if re.fullmatch(r"-?\d+", label) or label in known:
            return path, label
    return candidates[0] if candidates else None


def read_path_label_file(path: str, *, path_prefix: str = "", num_classes: int | None = None,
                         class_names: list[str] | None = None, class_file: str = "") -> VideoList:
    """PySlowFast's layout: one `path label` row per video; the label an index or a class name.

    `class_file` is where `class_names` came from, for messages.
    """
    if not os.path.isfile(path):
        raise AnnotationError(f"annotation file not found: {path}")
    by_name = {name: index for index, name in enumerate(class_names or [])}
    paths, labels = [], []
    with open_annotation(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            where = f"{path}:{number}"
            parts = split_path_label(line, class_names or ())
            if parts is None:
                raise AnnotationError(f"{where}: expected 'path label' (space or comma separated), got {line.strip()!r}")
            video, label_text = parts
            if re.fullmatch(r"-?\d+", label_text):
                label = int(label_text)
            elif label_text in by_name:
                label = by_name[label_text]
            else:
                known = "no class-name file was found" if not by_name else \
                    f"known classes{f' (from {class_file})' if class_file else ''}: {list(by_name)[:5]}..."
                raise AnnotationError(f"{where}: unknown class name {label_text!r} ({known})")
            _check_label(label, num_classes, where)
            paths.append(_resolve(video, path_prefix, os.path.dirname(path)))
            labels.append(label)
    return VideoList(paths, labels, class_names, source=path)


def read_kinetics(data_dir: str, split: str, *, path_prefix: str = "", num_classes: int | None = None,
                  class_names_file: str = "") -> VideoList:
    """`<data_dir>/<split>.csv` (train.csv, val.csv, test.csv) with optional classes.txt / JSON."""
    class_file = find_class_file(data_dir, class_names_file)
    names = read_class_names(class_file) if class_file else None
    if names is not None:
        _check_class_count(names, num_classes, class_file)
    return read_path_label_file(os.path.join(data_dir, f"{split}.csv"), path_prefix=path_prefix,
                                num_classes=num_classes, class_names=names, class_file=class_file or "")


def _find_one(data_dir: str, subdirs: tuple[str, ...], name: str) -> str:
    for folder in ("",) + subdirs:
        candidate = os.path.join(data_dir, folder, name)
        if os.path.isfile(candidate):
            return candidate
    raise AnnotationError(f"{name} not found in {data_dir} (nor in {', '.join(subdirs)}/ there)")


def read_ucf101(data_dir: str, split: str, split_id: int, *, path_prefix: str = "",
                num_classes: int | None = None) -> VideoList:
    """classInd.txt + trainlist0N.txt ("Class/v_x.avi 1", 1-based) / testlist0N.txt ("Class/v_x.avi").

    "train" reads the train list; "val" and "test" read the test list (UCF101 has no validation split).
    """
    subdirs = ("ucfTrainTestlist",)
    class_file = _find_one(data_dir, subdirs, "classInd.txt")
    names: list[str] = []
    with open_annotation(class_file) as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or not fields[0].isdigit() or int(fields[0]) != len(names) + 1:
                raise AnnotationError(f"{class_file}:{number}: expected '{len(names) + 1} ClassName', got {line.strip()!r}")
            names.append(fields[1])
    _check_class_count(names, num_classes, class_file)
    list_file = _find_one(data_dir, subdirs, f"{'train' if split == 'train' else 'test'}list0{split_id}.txt")
    by_name = {name: index for index, name in enumerate(names)}
    paths, labels = [], []
    with open_annotation(list_file) as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            where = f"{list_file}:{number}"
            video = fields[0]
            class_name = video.replace("\\", "/").split("/")[0]
            if class_name not in by_name:
                raise AnnotationError(f"{where}: unknown class folder {class_name!r} (not in {class_file})")
            label = by_name[class_name]
            if len(fields) > 1 and (not fields[1].isdigit() or int(fields[1]) - 1 != label):
                raise AnnotationError(f"{where}: label {fields[1]!r} does not match class {class_name!r} "
                                      f"(= {label + 1} in {class_file})")
            _check_label(label, num_classes, where)
            paths.append(_resolve(video, path_prefix, data_dir))
            labels.append(label)
    return VideoList(paths, labels, names, source=list_file)


def _check_class_count(names: list[str], num_classes: int | None, source: str) -> None:
    if num_classes is not None and len(names) != num_classes:
        raise AnnotationError(f"{source} defines {len(names)} classes but MODEL.NUM_CLASSES = {num_classes}")


def read_hmdb51(data_dir: str, split: str, split_id: int, *, path_prefix: str = "",
                num_classes: int | None = None) -> VideoList:
    """`<class>_test_split<N>.txt` files ("video.avi 1"): 1 = train, 2 = test, 0 = unused.

    Videos live at `<class>/<video>`; classes are the file-name prefixes, sorted.
    """
    pattern = f"*_test_split{split_id}.txt"
    files = []
    for folder in ("", "testTrainMulti_7030_splits"):
        files = sorted(glob.glob(os.path.join(data_dir, folder, pattern)))
        if files:
            break
    if not files:
        raise AnnotationError(f"no {pattern} in {data_dir} (nor in testTrainMulti_7030_splits/ there)")
    names = [os.path.basename(f)[: -len(f"_test_split{split_id}.txt")] for f in files]
    _check_class_count(names, num_classes, os.path.dirname(files[0]))
    wanted = "1" if split == "train" else "2"
    paths, labels = [], []
    for label, (class_name, split_file) in enumerate(zip(names, files)):
        with open_annotation(split_file) as handle:
            for number, line in enumerate(handle, start=1):
                fields = line.split()
                if not fields:
                    continue
                if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
                    raise AnnotationError(f"{split_file}:{number}: expected 'video.avi 0|1|2', got {line.strip()!r}")
                if fields[1] == wanted:
                    paths.append(_resolve(os.path.join(class_name, fields[0]), path_prefix, data_dir))
                    labels.append(label)
    return VideoList(paths, labels, names, source=os.path.dirname(files[0]))


def read_folder(data_dir: str, split: str, *, num_classes: int | None = None, class_names_file: str = "") -> VideoList:
    """`<data_dir>/<split>/<class>/<video>` (or `<data_dir>/<class>/<video>` for every split).

    Classes: the class-name file when there is one, else the sorted class folders of the train split.
    """
    root = os.path.join(data_dir, split) if os.path.isdir(os.path.join(data_dir, split)) else data_dir
    split_folders = [name for name in ("train", "val", "test") if os.path.isdir(os.path.join(data_dir, name))]
    if root == data_dir and split_folders:  # a split layout without this split (not a flat one)
        raise AnnotationError(f"{data_dir} has split folders ({', '.join(split_folders)}) but no {split}/ folder "
                              f"for the {split!r} split")
    class_file = find_class_file(data_dir, class_names_file)
    if class_file:
        names = read_class_names(class_file)
    else:
        reference = os.path.join(data_dir, "train") if os.path.isdir(os.path.join(data_dir, "train")) else root
        names = sorted(d for d in os.listdir(reference) if os.path.isdir(os.path.join(reference, d)))
    if not names:
        raise AnnotationError(f"{class_file or root}: no class {'names' if class_file else 'folders'} found")
    _check_class_count(names, num_classes, class_file or root)
    by_name = {name: index for index, name in enumerate(names)}
    paths, labels, skipped = [], [], []
    for class_name in sorted(os.listdir(root)):
        folder = os.path.join(root, class_name)
        if not os.path.isdir(folder):
            continue
        if class_name not in by_name:
            raise AnnotationError(f"{folder}: class folder not among the {len(names)} known classes"
                                  + (f" (the names in {class_file})" if class_file else ""))
        for file_name in sorted(os.listdir(folder)):
            if file_name.lower().endswith(VIDEO_EXTENSIONS):
                paths.append(os.path.join(folder, file_name))
                labels.append(by_name[class_name])
            elif not file_name.startswith("."):  # hidden files (.DS_Store) are no one's videos
                skipped.append(os.path.join(class_name, file_name))
    if not paths:
        raise AnnotationError(f"{root}: no video files ({', '.join(VIDEO_EXTENSIONS)}) in its class folders"
                              + (f"; skipped {name_a_few(skipped)}" if skipped else ""))
    if skipped:
        logger.warning("%s: skipped %d file(s) whose extension is not a video's (%s): %s", root, len(skipped),
                       " ".join(VIDEO_EXTENSIONS), name_a_few(skipped))
    return VideoList(paths, labels, names, source=root)


def name_a_few(names: Sequence[str], shown: int = 5) -> str:
    """'a, b, c and 7 more': a few names of a long list, for one-line messages."""
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


def load_split(cfg, dataset: str, split: str) -> VideoList:
    """The videos of `split` of `dataset` ("kinetics", "ucf101", "hmdb51", "folder") as the config says."""
    data_dir, prefix, num_classes = cfg.DATA.PATH_TO_DATA_DIR, cfg.DATA.PATH_PREFIX, cfg.MODEL.NUM_CLASSES
    if not data_dir or not os.path.isdir(data_dir):
        raise AnnotationError(f"DATA.PATH_TO_DATA_DIR is not a folder: {data_dir!r}")
    if dataset == "kinetics":
        return read_kinetics(data_dir, split, path_prefix=prefix, num_classes=num_classes,
                             class_names_file=cfg.DATA.CLASS_NAMES_FILE)
    if dataset == "ucf101":
        return read_ucf101(data_dir, split, cfg.DATA.SPLIT_ID, path_prefix=prefix, num_classes=num_classes)
    if dataset == "hmdb51":
        return read_hmdb51(data_dir, split, cfg.DATA.SPLIT_ID, path_prefix=prefix, num_classes=num_classes)
    if dataset == "folder":
        return read_folder(data_dir, split, num_classes=num_classes, class_names_file=cfg.DATA.CLASS_NAMES_FILE)
    raise AnnotationError(f"unknown dataset {dataset!r}; choose one of {DATASETS}")
