"""tools/predict.py: a checkpoint alone + real H.264 files -> top-k class names with multi-view scores."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from video_rs.config import cfg_to_yaml, load_cfg
from video_rs.data.encode import write_video
from video_rs.engine.checkpoint import save_checkpoint
from video_rs.engine.predict import predict_videos
from video_rs.models import build_model

CLASSES = ["archery", "bowling", "cooking"]
TINY = ["DEVICE", "cpu", "RESNET.DEPTH", "26", "RESNET.WIDTH_MULTIPLIER", "0.125", "MODEL.NUM_CLASSES", "3",
        "DATA.NUM_FRAMES", "4", "DATA.SAMPLING_RATE", "2", "DATA.TEST_CROP_SIZE", "32", "DATA.DECODING_BACKEND", "pyav",
        "DATA_LOADER.NUM_WORKERS", "0", "DATA_LOADER.PIN_MEMORY", "False", "TEST.NUM_ENSEMBLE_VIEWS", "2",
        "TEST.NUM_SPATIAL_CROPS", "3", "TEST.BATCH_SIZE", "4"]


def write_checkpoint(path: Path, bias: list[float] | None = None) -> str:
    """A tiny checkpoint; with `bias` the head ignores the clip, so the scores are known exactly."""
    cfg = load_cfg(None, TINY)
    torch.manual_seed(0)
    model = build_model(cfg)
    if bias is not None:
        with torch.no_grad():
            model.head.fc.weight.zero_()
            model.head.fc.bias.copy_(torch.tensor(bias))
    save_checkpoint(str(path), {"epoch": 1, "cfg": cfg_to_yaml(cfg), "class_names": CLASSES,
                                "model": model.state_dict(), "ema": None})
    return str(path)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Two real 24-frame H.264 files with different content (a moving bright bar, a noise field)."""
    folder = tmp_path_factory.mktemp("videos")
    bar = np.zeros((24, 40, 48, 3), np.uint8)
    for t in range(24):
        bar[t, :, 2 * t: 2 * t + 6] = 255
    noise = np.random.default_rng(0).integers(0, 255, (24, 40, 48, 3), dtype=np.uint8)
    return [write_video(str(folder / "bar.mp4"), bar, fps=30), write_video(str(folder / "noise.mp4"), noise, fps=30)]


def test_known_scores_class_names_and_all_views(videos, tmp_path):
    checkpoint = write_checkpoint(tmp_path / "fixed.pyth", bias=[0.0, math.log(2.0), 0.0])
    predictions = predict_videos(checkpoint, videos, top_k=2)
    for prediction in predictions:
        assert prediction.error is None and (prediction.views_scored, prediction.views_expected) == (6, 6)
        assert prediction.top[0] == ("bowling", pytest.approx(0.5, abs=1e-6))
        assert prediction.top[1][1] == pytest.approx(0.25, abs=1e-6) and len(prediction.top) == 2


def test_content_reaches_the_model_and_scores_are_mean_softmax(videos, tmp_path):
    checkpoint = write_checkpoint(tmp_path / "random.pyth")
    bar, noise = predict_videos(checkpoint, videos, top_k=3)
    assert sum(s for _, s in bar.top) == pytest.approx(1.0, abs=1e-6)
    assert dict(bar.top) != pytest.approx(dict(noise.top), abs=1e-7)
    (one_view,) = predict_videos(checkpoint, videos[:1], top_k=3, opts=["TEST.NUM_ENSEMBLE_VIEWS", "1",
                                                                       "TEST.NUM_SPATIAL_CROPS", "1"])
    assert (one_view.views_scored, one_view.views_expected) == (1, 1)


def test_cli_reports_unreadable_videos_and_goes_on(load_tool, videos, tmp_path, capsys):
    checkpoint = write_checkpoint(tmp_path / "fixed.pyth", bias=[0.0, math.log(2.0), 0.0])
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"this is not a video" * 100)
    missing = str(tmp_path / "missing.mp4")
    argv = ["--checkpoint", checkpoint, str(garbage), videos[0], missing, "--top-k", "1",
            "TEST.NUM_ENSEMBLE_VIEWS", "1"]
    assert load_tool("predict").main(argv) == 1
    out, err = capsys.readouterr()
    assert f"{videos[0]} (3/3 views)\n  1. bowling  0.5000" in out
    error_lines = [line for line in err.splitlines() if "ERROR" in line]
    assert len(error_lines) == 2
    assert error_lines[0].startswith(f"{garbage}: ERROR ") and error_lines[1].startswith(f"{missing}: ERROR ")


