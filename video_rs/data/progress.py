"""Progress of long loops (dataset checks, preparation, evaluation): never silent for long.

On a terminal it is a tqdm bar. When stderr is a file or a pipe (nohup, SLURM, CI) a bar would
either vanish or flood the log, so a plain line goes out instead every `interval_s` seconds:

    check train: 1200/5000 (24%), 40.0/s, eta 1m35s

and one closing line when any was printed. Loops shorter than the interval print nothing.
"""
from __future__ import annotations

import sys
import time
from typing import Callable, Iterable, Iterator

PROGRESS_INTERVAL_S = 30.0
_clock = time.monotonic  # module-level so tests move time without sleeping


def progress(iterable: Iterable, *, total: int | None = None, desc: str = "", enabled: bool = True,
             interval_s: float = PROGRESS_INTERVAL_S, clock: Callable[[], float] | None = None,
             write: Callable[[str], None] | None = None, leave: bool = True) -> Iterable:
    """`iterable`, reporting how far it got: a tqdm bar on a terminal, else a line every `interval_s` seconds.

    `enabled=False` (ranks > 0) gives the bare iterable; `clock` and `write` default to the monotonic
    clock and stderr.
    """
    if not enabled:
        return iterable
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(iterable, total=total, desc=desc, leave=leave, dynamic_ncols=True)
    return _progress_lines(iterable, total, desc, interval_s, clock or _clock, write or _to_stderr)


def _progress_lines(iterable: Iterable, total: int | None, desc: str, interval_s: float,
                    clock: Callable[[], float], write: Callable[[str], None]) -> Iterator:
    start = last = clock()
    done, reported = 0, False
    for item in iterable:
        yield item
        done += 1
        now = clock()
        if now - last >= interval_s:
            write(progress_line(desc, done, total, now - start))
            last, reported = now, True
    if reported:
        write(f"{desc + ': ' if desc else ''}{done}{f'/{total}' if total else ''} done in "
              f"{_duration(clock() - start)}")


def progress_line(desc: str, done: int, total: int | None, elapsed_s: float) -> str:
    """'desc: done/total (pct), rate/s, eta 1m35s' (without total: 'desc: done, rate/s')."""
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    text = f"{desc}: " if desc else ""
    if total:
        text += f"{done}/{total} ({100 * done / total:.0f}%), {rate:.3g}/s"
        if rate > 0:
            text += f", eta {_duration(max(0, total - done) / rate)}"
        return text
    return text + f"{done}, {rate:.3g}/s"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
