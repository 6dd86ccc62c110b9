"""When training checkpoints inside an epoch: on SIGTERM / SIGINT (then it stops), and every
TRAIN.CHECKPOINT_PERIOD_MINUTES.

SLURM and Kubernetes send SIGTERM some time before they kill a job; Ctrl-C sends SIGINT. The handler
only notes the signal. The training loop polls after every optimiser step (all ranks agree through
one small all-reduce, so every rank acts after the same step), writes a checkpoint of the position
inside the epoch, and on a signal raises `TrainingStopped`: the process ends with 128 + the signal
number (143 for SIGTERM, 130 for SIGINT), the status a shell reports for a process the signal ended.
A second signal acts at once (the previous handler is back after the first). A signal that arrives
during an epoch's last step, its precise-BN pass or its validation is acted on when that epoch's
end-of-epoch work is done (with the epoch checkpoint), not sooner; a signal the parent process set to
be ignored (a background job's SIGINT) stays ignored.

For tests: VIDEO_RS_SIGNAL_AFTER_STEP="SIGTERM:5" makes rank 0 send itself SIGTERM after optimiser
step 5 of the run (the LR schedule's step count), once; "SIGTERM:5:group" has a helper process send it
to rank 0's whole process group instead (its loader workers too), as SLURM does at a job's time limit.
`clock` may be replaced by a fake.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import torch
import torch.distributed as dist

from video_rs.engine.distributed import is_dist, is_main_process

SIGNAL_AFTER_STEP_ENV = "VIDEO_RS_SIGNAL_AFTER_STEP"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
clock = time.monotonic  # seconds; read on rank 0 only, so the ranks never disagree about the period


class TrainingStopped(SystemExit):
    """A stop signal ended training after its checkpoint was written; exits with 128 + the signal number."""

    def __init__(self, signum: int, checkpoint: str):
        super().__init__(128 + signum)
        self.signum, self.checkpoint = signum, checkpoint


def _signal_hook() -> tuple[int, int, bool] | None:
    """(signal, step, to the whole process group) from VIDEO_RS_SIGNAL_AFTER_STEP, or None."""
    value = os.environ.get(SIGNAL_AFTER_STEP_ENV, "")
    if not value:
        return None
    name, _, rest = value.partition(":")
    step, _, target = rest.partition(":")
    try:
        if target not in ("", "group"):
            raise ValueError(target)
        return int(signal.Signals[name.upper()]), int(step), target == "group"
    except (KeyError, ValueError):
        raise ValueError(f"{SIGNAL_AFTER_STEP_ENV} must look like SIGTERM:5 or SIGTERM:5:group, "
                         f"got {value!r}") from None


def _signal_own_group_from_outside(signum: int) -> None:
    """Send `signum` to this process's group from another process, as a scheduler does (loader workers
    treat a SIGTERM from the training process itself as their order to exit)."""
    subprocess.run([sys.executable, "-c", f"import os; os.killpg({os.getpgrp()}, {signum})"], check=True,
                   start_new_session=True)  # not a member of the group it signals


def _host_group():
    """A process group whose collectives run on the host: None (the default group) when that is gloo
    already or there is no group; else a new gloo group of every rank (every rank must call this)."""
    if not is_dist() or dist.get_backend() == "gloo":
        return None
    return dist.new_group(backend="gloo")


class CheckpointTriggers:
    """Notes SIGTERM / SIGINT between `arm()` and the end of the `with` block; `poll` says what to do after a step."""

    def __init__(self, period_minutes: float = 0.0):
        self.received = 0
        self.period_s = 60.0 * period_minutes
        self._last_checkpoint = 0.0
        self._previous: dict[int, object] = {}
        self._hook = _signal_hook()
        self._group = None  # the process group `poll` agrees through (None: the default one)

    def __enter__(self) -> "CheckpointTriggers":
        return self

    def arm(self) -> None:
        """Install the handlers (main thread only: Python delivers signals there) and start the period."""
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                if signal.getsignal(signum) is signal.SIG_IGN:
                    continue  # ignored by whoever started us (a background job): keep it so
                self._previous[signum] = signal.signal(signum, self._note)
        self._group = _host_group()
        self.checkpoint_saved()

    def checkpoint_saved(self) -> None:
        if self.period_s and is_main_process():
            self._last_checkpoint = clock()

    def _note(self, signum: int, frame) -> None:
        self.received = self.received or signum
        signal.signal(signum, self._previous.get(signum) or signal.SIG_DFL)  # a second one acts at once

    def poll(self, step: int) -> tuple[int, bool]:
        """(signal to stop for or 0, whether the checkpoint period has passed), the same on every rank.

        Every rank calls it at the same points (after each step, at each epoch's end). The ranks agree on
        the host (a gloo group beside NCCL): a GPU all-reduce read back here would make the host wait for
        every step's GPU work before it could queue the next.
        """
        if self._hook is not None and self._hook[1] == step and is_main_process():
            (signum, _, group), self._hook = self._hook, None
            if group:
                _signal_own_group_from_outside(signum)
                while not self.received:  # delivered by now; the Python-level handler runs between bytecodes
                    time.sleep(0.01)
            else:
                os.kill(os.getpid(), signum)  # the handler runs before os.kill returns
        due = bool(self.period_s) and is_main_process() and clock() - self._last_checkpoint >= self.period_s
        if not is_dist():
            return self.received, due
        flags = torch.tensor([self.received, int(due)], dtype=torch.int64)
        dist.all_reduce(flags, op=dist.ReduceOp.MAX, group=self._group)
        return int(flags[0]), bool(flags[1])

    def __exit__(self, *exc) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()
