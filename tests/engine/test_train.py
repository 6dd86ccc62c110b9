"""End-to-end CPU training: resume equals an uninterrupted run, files a run leaves, NaN stops cleanly."""
import glob
import json
import os
import shutil

import pytest
import torch

from video_rs.engine import checkpoint as ckpt
from video_rs.engine.logging import read_metrics
from video_rs.engine.train import NonFiniteLossError, train


def _assert_equal_states(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_run_leaves_its_files(two_epoch_run):
    cfg, summary, _ = two_epoch_run
    out = cfg.OUTPUT_DIR
    for name in ("config.yaml", "metrics.jsonl", "training_curves.png", "results.json", "predictions.csv",
                 "confusion_matrix.png", "log.txt"):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    assert os.listdir(os.path.join(out, "tensorboard"))
    records = read_metrics(os.path.join(out, "metrics.jsonl"))
    iters = [r for r in records if r["kind"] == "iter"]
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert iters and {"loss", "lr", "clips_per_s", "data_time"} <= iters[0].keys()
    assert [r["epoch"] for r in epochs] == [1, 2]
    assert {"train_top1", "train_top5", "val_top1", "val_top5", "epoch_time", "bad_videos"} <= epochs[0].keys()
    assert epochs[0]["bad_videos"] == 0
    results = json.load(open(os.path.join(out, "results.json")))
    assert results["metrics"]["num_videos"] == 6 and results["views_per_video"] == 6
    assert results["views_scored"] == 36 and results["failed_videos"] == []
    assert 0 <= results["metrics"]["top1"] <= 100 and results["metrics"]["top5"] == 100.0
    rows = open(os.path.join(out, "predictions.csv")).read().splitlines()
    assert rows[0].split(",")[:4] == ["video", "label", "top1", "score1"] and len(rows) == 7
    state = ckpt.load_checkpoint(ckpt.checkpoint_path(out, 2))
    assert state["class_names"] and len(state["class_names"]) == 3
    assert {"model", "ema", "optimizer", "schedule", "scaler", "rng", "cfg", "epoch"} <= state.keys()
    assert state["schedule"]["step_count"] == 2 * 3  # 12 training videos / batch 4, two epochs
    assert summary["test"]["metrics"] == results["metrics"]


def test_log_says_where_checkpoints_and_results_went(two_epoch_run):
    cfg, _, _ = two_epoch_run
    log = open(os.path.join(cfg.OUTPUT_DIR, "log.txt")).read()
    assert f"saved {ckpt.checkpoint_path(cfg.OUTPUT_DIR, 2)}" in log
    assert f"wrote {os.path.join(cfg.OUTPUT_DIR, 'results.json')}" in log


def _resume_after_corrupt_epoch_two(cfg, out: str) -> dict:
    """Copy the finished run `cfg` to `out`, truncate its epoch-2 checkpoint, train again; the resumed summary."""
    shutil.copytree(cfg.OUTPUT_DIR, out)
    newest = ckpt.checkpoint_path(out, 2)
    with open(newest, "r+b") as handle:  # a crash while writing epoch 2 (without the atomic rename)
        handle.truncate(os.path.getsize(newest) // 3)
    torch.manual_seed(12345)  # the process state differs from a fresh start: only restored RNG can match
    resumed_cfg = cfg.clone()
    resumed_cfg.defrost()
    resumed_cfg.OUTPUT_DIR = out
    resumed_cfg.freeze()
    summary = train(resumed_cfg)
    log = open(os.path.join(out, "log.txt")).read()
    assert "skipping corrupt checkpoint" in log and "resumed from" in log and "epoch 1)" in log
    assert ckpt.load_checkpoint(newest)["epoch"] == 2
    epochs = [r["epoch"] for r in read_metrics(os.path.join(out, "metrics.jsonl")) if r["kind"] == "epoch"]
    assert epochs == [1, 2]  # the redone epoch replaces, not duplicates, its records
    return summary


def test_resume_after_epoch_one_skipping_a_corrupt_newest_matches_uninterrupted(two_epoch_run, tmp_path):
    cfg, _, final = two_epoch_run
    summary = _resume_after_corrupt_epoch_two(cfg, str(tmp_path / "resumed"))
    _assert_equal_states(final, summary["model"].state_dict())


def test_resume_with_loader_workers_matches_uninterrupted_and_the_run_without_workers(two_epoch_run, tmp_path):
    """Items draw from (seed, epoch, video) alone, so worker processes change neither a run nor its resume."""
    cfg, _, final = two_epoch_run
    workers_cfg = cfg.clone()
    workers_cfg.defrost()
    workers_cfg.OUTPUT_DIR = str(tmp_path / "workers")
    workers_cfg.DATA_LOADER.NUM_WORKERS = 2
    workers_cfg.TENSORBOARD.ENABLE = False
    workers_cfg.freeze()
    uninterrupted = {k: v.clone() for k, v in train(workers_cfg)["model"].state_dict().items()}
    _assert_equal_states(final, uninterrupted)
    summary = _resume_after_corrupt_epoch_two(workers_cfg, str(tmp_path / "resumed"))
    _assert_equal_states(uninterrupted, summary["model"].state_dict())


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(two_epoch_run, tmp_path):
    cfg, _, _ = two_epoch_run
    out = str(tmp_path / "nan")
    os.makedirs(os.path.join(out, "checkpoints"))
    first = ckpt.checkpoint_path(out, 1)
    shutil.copy(ckpt.checkpoint_path(cfg.OUTPUT_DIR, 1), first)
    bad = cfg.clone()
    bad.defrost()
    bad.OUTPUT_DIR = out
    bad.SOLVER.BASE_LR = 1e35
    bad.SOLVER.WARMUP_EPOCHS = 0.0
    bad.freeze()
    with pytest.raises(NonFiniteLossError, match="last good checkpoint: .*checkpoint_epoch_00001"):
        train(bad)
    assert ckpt.list_checkpoints(out) == [first]
    assert all(torch.isfinite(v).all() for v in ckpt.load_checkpoint(first)["model"].values() if v.is_floating_point())


def test_resume_into_a_folder_of_another_network_stops_and_keeps_its_config(two_epoch_run, tmp_path):
    """Rerunning with another width but the same OUTPUT_DIR: a clear error, and the old run's config.yaml stays."""
    cfg, _, _ = two_epoch_run
    out = str(tmp_path / "other")
    shutil.copytree(cfg.OUTPUT_DIR, out)
    before = open(os.path.join(out, "config.yaml")).read()
    wider = cfg.clone()
    wider.defrost()
    wider.OUTPUT_DIR = out
    wider.RESNET.WIDTH_MULTIPLIER = 0.25
    wider.freeze()
    with pytest.raises(ckpt.CheckpointError, match="cannot resume from .*checkpoint_epoch_00002") as caught:
        train(wider)
    message = str(caught.value)
    assert "RESNET.WIDTH_MULTIPLIER: 0.125 in the checkpoint, 0.25 here" in message and "own OUTPUT_DIR" in message
    assert open(os.path.join(out, "config.yaml")).read() == before


def test_a_checkpoint_of_another_optimiser_layout_stops_with_a_clear_error(two_epoch_run, tmp_path):
    """Checkpoints written before the self-gating parameters had their own group held one group fewer:
    resuming them was a ValueError traceback from torch."""
    cfg, _, _ = two_epoch_run
    out = str(tmp_path / "older")
    shutil.copytree(cfg.OUTPUT_DIR, out)
    newest = sorted(glob.glob(os.path.join(out, "checkpoints", "checkpoint_epoch_*.pyth")))[-1]
    saved = torch.load(newest, map_location="cpu", weights_only=False)
    groups = saved["optimizer"]["param_groups"]
    groups[0]["params"] = groups[0]["params"] + groups.pop()["params"]  # two groups merged into one
    torch.save(saved, newest)
    resumed = cfg.clone()
    resumed.defrost()
    resumed.OUTPUT_DIR = out
    resumed.freeze()
    with pytest.raises(ckpt.CheckpointError, match="cannot resume the optimiser from .*TRAIN.CHECKPOINT_FILE_PATH"):
        train(resumed)
