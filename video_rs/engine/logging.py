"""Where a run reports: console + log.txt, metrics.jsonl, TensorBoard, a progress bar.

Only rank 0 writes or prints; every other rank logs warnings and errors only, so a multi-GPU
run reads like a single-process one.
"""
from __future__ import annotations

import json
import logging
import math
import os
import sys
from typing import Any, Iterable

from video_rs.data.atomic import atomic_write
from video_rs.data.progress import progress as report_progress
from video_rs.engine.distributed import is_main_process

LOGGER_NAME = "video_rs"


def setup_logging(output_dir: str | None) -> logging.Logger:
    """The `video_rs` logger: console (stdout) and OUTPUT_DIR/log.txt on rank 0, quiet elsewhere."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.propagate = False
    main = is_main_process()
    logger.setLevel(logging.INFO if main else logging.WARNING)
    fmt = logging.Formatter("[%(asctime)s %(levelname)s] %(message)s", datefmt="%H:%M:%S")
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(fmt)
    logger.addHandler(console)
    if main and output_dir:
        os.makedirs(output_dir, exist_ok=True)
        file_handler = logging.FileHandler(os.path.join(output_dir, "log.txt"))
        file_handler.setFormatter(fmt)
        logger.addHandler(file_handler)
    return logger


def get_logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)


def progress(iterable: Iterable, *, total: int | None = None, desc: str = "", leave: bool = False) -> Iterable:
    """On rank 0, a tqdm bar when stderr is a terminal, else a progress line every 30 s (nohup, SLURM);
    the bare iterable on other ranks. The data tools take it as their `progress` argument
    (`leave=True` keeps the finished bar on screen)."""
    return report_progress(iterable, total=total, desc=desc, enabled=is_main_process(), leave=leave)


class MetricsWriter:
    """Appends one JSON object per line to OUTPUT_DIR/metrics.jsonl and mirrors scalars to TensorBoard.

    Each record has "kind" ("iter", "epoch", "test") and the global step or epoch, so a plot
    or another tool can filter without guessing. A no-op on ranks > 0.
    """

    def __init__(self, output_dir: str, *, tensorboard: bool = True):
        self.enabled = is_main_process()
        self.path = os.path.join(output_dir, "metrics.jsonl")
        self.tb = None
        if not self.enabled:
            return
        os.makedirs(output_dir, exist_ok=True)
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(os.path.join(output_dir, "tensorboard"))

    def write(self, kind: str, record: dict[str, Any], *, step: int) -> None:
        if not self.enabled:
            return
        line = {"kind": kind, **{k: _jsonable(v) for k, v in record.items()}}
        with open(self.path, "a") as handle:
            handle.write(json.dumps(line) + "\n")
        if self.tb is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                    self.tb.add_scalar(f"{kind}/{key}", value, step)

    def drop_after(self, epoch: int, step_in_epoch: int = 0) -> None:
        """On resume: forget the records after the checkpoint (`epoch` epochs + `step_in_epoch` steps of the
        next), which are about to be redone."""
        if not self.enabled or not os.path.exists(self.path):
            return
        kept = [r for r in read_metrics(self.path) if r.get("epoch", 0) <= epoch or (
            r.get("kind") == "iter" and r.get("epoch") == epoch + 1 and r.get("iter", 0) <= step_in_epoch)]
        with atomic_write(self.path) as handle:
            handle.writelines(json.dumps(r) + "\n" for r in kept)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.flush()
            self.tb.close()
            self.tb = None


def read_metrics(path: str) -> list[dict[str, Any]]:
    """Every record of a metrics.jsonl file (an empty list when it does not exist)."""
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN; keep the fact visible
    return value
