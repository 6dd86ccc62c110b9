"""SIGTERM / SIGINT during training: the run stops after the step with a checkpoint of the exact position,
exits 143 / 130, and the rerun continues there (without loading the trained items again) to the weights
of an uninterrupted run, bit for bit."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from video_rs.config import cfg_to_yaml, load_cfg
from video_rs.data.bad_videos import BAD_VIDEOS_FILE
from video_rs.data.dataset import VideoClipDataset
from video_rs.engine import checkpoint as ckpt
from video_rs.engine.logging import read_metrics
from video_rs.engine.preemption import SIGNAL_AFTER_STEP_ENV, TrainingStopped
from video_rs.engine.train import train

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _write_cfg(cfg, path: str) -> str:
    with open(path, "w") as handle:
        handle.write(cfg_to_yaml(cfg))
    return path


def _train_in_subprocess(cfg, out: str, signal_after: str, *opts: str) -> subprocess.CompletedProcess:
    """tools/train_net.py on `cfg` (training only) into `out`, sending itself `signal_after` ("SIGTERM:2"), in a
    session of its own: its process group (pgid = its pid) is the training process and its loader workers."""
    config = _write_cfg(cfg, os.path.join(os.path.dirname(out), "config_in.yaml"))
    env = {**os.environ, SIGNAL_AFTER_STEP_ENV: signal_after, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    return subprocess.run([sys.executable, os.path.join(REPO, "tools", "train_net.py"), "--cfg", config,
                           "OUTPUT_DIR", out, "TEST.ENABLE", "False", *opts], capture_output=True, text=True,
                          env=env, timeout=600, start_new_session=True)


def _live_processes_in_group(pgid: int) -> list[int]:
    """Pids of the processes of group `pgid` that still run (zombies left unreaped by a container's init aside)."""
    live = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as handle:
                state, _, group = handle.read().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue  # ended while listed
        if int(group) == pgid and state != "Z":
            live.append(int(pid))
    return live


def _group_ends_within(pgid: int, seconds: float) -> list[int]:
    """Waits until no process of group `pgid` runs, at most `seconds`; the ones still running then."""
    deadline = time.monotonic() + seconds
    while _live_processes_in_group(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _live_processes_in_group(pgid)


def _resume_counting_items(cfg, out: str, monkeypatch, **changes) -> tuple[dict, int]:
    """Train `cfg` again in `out` (auto-resume); (final weights, training items loaded by the resumed run)."""
    loaded = []
    original = VideoClipDataset._train_item

    def counting(self, index, *args, **kwargs):
        loaded.append(index)
        return original(self, index, *args, **kwargs)

    monkeypatch.setattr(VideoClipDataset, "_train_item", counting)
    torch.manual_seed(12345)  # the process state differs from a fresh start: only restored RNG can match
    resumed = cfg.clone()
    resumed.defrost()
    resumed.OUTPUT_DIR = out
    for key, value in changes.items():
        section, name = key.split("__")
        setattr(getattr(resumed, section), name, value)
    resumed.freeze()
    return train(resumed)["model"].state_dict(), len(loaded)


def _assert_equal_states(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_sigterm_mid_epoch_checkpoints_the_position_and_the_rerun_matches_uninterrupted(two_epoch_run, tmp_path,
                                                                                       monkeypatch):
    cfg, _, final = two_epoch_run  # 3 steps of 4 videos per epoch, 2 epochs, NUM_WORKERS 0
    out = str(tmp_path / "run")
    stopped = _train_in_subprocess(cfg, out, "SIGTERM:2")
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    assert "error" not in stopped.stderr.lower()
    path = ckpt.checkpoint_path(out, 0, 2)
    assert os.path.basename(path) == "checkpoint_epoch_00001_iter_000002.pyth"
    assert ckpt.list_checkpoints(out) == [path]
    state = ckpt.load_checkpoint(path)
    assert (state["epoch"], state["step_in_epoch"], state["schedule"]["step_count"]) == (0, 2, 2)
    assert state["epoch_totals"][3].item() == 8  # clips of the two steps done
    assert f"stopped by signal 15 after saving {path}" in stopped.stdout
    # a stale bad-video list (paths the dataset no longer has) must not stop the resumed run
    with open(os.path.join(out, BAD_VIDEOS_FILE), "w") as handle:
        handle.writelines(f"videos/train/removed_{i}.mp4\tmoov atom not found\ttrain\n" for i in range(5))

    weights, loaded = _resume_counting_items(cfg, out, monkeypatch)
    _assert_equal_states(final, weights)
    assert loaded == 4 + 12  # the epoch's last step, then epoch 2: the 8 trained videos are not loaded again
    epochs = [r for r in read_metrics(os.path.join(out, "metrics.jsonl")) if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2] and epochs[0]["train_clips"] == 12
    assert epochs[0]["bad_videos"] == 0
    iters = [(r["epoch"], r["iter"]) for r in read_metrics(os.path.join(out, "metrics.jsonl")) if r["kind"] == "iter"]
    assert iters == sorted(set(iters))  # each logged iteration once: the rerun continues, nothing repeats


def test_sigint_with_loader_workers_and_periodic_checkpoints_resumes_to_the_uninterrupted_weights(
        two_epoch_run, tmp_path, monkeypatch):
    """In-process (the handler is armed in train(), so the signal the run sends itself is caught). An injected
    clock advancing a minute per reading makes every step due under TRAIN.CHECKPOINT_PERIOD_MINUTES 1."""
    from video_rs.engine import preemption

    cfg, _, final = two_epoch_run
    minutes = iter(range(10**6))
    monkeypatch.setattr(preemption, "clock", lambda: 60.0 * next(minutes))
    monkeypatch.setenv(SIGNAL_AFTER_STEP_ENV, "SIGINT:4")  # epoch 2, after iter 1
    run = cfg.clone()
    run.defrost()
    run.OUTPUT_DIR = str(tmp_path / "run")
    run.DATA_LOADER.NUM_WORKERS = 2
    run.TRAIN.CHECKPOINT_PERIOD_MINUTES = 1.0
    run.TRAIN.CHECKPOINT_KEEP = 10
    run.freeze()
    handler_before = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingStopped) as stopped:
        train(run)
    assert stopped.value.code == 130
    assert [os.path.basename(p) for p in ckpt.list_checkpoints(run.OUTPUT_DIR)] == [
        "checkpoint_epoch_00001_iter_000001.pyth", "checkpoint_epoch_00001_iter_000002.pyth",
        "checkpoint_epoch_00001.pyth", "checkpoint_epoch_00002_iter_000001.pyth"]
    assert signal.getsignal(signal.SIGINT) is handler_before  # the run's handler is gone with it
    monkeypatch.delenv(SIGNAL_AFTER_STEP_ENV)
    weights, _ = _resume_counting_items(cfg, run.OUTPUT_DIR, monkeypatch, DATA_LOADER__NUM_WORKERS=2)
    _assert_equal_states(final, weights)
    assert "(epoch 1 + 1 steps)" in open(os.path.join(run.OUTPUT_DIR, "log.txt")).read()


def test_a_signal_in_an_epoch_s_last_step_saves_that_epoch_and_stops(two_epoch_run, tmp_path, monkeypatch):
    """In-process: the handler is armed in train(), so the signal this process sends itself stops training."""
    cfg, _, _ = two_epoch_run
    run = cfg.clone()
    run.defrost()
    run.OUTPUT_DIR = str(tmp_path / "run")
    run.TRAIN.CHECKPOINT_PERIOD = 5
    run.TRAIN.EVAL_PERIOD = 0
    run.freeze()
    monkeypatch.setenv(SIGNAL_AFTER_STEP_ENV, "SIGTERM:3")  # the last step of epoch 1
    with pytest.raises(TrainingStopped) as stopped:
        train(run)
    assert stopped.value.code == 143 and stopped.value.checkpoint == ckpt.checkpoint_path(run.OUTPUT_DIR, 1)
    assert ckpt.list_checkpoints(run.OUTPUT_DIR) == [stopped.value.checkpoint]  # though CHECKPOINT_PERIOD is 5
    assert ckpt.load_checkpoint(stopped.value.checkpoint)["step_in_epoch"] == 0


def _rank_stops(rank, world, port, cfg, held_dir, result_dir):
    """One torchrun-like rank: train into a folder another process holds, then train until the signal."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from video_rs.engine.distributed import cleanup_distributed
    from video_rs.engine.run_lock import OutputDirUnavailable

    outcome = {}
    refused = cfg.clone()
    refused.defrost()
    refused.OUTPUT_DIR = held_dir
    refused.freeze()
    try:
        train(refused)
    except OutputDirUnavailable as err:
        outcome["refused"] = str(err)
    try:
        train(cfg)
    except TrainingStopped as stop:
        outcome.update(code=stop.code, checkpoint=stop.checkpoint)
    torch.save(outcome, os.path.join(result_dir, f"rank{rank}.pt"))
    cleanup_distributed()


def test_under_ddp_all_ranks_stop_after_the_same_step_and_all_refuse_a_held_folder(make_cfg, data_three_classes,
                                                                                     tmp_path, free_port, monkeypatch):
    import torch.multiprocessing as mp

    from video_rs.engine.run_lock import hold_output_dir

    out = str(tmp_path / "ddp")
    cfg = make_cfg(data_three_classes, out, 3, "TRAIN.EVAL_PERIOD", "0", "TENSORBOARD.ENABLE", "False")
    monkeypatch.setenv(SIGNAL_AFTER_STEP_ENV, "SIGTERM:1")  # rank 0 alone receives it
    with hold_output_dir(str(tmp_path / "held")):
        context = mp.spawn(_rank_stops, args=(2, free_port(), cfg, str(tmp_path / "held"), str(tmp_path)), nprocs=2,
                           join=False)
        for _ in range(120):  # a rank left waiting in a collective would hang: give up after 10 minutes
            if context.join(timeout=5):
                break
        else:
            for process in context.processes:
                process.kill()
            pytest.fail("the ranks did not finish")
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert "is in use by another run" in rank0["refused"] and rank1["refused"] == rank0["refused"]
    path = ckpt.checkpoint_path(out, 0, 1)
    assert rank0["code"] == rank1["code"] == 143 and rank0["checkpoint"] == rank1["checkpoint"] == path
    assert ckpt.load_checkpoint(path)["schedule"]["step_count"] == 1 and ckpt.list_checkpoints(out) == [path]



@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; SLURM's process groups")
def test_sigterm_to_the_whole_process_group_with_loader_workers_stops_cleanly_and_resumes(two_epoch_run, tmp_path,
                                                                                          monkeypatch):
    """What SLURM does at a job's time limit: SIGTERM reaches the training process and its loader workers
    alike (sent by another process). The workers must keep loading until the training process has saved
    its checkpoint, and then end with it."""
    cfg, _, final = two_epoch_run
    out = str(tmp_path / "run")
    # run() returns once the output pipes close, which the workers hold too: none outlives the run
    result = _train_in_subprocess(cfg, out, "SIGTERM:2:group", "DATA_LOADER.NUM_WORKERS", "2")
    assert result.returncode == 143, result.stderr[-3000:]
    assert "DataLoader worker" not in result.stderr and "Traceback" not in result.stderr, result.stderr[-3000:]
    path = ckpt.checkpoint_path(out, 0, 2)
    assert ckpt.list_checkpoints(out) == [path]
    assert ckpt.load_checkpoint(path)["step_in_epoch"] == 2
    weights, loaded = _resume_counting_items(cfg, out, monkeypatch)
    _assert_equal_states(final, weights)
    assert loaded == 4 + 12


_LOADER_UNDER_GROUP_SIGTERM = """
import os, signal, sys, time
from video_rs.config import load_cfg
from video_rs.data.loader import build_loader
from video_rs.engine.preemption import _signal_own_group_from_outside

received = []
signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))  # as training does
loader = build_loader(load_cfg(sys.argv[1], []), "train")
batches = iter(loader)
next(batches)
print("workers", *(worker.pid for worker in batches._workers), flush=True)
_signal_own_group_from_outside(signal.SIGTERM)  # the workers are busy with the next batches
while not received:
    time.sleep(0.01)
