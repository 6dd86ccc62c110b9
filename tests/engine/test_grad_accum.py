"""TRAIN.GRAD_ACCUM_STEPS: the same optimisation in smaller micro-batches, and a clear stop when one does not fit."""
import contextlib
import os

import pytest
import torch

from video_rs.engine.train import BatchMemoryError, train

# BatchNorm frozen and no dropout / stochastic depth: nothing then depends on how a step's clips are split
SPLIT_INVARIANT = ["BN.FREEZE", "True", "MODEL.DROPOUT_RATE", "0.0", "MODEL.DROPPATH_RATE", "0.0",
                   "TRAIN.EVAL_PERIOD", "0", "TEST.ENABLE", "False", "TENSORBOARD.ENABLE", "False",
                   "SOLVER.CLIP_GRAD_L2NORM", "1.0"]


def test_two_micro_batches_give_the_weights_of_one_batch(data_three_classes, make_cfg, tmp_path):
    from video_rs.engine.logging import read_metrics

    runs, logged = {}, {}
    for accum in (1, 2):
        out = str(tmp_path / f"accum{accum}")
        cfg = make_cfg(data_three_classes, out, 3, *SPLIT_INVARIANT, "TRAIN.GRAD_ACCUM_STEPS", str(accum))
        with float64_network():
            runs[accum] = train(cfg)["model"].state_dict()
        log = open(os.path.join(out, "log.txt")).read()
        assert f"3 steps/epoch of 4 clips ({accum} micro-batch(es) of {4 // accum} per process)" in log
        logged[accum] = [(r["step"], r["loss"]) for r in read_metrics(os.path.join(out, "metrics.jsonl"))
                         if r["kind"] == "iter"]
    assert [s for s, _ in logged[2]] == [s for s, _ in logged[1]]  # logged per optimiser step
    assert [loss for _, loss in logged[2]] == pytest.approx([loss for _, loss in logged[1]], rel=1e-5)  # step's mean
    start = make_cfg(data_three_classes, str(tmp_path / "unused"), 3, *SPLIT_INVARIANT)
    from video_rs.models import build_model

    torch.manual_seed(start.RNG_SEED)
    with float64_network():
        initial = build_model(start).state_dict()
    moved = [k for k in runs[1] if runs[1][k].is_floating_point() and not torch.equal(runs[1][k], initial[k])]
    assert moved  # the runs trained
    for name, value in runs[1].items():
        torch.testing.assert_close(runs[2][name], value, rtol=0, atol=ATOL, msg=name)


def test_micro_batches_must_divide_the_per_process_batch(data_three_classes, make_cfg, tmp_path):
    from video_rs.data import build_loader

    with pytest.raises(ValueError, match="TRAIN.GRAD_ACCUM_STEPS \\(3\\)"):
        build_loader(make_cfg(data_three_classes, str(tmp_path), 3, "TRAIN.GRAD_ACCUM_STEPS", "3"), "train")


def test_out_of_memory_names_the_keys_that_shrink_the_micro_batch(data_three_classes, make_cfg, tmp_path, monkeypatch):
    import importlib

    from video_rs.cli import user_errors

    train_module = importlib.import_module("video_rs.engine.train")  # the package's `train` is the function
    build = train_module.build_model

    def build_one_that_runs_out(cfg, **kwargs):
        model = build(cfg, **kwargs)

        def forward(x):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

        model.forward = forward
        return model

    monkeypatch.setattr(train_module, "build_model", build_one_that_runs_out)  # where train() looks it up
    cfg = make_cfg(data_three_classes, str(tmp_path), 3, *SPLIT_INVARIANT, "TRAIN.GRAD_ACCUM_STEPS", "2")
    with pytest.raises(BatchMemoryError, match="2 clips of 4 x 32² per process at once .* raise TRAIN.GRAD_ACCUM_STEPS"):
        train(cfg)
    assert BatchMemoryError in user_errors()  # tools print it as one `error:` line, exit status 2


@contextlib.contextmanager
def float64_network():
    """Build and train the network in float64 (clips are normalised in float32 as always, then widened: the same
    values in every run).

    Why: splitting a step into micro-batches changes the order in which float32 sums are taken (a
    convolution's weight gradient and a BatchNorm bias gradient sum over every clip and position, and the
    kernels block those sums by batch size, thread count and CPU instruction set). Each step then differs by
    about 2**-24 times the sum of the terms' magnitudes, which is not small next to a gradient that nearly
    cancels: in float32 the stem's BN biases ended 5.7e-8 apart on one machine and more than 1e-6 apart (the
    old atol) on another of the same kind. In float64 that rounding is 2**29 times smaller: the two DDP runs
    below ended at most 1.2e-20 apart (9.4e-16 of how far any parameter moved). A real accumulation bug (a
    micro-batch counted twice, the loss not divided by TRAIN.GRAD_ACCUM_STEPS, gradients all-reduced before
    the last micro-batch and then dropped) moves weights by the size of an update, 1e-7 to 1e-4 here. Hence
    ATOL: 1e8 times the rounding, 1e5 times below the smallest update; no CPU or load can move one to the other.
    """
    import video_rs.engine.runtime as runtime

    normalise = runtime.normalize_clips
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    runtime.normalize_clips = lambda clips, mean, std: normalise(clips, mean, std).double()
    try:
        yield
    finally:
        runtime.normalize_clips = normalise
        torch.set_default_dtype(previous)


ATOL = 1e-12  # see float64_network


def _train_rank(rank, world, port, cfg, result_path):
    """What torchrun would run in each process: train, then save the weights."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from video_rs.engine.distributed import cleanup_distributed

    with float64_network():
        model = train(cfg)["model"]
    if rank == 0:
        torch.save(model.state_dict(), result_path)
    cleanup_distributed()


def test_two_processes_accumulating_match_two_processes_without(data_three_classes, make_cfg, tmp_path, free_port):
    """DDP: gradients are all-reduced once per step (no_sync on the other micro-batches), same weights."""
    import torch.multiprocessing as mp

    weights = {}
    for accum in (1, 2):
        cfg = make_cfg(data_three_classes, str(tmp_path / f"ddp{accum}"), 3, *SPLIT_INVARIANT, "SOLVER.MAX_EPOCH", "1",
                       "TRAIN.GRAD_ACCUM_STEPS", str(accum))
        path = str(tmp_path / f"accum{accum}.pt")
        mp.spawn(_train_rank, args=(2, free_port(), cfg, path), nprocs=2, join=True)
        weights[accum] = torch.load(path)
    from video_rs.models import build_model

    torch.manual_seed(cfg.RNG_SEED)
    with float64_network():
        initial = build_model(cfg).state_dict()
    moved = [name for name, value in weights[1].items() if (value - initial[name]).abs().max() > 1e3 * ATOL]
    assert len(moved) > len(weights[1]) // 2  # most tensors moved far beyond ATOL: the comparison can fail
    for name, value in weights[1].items():
        torch.testing.assert_close(weights[2][name], value, rtol=0, atol=ATOL, msg=name)
