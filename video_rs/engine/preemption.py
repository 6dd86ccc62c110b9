"""Stop training cleanly on SIGTERM or SIGINT: finish the step, checkpoint the exact position, exit 143 / 130.

SLURM and Kubernetes send SIGTERM some time before they kill a job; Ctrl-C sends SIGINT. The handler
only notes the signal. The training loop polls after every optimiser step (all ranks agree through
one small all-reduce, so every rank stops after the same step), writes a checkpoint of the position
inside the epoch, and raises `TrainingStopped`: the process ends with 128 + the signal number, the
status a shell reports for a process the signal ended. A second signal acts at once (the previous
handler is back after the first).

For tests: VIDEO_RS_SIGNAL_AFTER_STEP="SIGTERM:5" makes rank 0 send itself SIGTERM after optimiser
step 5 of the run (the LR schedule's step count), once.
"""
from __future__ import annotations

import os
import signal
import threading

import torch
import torch.distributed as dist

from video_rs.engine.distributed import is_dist, is_main_process

SIGNAL_AFTER_STEP_ENV = "VIDEO_RS_SIGNAL_AFTER_STEP"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TrainingStopped(SystemExit):
    """A stop signal ended training after its checkpoint was written; exits with 128 + the signal number."""

    def __init__(self, signum: int, checkpoint: str):
        super().__init__(128 + signum)
        self.signum, self.checkpoint = signum, checkpoint


def _signal_hook() -> tuple[int, int] | None:
    """(signal, step) from VIDEO_RS_SIGNAL_AFTER_STEP, or None."""
    value = os.environ.get(SIGNAL_AFTER_STEP_ENV, "")
    if not value:
        return None
    name, _, step = value.partition(":")
    try:
        return int(signal.Signals[name.upper()]), int(step)
    except (KeyError, ValueError):
        raise ValueError(f"{SIGNAL_AFTER_STEP_ENV} must look like SIGTERM:5, got {value!r}") from None


class StopSignals:
    """Notes SIGTERM / SIGINT between `arm()` and the end of the `with` block; `poll` says when to stop."""

    def __init__(self):
        self.received = 0
        self._previous: dict[int, object] = {}
        self._hook = _signal_hook()

    def __enter__(self) -> "StopSignals":
        return self

    def arm(self) -> None:
        """Install the handlers (main thread only: Python delivers signals there)."""
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._note)

    def _note(self, signum: int, frame) -> None:
        self.received = self.received or signum
        signal.signal(signum, self._previous.get(signum) or signal.SIG_DFL)  # a second one acts at once

    def poll(self, step: int, device: torch.device) -> int:
        """The signal to stop for, the same on every rank, or 0; every rank calls it at the same points."""
        if self._hook is not None and self._hook[1] == step and is_main_process():
            signum, self._hook = self._hook[0], None
            os.kill(os.getpid(), signum)  # the handler runs before os.kill returns
        if not is_dist():
            return self.received
        flag = torch.tensor([self.received], dtype=torch.int64, device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return int(flag.item())

    def __exit__(self, *exc) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()
