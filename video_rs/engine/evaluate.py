"""Evaluation: single-view validation during training, and the multi-view test (`test(cfg)`).

Every view of every video is scored exactly once over all ranks (the loader shards without
duplicates); each rank folds its views into per-video aggregates, and the aggregates are
gathered and merged, so 1 and N processes report the same numbers.

    loader batch [B views] ─ drop failed views ─ chunks of TEST.BATCH_SIZE ─ model ─ softmax
        ─> VideoScores (per video: sum or max over views) ─ all_gather + merge ─> metrics, files
"""
from __future__ import annotations

import os

import torch
from torch import nn

from video_rs.data import FAILED_VIEW, TooManyBadVideos, build_loader
from video_rs.engine.checkpoint import (CheckpointError, build_model_from_checkpoint, find_latest_checkpoint,
                                       load_checkpoint, network_differences)
from video_rs.engine.distributed import all_gather_object, is_main_process
from video_rs.engine.logging import get_logger, progress
from video_rs.engine.metrics import VideoScores, classification_metrics
from video_rs.engine.reports import write_test_reports
from video_rs.engine.run_lock import holding_output_dir
from video_rs.engine.runtime import Runtime
from video_rs.engine.session import start_run


@torch.no_grad()
def score_views(model: nn.Module, loader, runtime: Runtime, *, num_classes: int, method: str = "sum",
                chunk: int = 64, desc: str = "eval") -> VideoScores:
    """Softmax scores of every view, aggregated per video and merged over ranks (result on every rank)."""
    was_training = model.training
    model.eval()
    local = VideoScores(num_classes, method)
    for clips, labels, video_index, view_index in progress(loader, total=len(loader), desc=desc):
        keep = view_index != FAILED_VIEW
        if not bool(keep.all()):
            clips, labels, video_index, view_index = clips[keep], labels[keep], video_index[keep], view_index[keep]
        for start in range(0, len(clips), chunk):
            part = slice(start, start + chunk)
            with runtime.autocast():
                logits = model(runtime.prepare(clips[part]))
            local.add(video_index[part], view_index[part], labels[part], logits.float().softmax(dim=1))
    model.train(was_training)
    merged = VideoScores(num_classes, method)
    for partial in all_gather_object(local):
        merged.merge(partial)
    return merged


def validate(model: nn.Module, loader, runtime: Runtime, cfg) -> dict:
    """Single-view accuracy (the "val" loader gives one view per video): fast, for training curves."""
    scores = score_views(model, loader, runtime, num_classes=cfg.MODEL.NUM_CLASSES, chunk=cfg.TEST.BATCH_SIZE,
                         desc="val")
    _, video_scores, labels, _ = scores.result()
    return classification_metrics(video_scores, labels, cfg.MODEL.NUM_CLASSES)


def test(cfg, *, model: nn.Module | None = None, class_names: list[str] | None = None) -> dict:
    """Multi-view test; writes results.json, predictions.csv and confusion_matrix.png (rank 0).

    Without `model`, the weights (EMA when kept) come from TEST.CHECKPOINT_FILE_PATH or the newest
    checkpoint in OUTPUT_DIR, and the network is rebuilt from the config stored in that file.
    Holds OUTPUT_DIR's lock (`holding_output_dir`): a second run there stops at start-up.
    """
    with holding_output_dir(cfg):
        return _test(cfg, model=model, class_names=class_names)


def _test(cfg, *, model: nn.Module | None, class_names: list[str] | None) -> dict:
    device = start_run(cfg)
    log = get_logger()
    checkpoint_path = None
    if model is None:
        checkpoint_path, state = _test_checkpoint(cfg)
        model, model_cfg = build_model_from_checkpoint(state)
        if model_cfg.MODEL.NUM_CLASSES != cfg.MODEL.NUM_CLASSES:  # labels and scores would not line up
            raise CheckpointError(f"{checkpoint_path} classifies {model_cfg.MODEL.NUM_CLASSES} classes but "
                                  f"MODEL.NUM_CLASSES = {cfg.MODEL.NUM_CLASSES} for the test data: give the "
                                  "checkpoint's class count, or test it without --cfg (its own config)")
        differences = network_differences(state, cfg)
        if differences:
            log.warning("the network is rebuilt from %s's own config, not this one (%s)", checkpoint_path,
                        "; ".join(differences))
        class_names = class_names or state.get("class_names")
        log.info("testing %s; results go to %s", checkpoint_path, cfg.OUTPUT_DIR)
        runtime = Runtime.from_cfg(_with_input_normalisation(cfg, model_cfg, checkpoint_path), device)
    else:
        runtime = Runtime.from_cfg(cfg, device)
    model = runtime.place(model)
    loader = build_loader(cfg, "test", output_dir=cfg.OUTPUT_DIR)
    dataset = loader.dataset
    class_names = class_names or getattr(dataset, "class_names", None)
    log.info("multi-view test: %d videos x %d views (%d temporal x %d spatial), ensemble %s",
             dataset.num_videos, dataset.views_per_video, cfg.TEST.NUM_ENSEMBLE_VIEWS, cfg.TEST.NUM_SPATIAL_CROPS,
             cfg.TEST.ENSEMBLE_METHOD)
    scores = score_views(model, loader, runtime, num_classes=cfg.MODEL.NUM_CLASSES, method=cfg.TEST.ENSEMBLE_METHOD,
                         chunk=cfg.TEST.BATCH_SIZE, desc="test")
    if not is_main_process():
        return {}
    results = write_test_reports(cfg.OUTPUT_DIR, scores, dataset, class_names, num_classes=cfg.MODEL.NUM_CLASSES,
                                 checkpoint=checkpoint_path)
    _log_test_metrics(results, cfg.DATA.MAX_BAD_FRACTION)
    log.info("wrote %s (predictions.csv and confusion_matrix.png beside it)", os.path.join(cfg.OUTPUT_DIR, "results.json"))
    return results