def test_cli_exit_codes(load_tool, videos, tmp_path, capsys):
    predict = load_tool("predict")
    checkpoint = write_checkpoint(tmp_path / "fixed.pyth", bias=[0.0, math.log(2.0), 0.0])
    assert predict.main(["--checkpoint", checkpoint, videos[1], "TEST.NUM_ENSEMBLE_VIEWS", "1"]) == 0
    assert predict.main(["--checkpoint", str(tmp_path / "nope.pyth"), videos[1]]) == 2
    assert predict.main(["--checkpoint", checkpoint, videos[1], "TEST.NO_SUCH_KEY", "1"]) == 2
    assert "no_such_key" in capsys.readouterr().err.lower()


def test_overrides_start_at_the_first_config_key(load_tool):
    split = load_tool("predict").split_overrides  # the common dialect of every tool
    assert split(["a.mp4", "clips/B.MP4", "TEST.NUM_SPATIAL_CROPS", "1", "DEVICE", "cpu"]) == (
        ["a.mp4", "clips/B.MP4"], ["TEST.NUM_SPATIAL_CROPS", "1", "DEVICE", "cpu"])


def test_cli_names_each_unreadable_file_once_without_a_split(load_tool, videos, tmp_path, capsys):
    """An unreadable file was printed twice: a '(test split)' warning from the data package, then the ERROR line."""
    import logging

    checkpoint = write_checkpoint(tmp_path / "fixed.pyth", bias=[0.0, math.log(2.0), 0.0])
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"this is not a video" * 100)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    data_logger = logging.getLogger("video_rs.data")  # on the logger itself: seen whatever propagation is set
    data_logger.addHandler(handler)
    try:
        assert load_tool("predict").main(["--checkpoint", checkpoint, str(garbage), videos[0], "--top-k", "1",
                                          "TEST.NUM_ENSEMBLE_VIEWS", "1"]) == 1
    finally:
        data_logger.removeHandler(handler)
    out, err = capsys.readouterr()
    printed = (out + err).splitlines() + [record.getMessage() for record in records]
    assert [line for line in printed if str(garbage) in line] == [line for line in err.splitlines()
                                                                  if line.startswith(f"{garbage}: ERROR ")]
    assert len([line for line in printed if str(garbage) in line]) == 1
    assert not any("split" in line for line in printed)


def test_cli_bad_top_k_and_network_changing_overrides_are_one_error_line(load_tool, videos, tmp_path, capsys):
    predict = load_tool("predict")
    checkpoint = write_checkpoint(tmp_path / "tiny.pyth")
    assert predict.main(["--checkpoint", checkpoint, videos[0], "--top-k", "-3"]) == 2
    assert capsys.readouterr().err == "error: --top-k must be >= 1 (classes printed per video), got -3\n"
    for override in (["MODEL.NUM_CLASSES", "5"], ["RESNET.DEPTH", "50"]):
        assert predict.main(["--checkpoint", checkpoint, videos[0], *override]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {checkpoint}: the overrides change the network its weights belong to "
                              f"({override[0]}: ") and err.count("\n") == 1, err


def test_cli_overrides_may_stand_between_videos_and_a_key_without_value_is_named(load_tool, videos, tmp_path, capsys):
    checkpoint = write_checkpoint(tmp_path / "fixed.pyth", bias=[0.0, math.log(2.0), 0.0])
    argv = ["--checkpoint", checkpoint, videos[0], "TEST.NUM_ENSEMBLE_VIEWS", "1", videos[1], "--top-k", "1"]
    assert load_tool("predict").main(argv) == 0
    out = capsys.readouterr().out
    assert f"{videos[0]} (3/3 views)" in out and f"{videos[1]} (3/3 views)" in out
    with pytest.raises(SystemExit) as stop:
        load_tool("predict").main(["--checkpoint", checkpoint, videos[0], "TEST.BATCH_SIZE"])
    assert stop.value.code == 2 and "TEST.BATCH_SIZE needs a value" in capsys.readouterr().err
