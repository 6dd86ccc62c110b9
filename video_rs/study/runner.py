"""Runs the rows of a study one after another, each a full train + multi-view test in OUTPUT_DIR/<row>/.

A study takes days at full scale, so it must survive interruptions: a row whose results.json
exists is not run again, and a half-trained row resumes from its checkpoints (TRAIN.AUTO_RESUME).
Reusing a row folder is only safe when the row's config is the one that produced it, so each row
folder keeps the config it was run with (study_row.json) and a different one stops the study
before anything runs. Under torchrun every rank runs every row together; rank 0 alone writes.
"""
from __future__ import annotations

import json
import logging
import os
import time
from typing import Callable, Sequence

import yaml

from video_rs.config import CfgNode
from video_rs.data.atomic import atomic_write
from video_rs.engine import train_and_test
from video_rs.engine.distributed import is_main_process
from video_rs.engine.session import run_session
from video_rs.study.study import Row, Study, StudyError, flatten_keys

__all__ = ["RESULTS_FILE", "ROW_RECORD_FILE", "PROFILE_FILE", "run_study", "describe_plan", "row_status", "is_finished",
           "read_record", "train_and_test"]

RESULTS_FILE = "results.json"  # written by the multi-view test (video_rs.engine.evaluate.test)
ROW_RECORD_FILE = "study_row.json"  # what the study knows about a row: its config, description, wall time
PROFILE_FILE = "profile.json"  # parameters and FLOPs of the row's network (video_rs.study.report)
# Keys that change how fast a row runs, not what it measures: a resumed study may change them.
RESULT_NEUTRAL_KEYS = ("OUTPUT_DIR", "ABLATION.", "DATA_LOADER.", "LOG_PERIOD", "TENSORBOARD.", "TEST.BATCH_SIZE",
                       "DIST_BACKEND")

log = logging.getLogger(__name__)


def is_finished(row_dir: str) -> bool:
    return os.path.isfile(os.path.join(row_dir, RESULTS_FILE))


def run_study(study: Study, rows: Sequence[Row], *, run_row: Callable[[CfgNode], object] = train_and_test,
              on_row_done: Callable[[list], object] | None = None) -> list[tuple[Row, CfgNode]]:
    """Run every unfinished row in order; `on_row_done(planned)` (the gains table) follows each row on rank 0.

    Each row is `engine.train_and_test`, which keeps the process group up: under torchrun, destroying
    and re-creating the group between rows hung in gloo's rendezvous (stale keys in torchrun's store),
    so the group made by the first row serves every row and is left once, at the end.
    Returns the (row, cfg) pairs of the selection, finished or not, in run order.
    """
    planned = study.configs(rows)
    for row, cfg in planned:
        check_row_folder(row, cfg)
    with run_session():
        _run_rows(planned, run_row, on_row_done)
    return planned


def _run_rows(planned, run_row, on_row_done) -> None:
    for row, cfg in planned:
        if is_finished(cfg.OUTPUT_DIR):
            log.info("row %s: %s exists, not run again", row.name, os.path.join(cfg.OUTPUT_DIR, RESULTS_FILE))
            continue
        log.info("row %s (%s): training in %s", row.name, row.description, cfg.OUTPUT_DIR)
        record = read_record(cfg.OUTPUT_DIR) or _new_record(row, cfg)
        if is_main_process():
            _write_record(cfg.OUTPUT_DIR, record)
        started = time.perf_counter()
        run_row(cfg)
        record["wall_time_s"] = record.get("wall_time_s", 0.0) + time.perf_counter() - started
        if is_main_process():
            _write_record(cfg.OUTPUT_DIR, record)
            if on_row_done is not None:
                on_row_done(planned)


def row_status(row: Row, cfg: CfgNode) -> str:
    """"done", "started" (resumes from its checkpoints), "pending", or "conflict" (folder of another config)."""
    try:
        check_row_folder(row, cfg)
    except StudyError:
        return "conflict"
    if is_finished(cfg.OUTPUT_DIR):
        return "done"
    return "started" if read_record(cfg.OUTPUT_DIR) else "pending"


def describe_plan(planned: Sequence[tuple[Row, CfgNode]]) -> list[str]:
    """One line per row: name, status, what it changes, then the overrides it adds."""
    lines = []
    for row, cfg in planned:
        added = " ".join(f"{key}={value}" for key, value in zip(row.overrides[0::2], row.overrides[1::2]))
        lines.append(f"{row.name:<24} {row_status(row, cfg):<9} {row.description}" + (f"\n{'':<35}{added}" if added else ""))
    return lines


def check_row_folder(row: Row, cfg: CfgNode) -> None:
    """Stop if OUTPUT_DIR/<row> holds a run of another config (a reordered study, changed overrides)."""
    record = read_record(cfg.OUTPUT_DIR)
    if record is None:
        return
    differences = _differences(record["config"], comparable_config(cfg))
    if differences:
        shown = "; ".join(f"{key}: was {old!r}, now {new!r}" for key, old, new in differences[:5])
        raise StudyError(
            f"row {row.name}: {cfg.OUTPUT_DIR} was run with another config ({shown}"
            f"{' ...' if len(differences) > 5 else ''}). Use another OUTPUT_DIR, or delete that folder to rerun it."
        )


def comparable_config(cfg: CfgNode) -> dict:
    """The row config as flat {KEY: value}, without the keys that do not change the row's numbers."""
    flat = flatten_keys(yaml.safe_load(cfg.dump()))
    return {key: value for key, value in flat.items() if not key.startswith(RESULT_NEUTRAL_KEYS)}


def _differences(old: dict, new: dict) -> list[tuple[str, object, object]]:
    keys = sorted(set(old) | set(new))
    return [(key, old.get(key), new.get(key)) for key in keys if old.get(key) != new.get(key)]


def _new_record(row: Row, cfg: CfgNode) -> dict:
    return {"row": row.name, "description": row.description, "row_file": row.path,
            "overrides": list(row.overrides), "config": comparable_config(cfg), "wall_time_s": 0.0}


def read_record(row_dir: str) -> dict | None:
    """The row's study_row.json, or None before the row was first started."""
    path = os.path.join(row_dir, ROW_RECORD_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _write_record(row_dir: str, record: dict) -> None:
    path = os.path.join(row_dir, ROW_RECORD_FILE)
    with atomic_write(path, encoding="utf-8") as handle:
        json.dump(record, handle, indent=1)
