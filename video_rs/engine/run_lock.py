"""One run per OUTPUT_DIR: an OS-level lock on OUTPUT_DIR/.lock, held while a run trains or tests.

`flock` locks belong to the open file, so the kernel drops them when the process ends however it
ends (kill -9 included): there is no stale lock to clean up. The file keeps the holder's pid, host
and start time so the refused run can say who holds the folder. Under torch.distributed rank 0
holds the lock and every rank stops when it cannot.
"""
from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import socket
import tempfile
from typing import Iterator

from video_rs.config import ConfigError
from video_rs.engine.distributed import broadcast_object, is_main_process
from video_rs.engine.session import start_run

LOCK_FILE = ".lock"
logger = logging.getLogger(__name__)

# Locks this process holds, by folder: train() and then test() in one process share one lock
# (a second flock on a new open file of the same folder would refuse its own process).
_held: dict[str, list] = {}


def _drop_inherited_locks() -> None:
    """In a forked child (a data-loader worker): close the inherited lock files.

    A flock belongs to the open file, which a fork shares: a worker outliving a killed parent by a
    few seconds would otherwise keep the folder locked.
    """
    for handle, _ in _held.values():
        if handle is not None:
            handle.close()
    _held.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_drop_inherited_locks)


class OutputDirUnavailable(ConfigError):
    """Another live run holds OUTPUT_DIR (the message names it), or OUTPUT_DIR cannot be written."""


def _holder(handle) -> str:
    handle.seek(0)
    try:
        info = json.loads(handle.read() or "{}")
    except ValueError:
        info = {}
    if not info:
        return "a run that has not written its details yet"
    return f"pid {info.get('pid')} on host {info.get('host')}, started {info.get('started')}"


def check_output_dir(output_dir: str) -> None:
    """Stop at start-up, before any data is read, when OUTPUT_DIR is empty or cannot be written.

    Otherwise the first checkpoint (an epoch later) or results.json (after the whole test) fails.
    """
    if not output_dir.strip():
        raise ConfigError("OUTPUT_DIR is empty: a run writes its log, checkpoints and results there; give it a folder")
    try:
        os.makedirs(output_dir, exist_ok=True)
        probe, probe_path = tempfile.mkstemp(dir=output_dir, prefix=".write_test_")
        os.close(probe)
        os.remove(probe_path)
    except OSError as err:
        raise ConfigError(f"OUTPUT_DIR {output_dir!r} cannot be written: {err.strerror or err}") from None


def _acquire(output_dir: str):
    """The open, locked lock file of `output_dir`; raises `OutputDirUnavailable` when another process holds it."""
    if not output_dir:
        raise OutputDirUnavailable("OUTPUT_DIR is empty: give the run a folder to write into")
    path = os.path.join(output_dir, LOCK_FILE)
    try:
        os.makedirs(output_dir, exist_ok=True)
        handle = open(path, "a+", encoding="utf-8")
    except OSError as err:
        raise OutputDirUnavailable(f"OUTPUT_DIR {output_dir!r} cannot be written ({err.strerror or err}); "
                             "give the run a folder it may create files in") from err
    try:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:  # no flock on this platform: run unlocked rather than not at all
        logger.warning("cannot lock %s on this platform: nothing stops a second run in the same folder", path)
        return handle
    except BlockingIOError:
        holder = _holder(handle)
        handle.close()
        raise OutputDirUnavailable(f"OUTPUT_DIR {output_dir!r} is in use by another run ({holder}); wait for it to "
                             f"end or give this run another OUTPUT_DIR (the lock is {path})") from None
    except OSError as err:  # e.g. a network file system without locks
        logger.warning("cannot lock %s (%s): nothing stops a second run in the same folder", path, err)
        return handle
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}))
    handle.flush()
    return handle


@contextlib.contextmanager
def hold_output_dir(output_dir: str) -> Iterator[None]:
    """Hold OUTPUT_DIR's lock for the block; rank 0 locks and every rank raises `OutputDirUnavailable` when it cannot.

    Re-entrant within a process (on every rank alike, so the nested call needs no collective).
    """
    key = os.path.realpath(output_dir) if output_dir else ""
    if key not in _held:
        handle, error = None, None
        if is_main_process():
            try:
                handle = _acquire(output_dir)
            except OutputDirUnavailable as err:
                error = str(err)
            except OSError as err:  # e.g. a full disk while writing the holder: the other ranks must not wait
                error = f"cannot write the lock file in OUTPUT_DIR {output_dir!r}: {err}"
        error = broadcast_object(error)  # rank 0's answer, on every rank
        if error:
            raise OutputDirUnavailable(error)
        _held[key] = [handle, 0]
    _held[key][1] += 1
    try:
        yield
    finally:
        _held[key][1] -= 1
        if _held[key][1] == 0:
            handle = _held.pop(key)[0]
            if handle is not None:
                handle.close()  # closing the file drops the lock


@contextlib.contextmanager
def holding_output_dir(cfg) -> Iterator[None]:
    """A run's start: OUTPUT_DIR checked, the process group joined (every rank learns through it whether
    rank 0 got the lock), then the lock held for the block, before the run writes anything there."""
    check_output_dir(cfg.OUTPUT_DIR)
    start_run(cfg, log=False)
    with hold_output_dir(cfg.OUTPUT_DIR):
        yield
