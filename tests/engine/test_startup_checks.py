"""Every split a run reads is checked before training starts, not when the run reaches it."""
import os
import shutil

from video_rs.cli import run_tool
from video_rs.engine.train import main


def test_a_missing_test_split_stops_the_run_before_training(data_three_classes, make_cfg, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(data_three_classes, data)
    os.remove(data / "test.csv")
    out = tmp_path / "out"
    cfg = make_cfg(str(data), str(out), 3, "SOLVER.MAX_EPOCH", "1", "TENSORBOARD.ENABLE", "False")
    assert run_tool(main, cfg) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: annotation file not found: {data / 'test.csv'}")
    assert "TEST.SPLIT" in err[0] and "TEST.ENABLE False" in err[0]
    assert not os.path.exists(out / "checkpoints") and not os.path.exists(out / "metrics.jsonl")  # nothing trained

