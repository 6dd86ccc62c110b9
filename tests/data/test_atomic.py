"""Atomic writes: each writer has its own temp file, so concurrent writers never mix their bytes."""
import os

import pytest

from video_rs.data.atomic import atomic_path, atomic_write, unique_temp_path


def test_temp_names_are_unique_to_the_process_and_the_call(tmp_path):
    target = str(tmp_path / "config.yaml")
    first, second = unique_temp_path(target), unique_temp_path(target)
    assert first != second and f".{os.getpid()}." in first
    assert os.path.dirname(first) == str(tmp_path)  # same folder: the rename stays atomic


def test_overlapping_writers_each_replace_the_file_whole(tmp_path):
    target = tmp_path / "results.json"
    with atomic_write(str(target)) as outer:
        outer.write("outer " * 1000)
        with atomic_write(str(target)) as inner:  # another writer, mid-way through the first
            inner.write("inner")
        assert target.read_text() == "inner"
        outer.write("end")
    assert target.read_text() == "outer " * 1000 + "end"
    assert os.listdir(tmp_path) == ["results.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "metrics.jsonl"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(str(target)) as handle:
            handle.write("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["metrics.jsonl"]


def test_a_writer_given_a_path_replaces_the_file_whole_or_leaves_it(tmp_path):
    """atomic_path: for encoders that open the file themselves (prepared and synthetic videos)."""
    target = tmp_path / "videos" / "clip.mp4"
    with atomic_path(str(target), ".partial.mp4") as partial:  # the folder is created
        assert partial.endswith(".partial.mp4") and os.path.dirname(partial) == str(target.parent)
        open(partial, "w").write("new")
    assert target.read_text() == "new"
    with pytest.raises(RuntimeError):
        with atomic_path(str(target), ".partial.mp4") as partial:
            open(partial, "w").write("half")
            raise RuntimeError("encoder failed")
    assert target.read_text() == "new" and os.listdir(target.parent) == ["clip.mp4"]