print("batches after the signal", sum(1 for _ in batches), "of", len(loader) - 1, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # no chance to end its workers
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; SLURM's process groups")
def test_loader_workers_outlive_a_foreign_sigterm_but_not_their_training_process(make_cfg, data_three_classes,
                                                                                  tmp_path):
    """A SIGTERM from outside leaves the workers loading the epoch; killed with -9 after it, the training
    process leaves no worker behind for longer than torch's parent watchdog takes (a 5 s poll)."""
    cfg = make_cfg(data_three_classes, str(tmp_path / "out"), 3, "DATA_LOADER.NUM_WORKERS", "2")
    config = _write_cfg(cfg, str(tmp_path / "config.yaml"))
    with open(tmp_path / "stdout.txt", "w") as stdout, open(tmp_path / "stderr.txt", "w") as stderr:
        # files, not pipes: the workers would hold a pipe open after the training process is gone
        process = subprocess.Popen([sys.executable, "-c", _LOADER_UNDER_GROUP_SIGTERM, config], stdout=stdout,
                                   stderr=stderr, env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True)
        try:
            returncode = process.wait(timeout=300)
        finally:
            lingering = _group_ends_within(process.pid, 30.0)
            for pid in lingering:
                os.kill(pid, signal.SIGKILL)
    output, errors = (tmp_path / "stdout.txt").read_text(), (tmp_path / "stderr.txt").read_text()
    assert returncode == -signal.SIGKILL, errors[-3000:]
    assert "batches after the signal 2 of 2" in output, errors[-3000:]
    assert lingering == [], f"workers {lingering} outlived the training process by 30 s"


def test_a_signal_the_parent_set_to_be_ignored_stays_ignored():
    """A background job inherits SIGINT ignored; Ctrl-C meant for the foreground script must not stop training."""
    import signal

    from video_rs.engine.preemption import CheckpointTriggers

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with CheckpointTriggers() as triggers:
            triggers.arm()
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) == triggers._note
    finally:
        signal.signal(signal.SIGINT, previous)


def _poll_on_a_host_group(rank: int, store: str, results: str) -> None:
    import torch.distributed as dist

    from video_rs.engine import preemption

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    preemption.dist.get_backend = lambda *args: "nccl"  # as under NCCL: poll must agree through its own gloo group
    with preemption.CheckpointTriggers() as triggers:
        triggers.arm()
        if rank == 1:
            triggers.received = int(signal.SIGTERM)
        answer = triggers.poll(step=1)
    with open(f"{results}.{rank}", "w") as handle:
        handle.write(f"{answer[0]} {answer[1]} {triggers._group is not None}")
    dist.destroy_process_group()


def test_under_a_gpu_backend_the_ranks_agree_on_a_stop_through_a_host_group(tmp_path):
    """The stop flag is all-reduced on a gloo group beside NCCL, so no rank reads a GPU tensor after each step."""
    import torch.multiprocessing as mp

    mp.spawn(_poll_on_a_host_group, args=(str(tmp_path / "store"), str(tmp_path / "answer")), nprocs=2)
    for rank in (0, 1):
        assert (tmp_path / f"answer.{rank}").read_text() == f"{int(signal.SIGTERM)} False True"
