"""Two CPU processes (gloo) train like one: identical weights on both ranks, disjoint samples, and the
multi-view test scores every view once, giving the single-process numbers."""
import json
import os

import numpy as np
import torch
import torch.multiprocessing as mp

from video_rs.engine import checkpoint as ckpt
from video_rs.engine import evaluate


def _rank_main(rank, world, port, cfg, result_dir):
    """What torchrun would run in each process."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from video_rs.data import build_loader
    from video_rs.engine.distributed import cleanup_distributed
    from video_rs.engine.train import train

    summary = train(cfg)
    loader = build_loader(cfg, "train", output_dir=cfg.OUTPUT_DIR)
    loader.sampler.set_epoch(0)
    seen = [i for _, _, video_index, _ in loader for i in video_index.tolist()]
    results = evaluate.test(cfg, model=summary["eval_model"], class_names=summary["class_names"])
    torch.save({"model": summary["model"].state_dict(), "ema": summary["eval_model"].state_dict(), "seen": seen,
                "results": results}, os.path.join(result_dir, f"rank{rank}.pt"))
    cleanup_distributed()


def test_two_processes_keep_identical_weights_and_match_one_process(data_three_classes, make_cfg, tmp_path,
                                                                    free_port):
    out = str(tmp_path / "ddp")
    cfg = make_cfg(data_three_classes, out, 3, "SOLVER.MAX_EPOCH", "1", "TRAIN.EVAL_PERIOD", "1",
                   "BN.USE_PRECISE_STATS", "True", "BN.NUM_BATCHES_PRECISE", "2", "TENSORBOARD.ENABLE", "False")
    mp.spawn(_rank_main, args=(2, free_port(), cfg, str(tmp_path)), nprocs=2, join=True)
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    for key in ("model", "ema"):
        for name, value in rank0[key].items():
            assert torch.equal(value, rank1[key][name]), f"{key}.{name} differs between ranks"
    assert rank0["seen"] and not set(rank0["seen"]) & set(rank1["seen"])
    assert sorted(rank0["seen"] + rank1["seen"]) == list(range(12))  # each training video once per epoch
    two = rank0["results"]
    assert rank1["results"] == {} and two["views_scored"] == 6 * 6

    # the same checkpoint tested by one process
    single = cfg.clone()
    single.defrost()
    single.OUTPUT_DIR = str(tmp_path / "single")
    single.TEST.CHECKPOINT_FILE_PATH = ckpt.checkpoint_path(out, 1)
    single.freeze()
    one = evaluate.test(single)
    assert one["metrics"] == two["metrics"] and one["views_scored"] == two["views_scored"]
    rows_two = _predictions(os.path.join(out, "predictions.csv"))
    rows_one = _predictions(os.path.join(single.OUTPUT_DIR, "predictions.csv"))
    assert [r[:3] for r in rows_one] == [r[:3] for r in rows_two]
    assert np.allclose([float(r[3]) for r in rows_one], [float(r[3]) for r in rows_two], atol=1e-5)
    assert json.load(open(os.path.join(out, "results.json")))["metrics"] == two["metrics"]


def _predictions(path):
    return [line.split(",") for line in open(path).read().splitlines()[1:]]
