"""train(cfg): the RS training loop. Read it top to bottom: `train_one_epoch`, then `train`.

AMP, DDP, EMA, checkpoints, logging and evaluation live in their own modules; this file only
decides what runs when.
"""
from __future__ import annotations

import contextlib
import functools
import itertools
import os
import random
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
from torch import nn

from video_rs.config import cfg_to_yaml
from video_rs.data import build_loader, check_bad_fraction
from video_rs.data.atomic import atomic_write
from video_rs.data.bad_videos import count_listed_bad_videos
from video_rs.data.loader import check_test_split
from video_rs.engine import checkpoint as ckpt
from video_rs.engine.distributed import (all_gather_object, all_reduce_sum, broadcast_buffers, get_rank, get_world_size,
                                         is_main_process)
from video_rs.engine.ema import ModelEma
from video_rs.engine.evaluate import test, validate
from video_rs.engine.finetune import freeze_backbone, load_pretrained, set_train_mode
from video_rs.engine.logging import MetricsWriter, get_logger, progress, read_metrics
from video_rs.engine.optim import LRSchedule, build_optimizer
from video_rs.engine.plots import plot_training_curves
from video_rs.engine.precise_bn import update_bn_stats
from video_rs.engine.preemption import CheckpointTriggers, TrainingStopped
from video_rs.engine.run_lock import holding_output_dir
from video_rs.engine.runtime import Runtime, maybe_sync_batchnorm, wrap_for_training
from video_rs.engine.session import run_session, start_run
from video_rs.models import build_model


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run stops before anything is saved from it."""


@dataclass
class TrainState:
    """What a resume restores (besides the RNG streams); `model` is the bare, unwrapped network."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: LRSchedule
    scaler: torch.amp.GradScaler
    ema: ModelEma | None

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict(), "scaler": self.scaler.state_dict(),
                "ema": self.ema.state_dict() if self.ema is not None else None}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        if state.get("scaler"):  # a disabled scaler saves {}
            self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state.get("ema"):
            self.ema.load_state_dict(state["ema"])


class BatchMemoryError(RuntimeError):
    """The micro-batch did not fit in GPU memory; the message says which keys shrink it."""


def train_step(model: nn.Module, micro_batches: Iterable[tuple[torch.Tensor, torch.Tensor]], state: TrainState,
               runtime: Runtime, criterion, cfg) -> tuple[list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], float]:
    """One optimiser step over TRAIN.GRAD_ACCUM_STEPS micro-batches of (uint8 clips, labels).

    Gradients add up over the micro-batches (each loss scaled by 1 / GRAD_ACCUM_STEPS, so the step
    equals one on their concatenation, up to BatchNorm); DDP all-reduces only during the last.
    Returns ([(loss, logits, labels on the device)] per micro-batch, lr). The one place a step is
    defined, so the throughput benchmark times exactly what training runs.
    """
    accum = cfg.TRAIN.GRAD_ACCUM_STEPS
    outputs = []
    state.optimizer.zero_grad(set_to_none=True)
    for index, (clips, labels) in enumerate(micro_batches):
        labels = labels.to(runtime.device, non_blocking=True)
        inputs = runtime.prepare(clips, train=True)  # outside autocast: RandAugment's affine grids stay fp32
        last = index + 1 == accum
        with contextlib.nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync():
            with runtime.autocast():
                logits = model(inputs)
            loss = criterion(logits.float(), labels)
            state.scaler.scale(loss / accum).backward()
        outputs.append((loss.detach(), logits.detach(), labels))
    if len(outputs) != accum:
        raise ValueError(f"a step needs TRAIN.GRAD_ACCUM_STEPS = {accum} micro-batches, got {len(outputs)}")
    lr = state.schedule.apply()
    if cfg.SOLVER.CLIP_GRAD_L2NORM > 0:
        state.scaler.unscale_(state.optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), cfg.SOLVER.CLIP_GRAD_L2NORM)
    state.scaler.step(state.optimizer)
    state.scaler.update()
    state.schedule.step()
    if state.ema is not None:
        state.ema.update(state.model)
    return outputs, lr


