"""Atomic checkpoints, keep-last-K, newest-readable discovery, RNG capture."""
import logging
import os
import random

import numpy as np
import pytest
import torch

from video_rs.engine import checkpoint as ckpt


def _state(epoch):
    return {"epoch": epoch, "cfg": "", "model": {"w": torch.full((2,), float(epoch))}, "rng": ckpt.capture_rng_state()}


def test_save_load_prune_and_format(tmp_path):
    out = str(tmp_path)
    for epoch in (1, 2, 3):
        ckpt.save_checkpoint(ckpt.checkpoint_path(out, epoch), _state(epoch))
    assert not list((tmp_path / "checkpoints").glob("*.tmp"))
    removed = ckpt.prune_checkpoints(out, keep=2)
    assert [p.endswith("00001.pyth") for p in removed] == [True]
    path, state = ckpt.find_latest_checkpoint(out)
    assert path.endswith("00003.pyth") and state["epoch"] == 3
    assert state["format"] == ckpt.FORMAT and state["format_version"] == ckpt.FORMAT_VERSION


def test_corrupt_newest_is_skipped_with_a_warning(tmp_path, caplog):
    out = str(tmp_path)
    ckpt.save_checkpoint(ckpt.checkpoint_path(out, 1), _state(1))
    ckpt.save_checkpoint(ckpt.checkpoint_path(out, 2), _state(2))
    newest = ckpt.checkpoint_path(out, 2)
    data = open(newest, "rb").read()
    open(newest, "wb").write(data[: len(data) // 2])
    project_logger = logging.getLogger("video_rs")  # may not propagate to the root once a run set it up
    project_logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING):
            path, state = ckpt.find_latest_checkpoint(out)
    finally:
        project_logger.removeHandler(caplog.handler)
    assert state["epoch"] == 1 and "corrupt" in caplog.text and "00002" in caplog.text
    with pytest.raises(ckpt.CheckpointError, match="unreadable"):
        ckpt.load_checkpoint(newest)


def test_failed_write_leaves_previous_file_intact(tmp_path):
    path = ckpt.checkpoint_path(str(tmp_path), 1)
    ckpt.save_checkpoint(path, _state(1))
    with pytest.raises(Exception):
        ckpt.save_checkpoint(path, {"epoch": 2, "bad": lambda: None})  # not picklable
    assert ckpt.load_checkpoint(path)["epoch"] == 1
    assert os.listdir(tmp_path / "checkpoints") == ["checkpoint_epoch_00001.pyth"]  # no temp file left


def test_foreign_and_future_files_are_refused(tmp_path):
    other = tmp_path / "other.pth"
    torch.save({"w": torch.zeros(1)}, other)
    with pytest.raises(ckpt.CheckpointError, match="not a video_rs checkpoint"):
        ckpt.load_checkpoint(str(other))
    future = tmp_path / "future.pyth"
    torch.save({"format": ckpt.FORMAT, "format_version": ckpt.FORMAT_VERSION + 1}, future)
    with pytest.raises(ckpt.CheckpointError, match="newer"):
        ckpt.load_checkpoint(str(future))


def test_rng_state_round_trips_through_a_weights_only_file(tmp_path):
    path = ckpt.checkpoint_path(str(tmp_path), 1)
    ckpt.save_checkpoint(path, {"rng": ckpt.capture_rng_state()})
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    ckpt.restore_rng_state(ckpt.load_checkpoint(path)["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_foreign_files_named_like_checkpoints_take_no_slot_and_are_not_touched(tmp_path, caplog):
    out = str(tmp_path)
    for epoch in (1, 2, 3):
        ckpt.save_checkpoint(ckpt.checkpoint_path(out, epoch), _state(epoch))
    folder = tmp_path / "checkpoints"
    (folder / "checkpoint_epoch_00009.pyth").write_bytes(b"not a checkpoint")  # newest by name, garbage
    torch.save({"format": ckpt.FORMAT, "epoch": 4}, folder / "checkpoint_epoch_00008.pyth")  # says epoch 4
    torch.save({"format": ckpt.FORMAT, "epoch": 7}, folder / "checkpoint_epoch_7.pyth")  # not our name pattern
    ckpt.save_checkpoint(ckpt.checkpoint_path(out, 2, 1), {**_state(2), "step_in_epoch": 1})  # inside epoch 3
    names = [os.path.basename(p) for p in ckpt.list_checkpoints(out)]
    assert names == ["checkpoint_epoch_00001.pyth", "checkpoint_epoch_00002.pyth",
                     "checkpoint_epoch_00003_iter_000001.pyth", "checkpoint_epoch_00003.pyth", "checkpoint_epoch_00008.pyth", "checkpoint_epoch_00009.pyth"]
    removed = ckpt.prune_checkpoints(out, keep=2)
    assert [os.path.basename(p) for p in removed] == ["checkpoint_epoch_00001.pyth", "checkpoint_epoch_00002.pyth"]
    assert sorted(os.listdir(folder)) == ["checkpoint_epoch_00003.pyth", "checkpoint_epoch_00003_iter_000001.pyth",
                                          "checkpoint_epoch_00008.pyth", "checkpoint_epoch_00009.pyth",
                                          "checkpoint_epoch_7.pyth"]
    path, state = ckpt.find_latest_checkpoint(out)  # skips both foreign files with a warning
    assert os.path.basename(path) == "checkpoint_epoch_00003.pyth" and state["epoch"] == 3
