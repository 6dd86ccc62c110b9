"""Turns the row folders of a study into gains.md / gains.csv / gains.png in the study's OUTPUT_DIR."""
from __future__ import annotations

import json
import os
from typing import Sequence

from video_rs.bench.profile import count_gmacs, count_parameters  # one counting rule for the project
from video_rs.config import CfgNode
from video_rs.models import build_model
from video_rs.study.gains import gains_table, read_row_measurements, write_gains
from video_rs.study.runner import PROFILE_FILE, is_finished
from video_rs.study.study import Row, Study

__all__ = ["write_profile", "update_gains"]


def write_profile(cfg: CfgNode) -> dict:
    """Trainable parameters and GMACs (fvcore FLOPs = multiply-adds) of one test view; counted once per row."""
    path = os.path.join(cfg.OUTPUT_DIR, PROFILE_FILE)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    model = build_model(cfg)
    clip_shape = (cfg.DATA.NUM_FRAMES, cfg.DATA.TEST_CROP_SIZE, cfg.DATA.TEST_CROP_SIZE)
    record = {"params": count_parameters(model), "gmacs": count_gmacs(model, clip_shape), "clip_shape": list(clip_shape)}
    os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=1)
    return record


def _notes(study: Study, cfg: CfgNode) -> list[str]:
    size = cfg.DATA.TEST_CROP_SIZE
    views = cfg.TEST.NUM_ENSEMBLE_VIEWS * cfg.TEST.NUM_SPATIAL_CROPS
    command = " ".join(str(item) for item in study.opts)
    return [
        f"study: `{study.path}`" + (f", command-line overrides: `{command}`" if command else ""),
        "each row adds its change to every row above it; Δ prev / Δ base: top-1 (top-5) points against "
        "the previous row / the baseline row",
        f"top-1 / top-5: multi-view test of the final (EMA when on) weights, {cfg.TEST.NUM_ENSEMBLE_VIEWS} clips x "
        f"{cfg.TEST.NUM_SPATIAL_CROPS} crops = {views} views per video, split `{cfg.TEST.SPLIT}`",
        f"params: trainable parameters; GMACs/view: fvcore FLOP count (one multiply-add = one FLOP) of one "
        f"{cfg.DATA.NUM_FRAMES} x {size}² test view",
        "train clips/s: median of the logged training windows in metrics.jsonl (all ranks, data loading "
        "included); wall time: train + test of the row (h:mm:ss), the runs that finished it",
        "— : not measured (the row has not finished, or its run did not write that value)",
    ]


def update_gains(study: Study, planned: Sequence[tuple[Row, CfgNode]]) -> list[str]:
    """Profile each finished row that has no profile yet, then rewrite the three gains files."""
    rows = []
    for row, cfg in planned:
        if is_finished(cfg.OUTPUT_DIR):
            write_profile(cfg)
        rows.append((row.name, row.description, read_row_measurements(cfg.OUTPUT_DIR)))
    table = gains_table(rows, baseline=study.baseline.name)
    title = f"Gains: {os.path.splitext(os.path.basename(study.path))[0]}"
    return write_gains(study.output_dir, table, title=title, notes=_notes(study, planned[-1][1]))