def _timed_batches(loader, window: dict) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(clips, labels) of each loader batch; the time spent waiting for it is added to window["data"]."""
    batches = iter(loader)
    while True:
        tick = time.perf_counter()
        batch = next(batches, None)
        window["data"] += time.perf_counter() - tick
        if batch is None:
            return
        yield batch[0], batch[1]


def _out_of_memory(cfg, clips: int) -> BatchMemoryError:
    world = get_world_size()
    return BatchMemoryError(
        f"out of GPU memory with {clips} clips of {cfg.DATA.NUM_FRAMES} x {cfg.DATA.TRAIN_CROP_SIZE}² per process "
        f"at once (TRAIN.BATCH_SIZE {cfg.TRAIN.BATCH_SIZE} over {world} process(es) in TRAIN.GRAD_ACCUM_STEPS "
        f"{cfg.TRAIN.GRAD_ACCUM_STEPS} micro-batches): raise TRAIN.GRAD_ACCUM_STEPS (the same optimisation in "
        "smaller micro-batches) or use more GPUs; TRAIN.MIXED_PRECISION and TRAIN.CHANNELS_LAST also save memory")


def train_one_epoch(model: nn.Module, loader, state: TrainState, runtime: Runtime, criterion, *, epoch: int,
                    writer: MetricsWriter, cfg, resume: dict | None = None, triggers: CheckpointTriggers | None = None,
                    save_position: Callable[[dict], str] | None = None) -> dict:
    """One pass over the training loader (`model` may be wrapped); returns loss and top-1/top-5 over all ranks.

    A step takes TRAIN.GRAD_ACCUM_STEPS loader batches; the last batches that would not fill one are left
    unread (the next epoch's pass starts a fresh loader iterator). `resume` ({"step_in_epoch",
    "epoch_totals"}) continues an interrupted epoch whose sampler already skips the steps done. When
    `triggers` say so after a step, `save_position` checkpoints that position; after a stop signal,
    `TrainingStopped` follows.
    """
    log = get_logger()
    schedule = state.schedule
    accum = cfg.TRAIN.GRAD_ACCUM_STEPS
    totals = torch.zeros(4, dtype=torch.float64, device=runtime.device)  # loss sum, top1, top5, clips
    if resume and resume["epoch_totals"] is not None:
        totals += resume["epoch_totals"].to(totals)
    nonfinite = torch.zeros((), dtype=torch.bool, device=runtime.device)
    window = {"start": time.perf_counter(), "data": 0.0, "clips": 0, "iters": 0}
    steps = len(loader) // accum
    batches = _timed_batches(loader, window)
    for it in progress(range(resume["step_in_epoch"] if resume else 0, steps), desc=f"epoch {epoch + 1}"):
        try:
            outputs, lr = train_step(model, itertools.islice(batches, accum), state, runtime, criterion, cfg)
        except torch.OutOfMemoryError as err:
            raise _out_of_memory(cfg, _micro_batch_clips(loader)) from err
        for loss, logits, labels in outputs:
            nonfinite |= ~torch.isfinite(loss)
            totals += _batch_totals(loss, logits, labels)
            window["clips"] += len(labels)
        window["iters"] += 1
        if (it + 1) % cfg.LOG_PERIOD == 0 or it + 1 == steps:
            _check_finite(nonfinite, epoch, it, cfg)
            elapsed = time.perf_counter() - window["start"]
            clips_all = all_reduce_sum([window["clips"]], runtime.device)[0]
            step_loss = torch.stack([output[0] for output in outputs]).mean()  # over the step's micro-batches
            record = {"epoch": epoch + 1, "iter": it + 1, "step": schedule.step_count, "loss": step_loss.item(),
                      "lr": lr, "clips_per_s": clips_all / max(elapsed, 1e-9),
                      "data_time": window["data"] / window["iters"]}
            writer.write("iter", record, step=schedule.step_count)
            log.info("epoch %d iter %d/%d loss %.4f lr %.5f %.1f clips/s data %.3fs", epoch + 1, it + 1, steps,
                     record["loss"], lr, record["clips_per_s"], record["data_time"])
            window.update(start=time.perf_counter(), data=0.0, clips=0, iters=0)
        signum, due = triggers.poll(schedule.step_count) if triggers is not None else (0, False)
        if (signum or due) and it + 1 < steps:  # after the epoch's last step, train() saves the epoch instead
            _check_finite(nonfinite, epoch, it, cfg)
            path = save_position({"step_in_epoch": it + 1, "epoch_totals": torch.tensor(
                all_reduce_sum(totals.tolist(), runtime.device), dtype=torch.float64)})
            triggers.checkpoint_saved()
            if signum:
                raise _stopped(signum, path)
    loss_sum, top1, top5, count = all_reduce_sum(totals.tolist(), runtime.device)
    return {"train_loss": loss_sum / max(count, 1), "train_top1": 100.0 * top1 / max(count, 1),
            "train_top5": 100.0 * top5 / max(count, 1), "train_clips": int(count)}


@torch.no_grad()
def _batch_totals(loss: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """[loss sum, top-1 hits, top-5 hits, clips] on the device: no host sync per iteration."""
    hits = logits.topk(min(5, logits.shape[1]), dim=1).indices.eq(labels[:, None])
    count = torch.tensor(float(len(labels)), dtype=torch.float64, device=loss.device)
    return torch.stack([loss.double() * count, hits[:, :1].any(1).sum().double(), hits.any(1).sum().double(), count])


def _check_finite(flag: torch.Tensor, epoch: int, it: int, cfg) -> None:
    if all_reduce_sum([float(flag.item())], flag.device)[0] > 0:
        last = ckpt.list_checkpoints(cfg.OUTPUT_DIR)
        raise NonFiniteLossError(
            f"loss became NaN/inf by epoch {epoch + 1}, iteration {it + 1}. Nothing from this epoch was "
            f"saved; last good checkpoint: {last[-1] if last else 'none'}. Lower SOLVER.BASE_LR, raise "
            "SOLVER.WARMUP_EPOCHS or set SOLVER.CLIP_GRAD_L2NORM, then resume."
        )


def _micro_batch_clips(loader) -> int:
    """Clips one process holds at once: a loader batch of videos, each giving clips_per_item clips."""
    return loader.batch_size * loader.dataset.clips_per_item


def steps_per_epoch(loader, cfg) -> int:
    """Optimiser steps in one pass over the training loader: TRAIN.GRAD_ACCUM_STEPS of its batches each."""
    return len(loader) // cfg.TRAIN.GRAD_ACCUM_STEPS


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train(cfg) -> dict:
    """Train as `cfg` says; returns {"epoch", "val", "checkpoint", "model", "eval_model"}.

    Holds OUTPUT_DIR's lock throughout; SIGTERM / SIGINT stop it after the current step with a
    checkpoint of the exact position (`TrainingStopped`), from which a rerun continues.
    """
    with holding_output_dir(cfg), CheckpointTriggers(cfg.TRAIN.CHECKPOINT_PERIOD_MINUTES) as triggers:
        return _train(cfg, triggers)


def _train(cfg, triggers: CheckpointTriggers) -> dict:
    device = start_run(cfg)
    log = get_logger()
    seed_everything(cfg.RNG_SEED)  # identical initial weights on every rank
    runtime = Runtime.from_cfg(cfg, device)

    model = build_model(cfg)
    load_pretrained(model, cfg)
    if cfg.TRAIN.FREEZE_BACKBONE:
        freeze_backbone(model)
    model = runtime.place(maybe_sync_batchnorm(model, cfg))
    train_loader = build_loader(cfg, "train", output_dir=cfg.OUTPUT_DIR)
    val_loader = build_loader(cfg, "val", output_dir=cfg.OUTPUT_DIR) if cfg.TRAIN.EVAL_PERIOD else None
    check_test_split(cfg)  # every split the run reads is checked before the first step
    optimizer = build_optimizer(model, cfg)
    ema = ModelEma(model, decay=cfg.MODEL_EMA.DECAY, dynamic_decay=cfg.MODEL_EMA.DYNAMIC_DECAY) \
        if cfg.MODEL_EMA.ENABLE else None
    state = TrainState(model, optimizer, LRSchedule(optimizer, cfg, steps_per_epoch=steps_per_epoch(train_loader, cfg)),
                       runtime.grad_scaler(), ema)
    seed_everything(cfg.RNG_SEED + 1000 * get_rank())  # per-rank dropout / stochastic depth masks
    start_epoch, resume = _resume(cfg, state) if cfg.TRAIN.AUTO_RESUME else (0, None)
    if is_main_process():  # after the resume check: a refused resume leaves the earlier run's config.yaml
        with atomic_write(os.path.join(cfg.OUTPUT_DIR, "config.yaml")) as handle:
            handle.write(cfg_to_yaml(cfg))
    train_model = wrap_for_training(model, cfg, device)
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.MODEL.LABEL_SMOOTHING)
    writer = MetricsWriter(cfg.OUTPUT_DIR, tensorboard=cfg.TENSORBOARD.ENABLE)
    writer.drop_after(start_epoch, resume["step_in_epoch"] if resume else 0)
    eval_model = ema.module if ema is not None else model
    class_names = getattr(train_loader.dataset, "class_names", None)
    log.info("training %d epochs from epoch %d: %d steps/epoch of %d clips (%d micro-batch(es) of %d per process), "
             "%d processes", cfg.SOLVER.MAX_EPOCH, start_epoch + 1, steps_per_epoch(train_loader, cfg),
             cfg.TRAIN.BATCH_SIZE, cfg.TRAIN.GRAD_ACCUM_STEPS, _micro_batch_clips(train_loader),
             get_world_size())

    val_metrics, last_path = {}, None
    triggers.arm()
    for epoch in range(start_epoch, cfg.SOLVER.MAX_EPOCH):
        _start_epoch(train_loader, epoch, cfg.RNG_SEED,
                     skip_items=resume["step_in_epoch"] * cfg.TRAIN.GRAD_ACCUM_STEPS * train_loader.batch_size
                     if resume else 0)
        set_train_mode(model, cfg)
        started = time.perf_counter()
        stats = train_one_epoch(train_model, train_loader, state, runtime, criterion, epoch=epoch, writer=writer,
                                cfg=cfg, resume=resume, triggers=triggers,
                                save_position=functools.partial(_save, cfg, epoch, state, class_names, val_metrics))
        resume = None
        for module in (model, eval_model):
            broadcast_buffers(module)
        last_epoch = epoch + 1 == cfg.SOLVER.MAX_EPOCH
        if val_loader is not None and ((epoch + 1) % cfg.TRAIN.EVAL_PERIOD == 0 or last_epoch):
            if cfg.BN.USE_PRECISE_STATS and not (cfg.BN.FREEZE or cfg.TRAIN.FREEZE_BACKBONE):
                update_bn_stats(eval_model, (runtime.prepare(b[0], train=True) for b in train_loader),
                                cfg.BN.NUM_BATCHES_PRECISE * cfg.TRAIN.GRAD_ACCUM_STEPS)  # micro-batches
            val_metrics = validate(eval_model, val_loader, runtime, cfg)
        # counted after precise BN, which reads training videos too, so the epoch's count matches bad_videos.txt
        num_bad = count_listed_bad_videos(cfg.OUTPUT_DIR, "train", train_loader.dataset.paths) \
            if is_main_process() else 0
        num_bad = int(all_reduce_sum([num_bad], device)[0])
        check_bad_fraction(num_bad, train_loader.dataset.num_videos, cfg, "train")
        record = {"epoch": epoch + 1, **stats, "epoch_time": time.perf_counter() - started, "bad_videos": num_bad,
                  **{f"val_{k}": v for k, v in val_metrics.items()}}
        writer.write("epoch", record, step=epoch + 1)
        log.info("epoch %d done: %s", epoch + 1, ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                                          for k, v in record.items() if k != "epoch"))
        saved = (epoch + 1) % cfg.TRAIN.CHECKPOINT_PERIOD == 0 or last_epoch
        if saved:
            last_path = _save(cfg, epoch + 1, state, class_names, val_metrics)
            triggers.checkpoint_saved()
        signum, _ = triggers.poll(state.schedule.step_count)
        if signum:
            raise _stopped(signum, last_path if saved else _save(cfg, epoch + 1, state, class_names, val_metrics))
    writer.close()
    if is_main_process():
        plot_training_curves(read_metrics(writer.path), os.path.join(cfg.OUTPUT_DIR, "training_curves.png"))
    return {"epoch": cfg.SOLVER.MAX_EPOCH, "val": val_metrics, "checkpoint": last_path, "model": model,
            "eval_model": eval_model, "class_names": class_names}


def _start_epoch(loader, epoch: int, seed: int, skip_items: int = 0) -> None:
    """Make the epoch's shuffle and augmentation streams a function of (seed, rank, epoch) alone.

    The loader's generator otherwise carries over from earlier epochs, so a run resumed at epoch
    k would see other batches than the uninterrupted run did. `skip_items`: where an interrupted
    epoch resumes in this rank's order (those items are not loaded again).
    """
    if hasattr(loader.sampler, "set_epoch"):
        loader.sampler.set_epoch(epoch)
    if skip_items:
        loader.sampler.skip_next(skip_items)
    if loader.generator is not None:
        loader.generator.manual_seed(int(np.random.SeedSequence([seed, get_rank(), epoch]).generate_state(1)[0]))


def _save(cfg, epoch: int, state: TrainState, class_names, metrics: dict, position: dict | None = None) -> str:
    """Checkpoint after `epoch` epochs (+ `position["step_in_epoch"]` steps of the next, with their totals).

    Rank 0 writes; every rank's RNG state goes in so each resumes its own stream.
    """
    rng = all_gather_object(ckpt.capture_rng_state())
    step = position["step_in_epoch"] if position else 0
    path = ckpt.checkpoint_path(cfg.OUTPUT_DIR, epoch, step)
    if is_main_process():
        ckpt.save_checkpoint(path, {"epoch": epoch, "step_in_epoch": step, "cfg": cfg_to_yaml(cfg),
                                    "epoch_totals": position["epoch_totals"] if position else None,
                                    "class_names": class_names, **state.state_dict(), "rng": rng, "metrics": metrics})
        ckpt.prune_checkpoints(cfg.OUTPUT_DIR, cfg.TRAIN.CHECKPOINT_KEEP)
        get_logger().info("saved %s", path)
    return path


def _stopped(signum: int, path: str) -> TrainingStopped:
    get_logger().info("stopped by signal %d after saving %s; run the same command again to continue from there",
                      signum, path)
    return TrainingStopped(signum, path)


def _resume(cfg, state: TrainState) -> tuple[int, dict | None]:
    """Restore the newest readable checkpoint in OUTPUT_DIR; returns (the epoch to start from, where in it).

    The position is None at an epoch boundary, else {"step_in_epoch", "epoch_totals"} (totals on rank 0
    only: they are the sum over ranks).
    """
    found = ckpt.find_latest_checkpoint(cfg.OUTPUT_DIR)
    if found is None:
        return 0, None
    path, saved = found
    problems = ckpt.tensor_mismatches(saved["model"], state.model.state_dict())
    if problems:
        raise ckpt.CheckpointError(
            f"cannot resume from {path}: {ckpt.describe_mismatch(problems, ckpt.network_differences(saved, cfg))}. "
            f"OUTPUT_DIR ({cfg.OUTPUT_DIR}) holds another network's run: give this one its own OUTPUT_DIR.")
    try:
        state.load_state_dict(saved)
    except ValueError as err:  # e.g. parameter groups of another layout (self-gating got its own group)
        raise ckpt.CheckpointError(
            f"cannot resume the optimiser from {path}: {err}. The weights still load as a starting point: "
            f"train into a new OUTPUT_DIR with TRAIN.CHECKPOINT_FILE_PATH {path}") from None
    rng = saved["rng"]
    if len(rng) == get_world_size():
        ckpt.restore_rng_state(rng[get_rank()])
    else:  # resumed on another number of processes: rank 0's stream, offset per rank
        ckpt.restore_rng_state(rng[0])
        seed_everything(torch.randint(2**31, ()).item() + 1000 * get_rank())
    step = int(saved.get("step_in_epoch", 0))
    get_logger().info("resumed from %s (epoch %d%s)", path, saved["epoch"], f" + {step} steps" if step else "")
    if not step:
        return int(saved["epoch"]), None
    return int(saved["epoch"]), {"step_in_epoch": step,
                                 "epoch_totals": saved.get("epoch_totals") if is_main_process() else None}


def train_and_test(cfg) -> dict:
    """train(cfg), then (TEST.ENABLE) the multi-view test on the final (EMA) weights; the process group stays up.

    One OUTPUT_DIR lock across both, so no other run slips in between.
    """
    with holding_output_dir(cfg):
        summary = train(cfg) if cfg.TRAIN.ENABLE else {}
        if cfg.TEST.ENABLE:
            summary["test"] = test(cfg, model=summary.get("eval_model"), class_names=summary.get("class_names"))
    return summary


def main(cfg) -> dict:
    """`train_and_test(cfg)`, then the process group is left."""
    with run_session():
        return train_and_test(cfg)

