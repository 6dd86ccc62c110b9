"""Progress lines when output is not a terminal (nohup, SLURM): prepare_*, check_dataset, the multi-view test.

Time is a fake clock moved by the loop itself: no test here sleeps or depends on machine load.
"""
import numpy as np
import pytest

import video_rs.data.progress as progress_module
from video_rs.data.progress import progress, progress_line


class FakeClock:
    """Advances `step` seconds each time it is read."""

    def __init__(self, step: float):
        self.now, self.step = 1000.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_a_line_every_interval_with_rate_and_eta_and_a_closing_line():
    lines, now = [], [0.0]
    items = []
    for item in progress(range(10), total=10, desc="check train", clock=lambda: now[0], write=lines.append):
        items.append(item)
        now[0] += 10.0  # each item takes 10 s
    assert items == list(range(10))
    assert lines == ["check train: 3/10 (30%), 0.1/s, eta 1m10s", "check train: 6/10 (60%), 0.1/s, eta 40s",
                     "check train: 9/10 (90%), 0.1/s, eta 10s", "check train: 10/10 done in 1m40s"]


def test_short_loops_and_other_ranks_print_nothing():
    lines, now = [], [0.0]
    for _ in progress(range(100), total=100, clock=lambda: now[0], write=lines.append):
        now[0] += 0.2  # 20 s in all: under the 30 s interval
    assert lines == []
    source = iter(range(3))
    assert progress(source, enabled=False) is source


def test_line_format_without_total_and_for_long_runs():
    assert progress_line("test", 5, None, 10.0) == "test: 5, 0.5/s"
    assert progress_line("", 1, 7201, 1.0) == "1/7201 (0%), 1/s, eta 2h00m"


@pytest.fixture
def slow_clock(monkeypatch):
    """Every read of the progress clock is 31 s later: each loop step crosses the reporting interval."""
    monkeypatch.setattr(progress_module, "_clock", FakeClock(31.0))


def test_check_dataset_reports_progress_off_a_terminal(slow_clock, tmp_path, index_frames, write_test_video,
                                                      load_script, capsys):
    write_test_video(str(tmp_path / "a.mp4"), index_frames(10))
    (tmp_path / "train.csv").write_text("a.mp4 0\na.mp4 0\n")
    code = load_script("tools/check_dataset.py").main(["--workers", "1", "--splits", "train",
                                                       "DATA.PATH_TO_DATA_DIR", str(tmp_path), "MODEL.NUM_CLASSES",
                                                       "1", "DATA.DECODING_BACKEND", "pyav"])
    assert code == 0
    err = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in err if line.startswith("check train")] == [
        "check train: 1/2 (50%)", "check train: 2/2 (100%)", "check train: 2/2 done in 1m33s"]


def test_prepare_reports_progress_off_a_terminal(slow_clock, tmp_path, write_test_video, load_script, capsys):
    frames = np.zeros((6, 36, 44, 3), np.uint8)
    (tmp_path / "raw").mkdir()
    for video_id in ("aaa", "bbb"):
        write_test_video(str(tmp_path / "raw" / f"{video_id}.mp4"), frames)
    (tmp_path / "train.csv").write_text("label,youtube_id,time_start,time_end,split\n"
                                        "walk,aaa,0,10,train\nrun,bbb,0,10,train\n")
    argv = ["--annotations", str(tmp_path / "train.csv"), "--videos", str(tmp_path / "raw"), "--out",
            str(tmp_path / "out"), "--split", "train", "--short-side", "32", "--workers", "1"]
    assert load_script("datasets/prepare_kinetics.py").main(argv) == 0
    err = capsys.readouterr().err
    assert "resize: 1/2 (50%)" in err and "resize: 2/2 done in" in err


def test_the_multi_view_test_loop_reports_progress_off_a_terminal(slow_clock, capsys):
    """score_views (validation, the multi-view test, predict) iterates through engine.logging.progress."""
    from video_rs.engine.logging import progress as engine_progress

    assert list(engine_progress(range(3), total=3, desc="test")) == [0, 1, 2]
    assert [line.split(",")[0] for line in capsys.readouterr().err.splitlines()] == [
        "test: 1/3 (33%)", "test: 2/3 (67%)", "test: 3/3 (100%)", "test: 3/3 done in 2m04s"]


def test_the_total_comes_from_the_iterable_when_it_has_a_length():
    """Training epochs pass a range of steps: their lines said '5, 0.2/s' with no total or eta."""
    now, lines = [0.0], []

    def tick():
        now[0] += 10.0
        return now[0]

    list(progress(range(6), desc="epoch 1", clock=tick, write=lines.append))
    assert lines[0].startswith("epoch 1: ") and "/6 (" in lines[0] and "eta" in lines[0]