def with_checkpoint_output_dir(cfg):
    """`cfg` with OUTPUT_DIR = OUTPUT_DIR/test_<checkpoint name> when TEST.CHECKPOINT_FILE_PATH names one.

    Evaluating a chosen checkpoint (tools/test_net.py) must not overwrite the results.json and
    predictions.csv of the test that ended training, nor those of another checkpoint's evaluation.
    """
    if not cfg.TEST.CHECKPOINT_FILE_PATH:
        return cfg
    name = os.path.splitext(os.path.basename(cfg.TEST.CHECKPOINT_FILE_PATH))[0]
    cfg = cfg.clone()
    cfg.defrost()
    cfg.OUTPUT_DIR = os.path.join(cfg.OUTPUT_DIR, f"test_{name}")
    cfg.freeze()
    return cfg


def _log_test_metrics(results: dict, max_bad_fraction: float) -> None:
    """The test's one-line summary; unreadable videos are left out of the metrics, so say loudly when many were,
    and raise (a user error: exit status 2) when none could be scored."""
    log = get_logger()
    metrics, total = results["metrics"], results["num_videos_total"]
    if metrics["num_videos"] == 0:  # the reports are written; the run still must not look like a success
        message = (f"test: no video could be scored: all {total} failed to decode (results.json lists them with "
                   "the reason)")
        log.error(message)
        raise TooManyBadVideos(message)
    log.info("test: top-1 %.2f%%  top-5 %.2f%%  mean-class %.2f%% over %d videos (%d failed)", metrics["top1"],
             metrics["top5"], metrics["mean_class_acc"], metrics["num_videos"], len(results["failed_videos"]))
    unreadable = total - metrics["num_videos"]  # no view decoded: left out of the metrics
    if unreadable > max_bad_fraction * total:
        log.warning("%d of %d test videos (%.1f%%) could not be read at all, more than DATA.MAX_BAD_FRACTION %.2f: the "
                    "metrics cover the readable ones only (results.json lists the failures with the reason)",
                    unreadable, total, 100.0 * unreadable / total, max_bad_fraction)


def _with_input_normalisation(cfg, model_cfg, checkpoint_path: str):
    """`cfg` with the checkpoint's DATA.MEAN / DATA.STD: the network only knows the pixels it was trained on.

    A `--cfg` of another recipe (e.g. ImageNet mean/std vs the K400 recipe's plain [0, 1]) would
    otherwise shift every input silently.
    """
    stored = (list(model_cfg.DATA.MEAN), list(model_cfg.DATA.STD))
    if stored == (list(cfg.DATA.MEAN), list(cfg.DATA.STD)):
        return cfg
    get_logger().warning("inputs are normalised with %s's DATA.MEAN %s / DATA.STD %s (the network was trained on "
                         "them), not this config's %s / %s", checkpoint_path, *stored, list(cfg.DATA.MEAN),
                         list(cfg.DATA.STD))
    cfg = cfg.clone()
    cfg.defrost()
    cfg.DATA.MEAN, cfg.DATA.STD = stored
    cfg.freeze()
    return cfg


def _test_checkpoint(cfg) -> tuple[str, dict]:
    if cfg.TEST.CHECKPOINT_FILE_PATH:
        return cfg.TEST.CHECKPOINT_FILE_PATH, load_checkpoint(cfg.TEST.CHECKPOINT_FILE_PATH)
    found = find_latest_checkpoint(cfg.OUTPUT_DIR)
    if found is None:
        raise CheckpointError(f"no readable checkpoint in {os.path.join(cfg.OUTPUT_DIR, 'checkpoints')}; "
                              "set TEST.CHECKPOINT_FILE_PATH")
    return found
