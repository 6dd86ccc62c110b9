"""Atomic file writes: a reader sees the old file or the complete new one, never half of either.

The temp file sits in the target's folder (a rename is atomic only within one file system) under a
name unique to the writing process and call (pid + random suffix, created exclusively), so two
processes writing the same file never write into one temp file. Used for dataset files here and for
checkpoints, configs and reports by the engine.
"""
from __future__ import annotations

import contextlib
import os
import secrets
from typing import IO, Iterator


def unique_temp_path(path: str, suffix: str = ".tmp") -> str:
    """A fresh name beside `path`, hidden and unique to this process and call: `.NAME.PID.RANDOM{suffix}`."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{name}.{os.getpid()}.{secrets.token_hex(4)}{suffix}")


def fsync_folder(folder: str) -> None:
    """Make a rename inside `folder` durable (no-op where folders cannot be opened, e.g. Windows)."""
    if hasattr(os, "O_DIRECTORY"):
        fd = os.open(folder, os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str, suffix: str = ".tmp") -> Iterator[str]:
    """`with atomic_path(path) as tmp:` the block writes the file `tmp` (a fresh name beside `path`, its
    folder created), which replaces `path` when the block ends. An exception inside the block removes
    `tmp` and leaves `path` as it was. For writers that take a file name (video encoders)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = unique_temp_path(path, suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "w", *, durable: bool = False, **open_kwargs) -> Iterator[IO]:
    """`with atomic_write(path) as handle:` writes a temp file that replaces `path` when the block ends.

    An exception inside the block removes the temp file and leaves `path` as it was. `durable`
    fsyncs the file and its folder (checkpoints: the rename survives a power cut).
    """
    with atomic_path(path) as tmp:
        with open(tmp, mode.replace("w", "x"), **open_kwargs) as handle:
            yield handle
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
    if durable:
        fsync_folder(os.path.dirname(os.path.abspath(path)))
