"""Wrong inputs a first-time user types stop the tools with `error: <what is wrong>`, not a traceback."""
import os
import subprocess
import sys

import pytest

from video_rs.cli import run_tool
from video_rs.data.annotations import AnnotationError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, os.path.join(REPO, "tools", args[0]), *args[1:]], capture_output=True,
                          text=True, timeout=300, cwd=REPO)


def test_train_net_with_a_data_folder_that_does_not_exist(tmp_path):
    done = _tool("train_net.py", "--cfg", "configs/synthetic/demo.yaml", "SYNTHETIC.ENABLE", "False",
                 "DATA.PATH_TO_DATA_DIR", str(tmp_path / "nowhere"), "OUTPUT_DIR", str(tmp_path / "out"))
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: DATA.PATH_TO_DATA_DIR is not a folder: '{tmp_path / 'nowhere'}'"


def test_test_net_with_a_checkpoint_that_does_not_exist(tmp_path):
    done = _tool("test_net.py", "--checkpoint", str(tmp_path / "model.pyth"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: {tmp_path / 'model.pyth'}: unreadable checkpoint")


def test_run_tool_turns_user_errors_into_status_2_and_keeps_other_exceptions(capsys):
    def bad_csv():
        raise AnnotationError("train.csv:3: label 9 outside [0, 6)")

    assert run_tool(bad_csv) == 2
    assert capsys.readouterr().err == "error: train.csv:3: label 9 outside [0, 6)\n"
    assert run_tool(lambda: 1) == 1 and run_tool(lambda: {"top1": 1.0}) == 0
    with pytest.raises(KeyError):
        run_tool(lambda: {}["bug"])


def test_ablate_help_works_without_cfg(load_tool, capsys):
    with pytest.raises(SystemExit) as caught:
        load_tool("ablate").main(["--help"])
    assert caught.value.code == 0 and "--rows" in capsys.readouterr().out
    with pytest.raises(SystemExit) as caught:
        load_tool("ablate").main([])
    assert caught.value.code == 2 and "--cfg STUDY.yaml is required" in capsys.readouterr().err
