"""Bad inputs a user can give the tools end with one `error: <what is wrong>` line and exit status 2.

`run_tool` is what every tool's `__main__` calls, so calling it here is the tool minus the process
start (tests/tools/test_user_errors.py runs the scripts themselves).
"""
import os

import pytest
import torch

from video_rs.config import load_cfg
from video_rs.cli import run_tool

TINY = ["DEVICE", "cpu", "RESNET.DEPTH", "26", "RESNET.WIDTH_MULTIPLIER", "0.125", "MODEL.NUM_CLASSES", "3",
        "TENSORBOARD.ENABLE", "False"]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err.strip()


def test_an_empty_output_dir_stops_before_reading_data(tmp_path, capsys):
    """The data folder does not exist either: OUTPUT_DIR is named first, so it is checked before the loaders."""
    from video_rs.engine.train import main

    cfg = load_cfg(None, TINY + ["OUTPUT_DIR", "", "DATA.PATH_TO_DATA_DIR", str(tmp_path / "nowhere")])
    assert run_tool(main, cfg) == 2
    assert one_error_line(capsys) == ("error: OUTPUT_DIR is empty: a run writes its log, checkpoints and results "
                                      "there; give it a folder")


@pytest.mark.parametrize("entry", ["train", "test"])
def test_an_output_dir_that_cannot_be_written_stops_at_start_up(entry, tmp_path, capsys):
    from video_rs.engine.evaluate import test
    from video_rs.engine.train import train

    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out = blocker / "run"  # below a file: no user, root included, can create it
    cfg = load_cfg(None, TINY + ["OUTPUT_DIR", str(out), "DATA.PATH_TO_DATA_DIR", str(tmp_path / "nowhere")])
    assert run_tool({"train": train, "test": test}[entry], cfg) == 2
    assert one_error_line(capsys) == f"error: OUTPUT_DIR '{out}' cannot be written: Not a directory"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_device_cuda_without_a_gpu(tmp_path, capsys):
    from video_rs.engine.train import train

    cfg = load_cfg(None, TINY + ["DEVICE", "cuda", "OUTPUT_DIR", str(tmp_path)])
    assert run_tool(train, cfg) == 2
    assert one_error_line(capsys).startswith("error: DEVICE is 'cuda' but no CUDA device is available")


def bad_weight_files(folder) -> dict[str, str]:
    """name -> path of files that are not timm state dicts, the pickled module one that would run code."""
    files = {"missing": str(folder / "missing.pth"), "empty": str(folder / "empty.pth"),
             "garbage": str(folder / "garbage.pth"), "module": str(folder / "module.pth"),
             "safetensors": str(folder / "garbage.safetensors")}
    open(files["empty"], "wb").close()
    with open(files["garbage"], "wb") as handle:
        handle.write(os.urandom(2000))
    with open(files["safetensors"], "wb") as handle:
        handle.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    torch.save(torch.nn.Linear(2, 2), files["module"])  # a whole pickled module, not a state dict
    return files


@pytest.mark.parametrize("case", ["missing", "empty", "garbage", "module", "safetensors"])
def test_timm_checkpoint_that_cannot_be_read(case, tmp_path, capsys):
    from video_rs.engine.train import train

    path = bad_weight_files(tmp_path)[case]
    cfg = load_cfg(None, TINY + ["OUTPUT_DIR", str(tmp_path / "out"), "TRAIN.CHECKPOINT_TYPE", "timm",
                                 "TRAIN.CHECKPOINT_FILE_PATH", path])
    assert run_tool(train, cfg) == 2
    message = one_error_line(capsys)
    assert message.startswith(f"error: {path}: ")
    assert ("file not found" if case == "missing" else "unreadable weights file") in message


def test_check_dataset_report_paths_are_checked_before_any_video(load_tool, tmp_path, capsys):
    main = load_tool("check_dataset").main
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    nowhere = ["DATA.PATH_TO_DATA_DIR", str(tmp_path / "nowhere")]  # reading the split would fail differently
    assert main(["--json", str(tmp_path), *nowhere]) == 2
    assert one_error_line(capsys) == f"error: --json {tmp_path} is a folder; give the report's file name"
    assert main(["--json", str(tmp_path / "no" / "r.json"), *nowhere]) == 2
    assert one_error_line(capsys) == (f"error: --json {tmp_path / 'no' / 'r.json'}: folder {tmp_path / 'no'} "
                                      "does not exist")
    assert main(["--write-clean", str(blocker / "clean"), *nowhere]) == 2
    assert one_error_line(capsys) == (f"error: --write-clean {blocker / 'clean'}: cannot create the folder "
                                      "(Not a directory)")
    assert main(["--splits", "train", "bogus", *nowhere]) == 2
    assert one_error_line(capsys) == "error: --splits bogus: not a split; choose from train, val, test"
