"""How every run starts and ends: the device, the torchrun process group and the run's log, in one place.

`train`, `test` and the training-throughput benchmark start with `start_run`; whoever owns the whole
process (`engine.main`, the benchmark, the gains study over many rows) wraps it in `run_session`, so the
process group is left once, at the end, however the run ends.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from video_rs.engine.distributed import cleanup_distributed, init_distributed, select_device
from video_rs.engine.logging import setup_logging


def start_run(cfg, *, log: bool = True) -> torch.device:
    """The device for this process; joins the process group (once: later runs reuse it); with `log`, the
    `video_rs` logger writes to the console and OUTPUT_DIR/log.txt (rank 0). Runs that write into
    OUTPUT_DIR enter `run_lock.holding_output_dir` first, which checks that it can be written."""
    device = select_device(cfg)
    init_distributed(cfg, device)
    if log:
        setup_logging(cfg.OUTPUT_DIR)
    return device


@contextlib.contextmanager
def run_session() -> Iterator[None]:
    """Leave the process group when the block ends, however it ends."""
    try:
        yield
    finally:
        cleanup_distributed()
