"""Top-k classes for video files, from a checkpoint alone, with the multi-view test protocol.

The checkpoint's stored config rebuilds the network and says how to view a video (frames,
sampling rate, crop size, TEST.NUM_ENSEMBLE_VIEWS x TEST.NUM_SPATIAL_CROPS, ensemble method);
`KEY VALUE` overrides change any of it. Views come from the data package's test-view machinery
and are scored by the same `score_views` as `tools/test_net.py`, so a file predicted here gets
the scores the test would give it::

    paths ── test views (decode, sample, crop) ── model ── softmax ── sum/max per video ── top-k
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import torch

from video_rs.data.annotations import VideoList
from video_rs.data.loader import build_loader
from video_rs.engine.checkpoint import (CheckpointError, cfg_from_checkpoint, eval_weights, load_checkpoint,
                                       network_differences)
from video_rs.engine.distributed import select_device
from video_rs.engine.evaluate import score_views
from video_rs.engine.runtime import Runtime
from video_rs.models import build_model


@dataclass
class VideoPrediction:
    """One video's result: `top` (class name, score) best first, or the `error` that prevented it."""

    path: str
    top: list[tuple[str, float]]
    views_scored: int = 0
    views_expected: int = 0
    error: str | None = None

    def format(self) -> str:
        if self.error is not None:
            return f"{self.path}: ERROR {self.error}"
        views = f"{self.views_scored}/{self.views_expected} views"
        lines = [f"{self.path} ({views})"]
        lines += [f"  {rank}. {name}  {score:.4f}" for rank, (name, score) in enumerate(self.top, 1)]
        return "\n".join(lines)


def predict_videos(checkpoint: str, paths: Sequence[str], *, opts: Sequence[str] = (), top_k: int = 5,
                   ) -> list[VideoPrediction]:
    """Score each file with every test view; a file that cannot be read gets an `error`, not an exception."""
    state = load_checkpoint(checkpoint)
    cfg = cfg_from_checkpoint(state, list(opts))
    changed = network_differences({"cfg": cfg_from_checkpoint(state).dump()}, cfg)  # what the overrides change
    if changed:  # the stored weights fit only the network they were trained as
        raise CheckpointError(f"{checkpoint}: the overrides change the network its weights belong to "
                              f"({'; '.join(changed)}); drop them: predict runs the checkpoint's own network")
    model = build_model(cfg)
    model.load_state_dict(eval_weights(state))
    num_classes = cfg.MODEL.NUM_CLASSES
    names = state.get("class_names") or [f"class {i}" for i in range(num_classes)]
    runtime = Runtime.from_cfg(cfg, select_device(cfg))
    model = runtime.place(model)
    dataset, loader = _test_views(cfg, [os.path.abspath(p) for p in paths])
    scores = score_views(model, loader, runtime, num_classes=num_classes, method=cfg.TEST.ENSEMBLE_METHOD,
                         chunk=cfg.TEST.BATCH_SIZE, desc="predict")
    videos, video_scores, _, counts = scores.result()
    found = {int(v): (row, int(n)) for v, row, n in zip(videos, video_scores, counts)}
    expected = int(dataset.views_per_video)
    results = []
    for index, path in enumerate(paths):
        if index not in found:
            reason = dataset.probe(index) or "no view could be decoded"
            results.append(VideoPrediction(path, [], 0, expected, error=reason))
            continue
        row, count = found[index]  # "sum" rows are already the mean softmax over the views
        top = torch.topk(torch.as_tensor(row), min(top_k, num_classes))
        results.append(VideoPrediction(path, [(names[i], float(s)) for s, i in zip(top.values, top.indices)],
                                       count, expected))
    return results


def _test_views(cfg, paths: list[str]):
    """(dataset, loader) of the test views of `paths`, through the data package (label 0: unknown)."""
    loader = build_loader(cfg, "test", videos=VideoList(paths, [0] * len(paths), source="command line"),
                          log_bad_videos=False)  # each unreadable file gets its own ERROR line from the caller
    return loader.dataset, loader
