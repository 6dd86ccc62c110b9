"""One run per OUTPUT_DIR: a second run stops at start-up naming the holder; a killed holder leaves no lock."""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from video_rs.config import cfg_to_yaml
from video_rs.engine.run_lock import LOCK_FILE, OutputDirUnavailable, hold_output_dir

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_a_second_run_is_refused_naming_the_holder_and_kill_9_leaves_no_stale_lock(tmp_path):
    out = str(tmp_path / "run")
    ready_read, ready_write = os.pipe()
    holder = os.fork()  # another run (a forked process: no interpreter start-up to pay for)
    if holder == 0:
        try:
            with hold_output_dir(out):
                os.write(ready_write, b"r")
                time.sleep(600)
        finally:
            os._exit(0)  # never back into pytest
    try:
        assert os.read(ready_read, 1) == b"r"
        with pytest.raises(OutputDirUnavailable) as refused:
            with hold_output_dir(out):
                pass
        message = str(refused.value)
        assert f"pid {holder} on host {socket.gethostname()}, started 20" in message and "OUTPUT_DIR" in message
    finally:
        os.kill(holder, signal.SIGKILL)
        os.waitpid(holder, 0)
        os.close(ready_read)
        os.close(ready_write)
    with hold_output_dir(out):  # the kernel dropped the dead holder's lock
        with hold_output_dir(out):  # re-entrant: train() then test() in one process
            pass
        assert str(os.getpid()) in open(os.path.join(out, LOCK_FILE)).read()


def test_train_net_into_a_held_folder_stops_with_one_error_line_and_writes_nothing(make_cfg, tmp_path):
    out = str(tmp_path / "run")
    cfg = make_cfg(str(tmp_path / "data"), out, 3)
    config = str(tmp_path / "config.yaml")
    with open(config, "w") as handle:
        handle.write(cfg_to_yaml(cfg))
    with hold_output_dir(out):
        before = sorted(os.listdir(out))
        tool = subprocess.run([sys.executable, os.path.join(REPO, "tools", "train_net.py"), "--cfg", config,
                               "OUTPUT_DIR", out], capture_output=True, text=True, timeout=300)
        assert sorted(os.listdir(out)) == before == [LOCK_FILE]
    assert tool.returncode == 2
    lines = tool.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and f"pid {os.getpid()}" in lines[0], tool.stderr


def test_an_output_dir_that_cannot_be_created_is_a_config_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputDirUnavailable, match="cannot be written"):
        with hold_output_dir(str(blocker / "run")):
            pass


def test_a_forked_child_such_as_a_loader_worker_does_not_keep_the_lock(tmp_path):
    out = str(tmp_path / "run")
    with hold_output_dir(out):
        (hold_read, hold_write), (ready_read, ready_write) = os.pipe(), os.pipe()
        child = os.fork()
        if child == 0:  # a data-loader worker that outlives its run; its fork hooks have run by now
            try:
                os.write(ready_write, b"r")
                os.read(hold_read, 1)
            finally:
                os._exit(0)
        assert os.read(ready_read, 1) == b"r"
    try:
        with hold_output_dir(out):  # released though the child still lives
            pass
    finally:
        os.write(hold_write, b"x")
        os.waitpid(child, 0)
        for fd in (hold_read, hold_write, ready_read, ready_write):
            os.close(fd)


def test_a_failure_writing_the_lock_file_is_an_output_dir_error(tmp_path, monkeypatch):
    """An OSError on rank 0 (a full disk while writing the holder) must reach every rank as the same
    error, not leave the other ranks waiting for rank 0's answer."""
    import video_rs.engine.run_lock as run_lock

    def full_disk(output_dir):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(run_lock, "_acquire", full_disk)
    with pytest.raises(OutputDirUnavailable, match="No space left on device"):
        with hold_output_dir(str(tmp_path / "run")):
            pass
