"""Fine-tune a checkpoint trained on one synthetic dataset on another with a different class count,
and evaluate a checkpoint alone with tools/test_net.py (model rebuilt from the file)."""
import json
import os
import subprocess
import sys

from video_rs.engine import checkpoint as ckpt
from video_rs.engine.train import train
from video_rs.models import build_model

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_finetune_three_class_checkpoint_on_two_class_data(two_epoch_run, data_two_classes, make_cfg, tmp_path):
    source_cfg, _, source_weights = two_epoch_run
    source = ckpt.checkpoint_path(source_cfg.OUTPUT_DIR, 2)
    cfg = make_cfg(data_two_classes, str(tmp_path), 2, "TRAIN.CHECKPOINT_FILE_PATH", source, "SOLVER.MAX_EPOCH", "1",
                   "TRAIN.HEAD_LR_MULT", "10.0", "TRAIN.EVAL_PERIOD", "0", "TENSORBOARD.ENABLE", "False")
    summary = train(cfg)
    model = summary["model"]
    assert model.head.fc.out_features == 2
    log = open(os.path.join(str(tmp_path), "log.txt")).read()
    assert "kept fresh initialisation" in log and "head.fc.weight" in log and "head.fc.bias" in log
    saved = ckpt.load_checkpoint(ckpt.checkpoint_path(str(tmp_path), 1))
    assert saved["model"]["head.fc.weight"].shape == (2, source_weights["head.fc.weight"].shape[1])
    # the backbone started from the source (EMA) weights, not from a fresh initialisation
    start = ckpt.eval_weights(ckpt.load_checkpoint(source))
    fresh = build_model(cfg).state_dict()
    names = [k for k in start if k.endswith(".conv.weight")]
    assert names
    for name in names:
        tuned = model.state_dict()[name]
        assert (tuned - start[name]).norm() < (tuned - fresh[name]).norm(), name


def test_test_net_rebuilds_model_from_checkpoint_alone_into_its_own_folder(two_epoch_run, tmp_path):
    """The checkpoint's results land in OUTPUT_DIR/test_<checkpoint>/: the training run's own files stay as they were."""
    import shutil

    cfg, summary, _ = two_epoch_run
    out = str(tmp_path / "run")
    shutil.copytree(cfg.OUTPUT_DIR, out)
    trained = {name: open(os.path.join(out, name)).read() for name in ("results.json", "predictions.csv")}
    os.remove(os.path.join(out, "predictions.csv"))
    with open(os.path.join(out, "predictions.csv"), "w") as handle:
        handle.write("the end-of-training test's rows\n")
    command = [sys.executable, os.path.join(REPO, "tools", "test_net.py"), "OUTPUT_DIR", out,
               "--checkpoint", ckpt.checkpoint_path(out, 2)]  # tool options may follow the overrides
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    own = os.path.join(out, "test_checkpoint_epoch_00002")
    results = json.load(open(os.path.join(own, "results.json")))
    assert results["metrics"] == summary["test"]["metrics"]
    assert results["checkpoint"].endswith("checkpoint_epoch_00002.pyth")
    assert open(os.path.join(own, "predictions.csv")).read() == trained["predictions.csv"]
    assert open(os.path.join(out, "results.json")).read() == trained["results.json"]
    assert open(os.path.join(out, "predictions.csv")).read() == "the end-of-training test's rows\n"
    assert f"results go to {own}" in done.stdout


def test_testing_a_checkpoint_on_data_with_another_class_count_stops(two_epoch_run, data_two_classes, make_cfg,
                                                                    tmp_path):
    """--cfg of a 2-class dataset + a 3-class checkpoint: an error, not metrics of mismatched labels."""
    import pytest

    from video_rs.engine.evaluate import test

    cfg, _, _ = two_epoch_run
    source = ckpt.checkpoint_path(cfg.OUTPUT_DIR, 2)
    other = make_cfg(data_two_classes, str(tmp_path), 2, "TEST.CHECKPOINT_FILE_PATH", source)
    with pytest.raises(ckpt.CheckpointError, match="classifies 3 classes but MODEL.NUM_CLASSES = 2"):
        test(other)
    assert not os.path.exists(os.path.join(str(tmp_path), "results.json"))


def test_testing_a_checkpoint_under_another_configs_normalisation_keeps_the_checkpoints(two_epoch_run, make_cfg,
                                                                                       data_three_classes, tmp_path):
    """--cfg with other DATA.MEAN / STD: the network still sees its training pixels (same scores), with a warning."""
    from video_rs.engine.evaluate import test

    cfg, summary, _ = two_epoch_run
    source = ckpt.checkpoint_path(cfg.OUTPUT_DIR, 2)
    other = make_cfg(data_three_classes, str(tmp_path), 3, "TEST.CHECKPOINT_FILE_PATH", source,
                     "DATA.MEAN", "[0.5, 0.5, 0.5]", "DATA.STD", "[0.25, 0.25, 0.25]")
    assert list(other.DATA.MEAN) != list(cfg.DATA.MEAN)
    results = test(other)
    assert results["metrics"] == summary["test"]["metrics"]
    predictions = [open(os.path.join(d, "predictions.csv")).read() for d in (cfg.OUTPUT_DIR, str(tmp_path))]
    assert predictions[0] == predictions[1]
    log = open(os.path.join(str(tmp_path), "log.txt")).read()
    assert "inputs are normalised with" in log and "DATA.MEAN [0.5, 0.5, 0.5]" not in log


def test_a_test_split_of_unreadable_videos_reports_no_metrics_not_zero(two_epoch_run, make_cfg, data_three_classes,
                                                                       tmp_path, capsys):
    """Every test video corrupt: results.json has null metrics and the failures, the log says so, and the tool
    ends with one `error:` line and exit status 2."""
    import shutil

    from video_rs.cli import run_tool

    from video_rs.engine.evaluate import test

    cfg, _, _ = two_epoch_run
    data = tmp_path / "data"
    shutil.copytree(data_three_classes, data)
    rows = (data / "test.csv").read_text().split("\n")
    for row in rows[:2]:  # two corrupt videos of six: more than MAX_BAD_FRACTION, metrics over the other four
        (data / row.split()[0]).write_bytes(b"not a video")
    out = tmp_path / "two_bad"
    other = make_cfg(str(data), str(out), 3, "TEST.CHECKPOINT_FILE_PATH", ckpt.checkpoint_path(cfg.OUTPUT_DIR, 2))
    results = test(other)
    assert results["metrics"]["num_videos"] == 4 and len(results["failed_videos"]) == 2
    assert "2 of 6 test videos (33.3%) could not be read at all" in (out / "log.txt").read_text()

    for row in rows:
        if row:
            (data / row.split()[0]).write_bytes(b"not a video")
    out = tmp_path / "all_bad"
    other = make_cfg(str(data), str(out), 3, "TEST.CHECKPOINT_FILE_PATH", ckpt.checkpoint_path(cfg.OUTPUT_DIR, 2))
    assert run_tool(test, other) == 2  # the reports are written, but the run is not a success
    assert capsys.readouterr().err == ("error: test: no video could be scored: all 6 failed to decode (results.json "
                                       "lists them with the reason)\n")
    results = json.load(open(out / "results.json"))
    assert results["metrics"] == {"top1": None, "top5": None, "mean_class_acc": None, "num_videos": 0}
    assert len(results["failed_videos"]) == 6
    assert "no video could be scored: all 6 failed to decode" in (out / "log.txt").read_text()
