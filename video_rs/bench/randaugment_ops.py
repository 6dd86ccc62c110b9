"""CPU ms per RandAugment op on one uint8 clip: torchvision's functional (before) against our op (after).

RandAugment draws `num_ops` of the 14 ops per clip, uniformly (the recipe: 2), so its expected cost
per clip is `num_ops` x the mean over the ops. Timed on one thread, as a loader worker runs them; each
op gets the paper-scale magnitude asked for (positive sign), on a clip of uniform random pixels. The
two versions take turns repeat by repeat, so load from other work hits both alike; the median is kept.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch

from video_rs.data.randaugment import MAX_MAGNITUDE, OPS, TORCHVISION_OPS


def _time_into(times: list[float], run: Callable[[], object]) -> None:
    """Appends the CPU ms of `run()` (process CPU time: other work on the machine does not count)."""
    start = time.process_time()
    run()
    times.append((time.process_time() - start) * 1000)


def time_randaugment_ops(*, frames: int = 32, size: int = 224, magnitude: int = 15, num_ops: int = 2,
                         repeats: int = 5, seed: int = 0) -> list[dict]:
    """One row per op: its name, its value at `magnitude` (degrees, shear, factor offset, bits, ...),
    before_ms, after_ms and speed-up; then the expected cost per clip (its value: `magnitude`)."""
    generator = torch.Generator().manual_seed(seed)
    clip = torch.randint(0, 256, (frames, 3, size, size), dtype=torch.uint8, generator=generator)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows = []
        for name, (magnitudes_of, _, ours) in OPS.items():
            magnitudes = magnitudes_of(MAX_MAGNITUDE + 1, size, size)
            value = 0.0 if magnitudes is None else float(magnitudes[magnitude])
            before, after = TORCHVISION_OPS[name], ours
            before(clip, value), after(clip, value)  # warm-up
            before_ms, after_ms = [], []
            for _ in range(repeats):
                _time_into(before_ms, lambda: before(clip, value))
                _time_into(after_ms, lambda: after(clip, value))
            rows.append({"op": name, "value": value, "before_ms": statistics.median(before_ms),
                         "after_ms": statistics.median(after_ms)})
    finally:
        torch.set_num_threads(threads)
    for row in rows:
        row["speedup"] = row["before_ms"] / max(row["after_ms"], 1e-6)
    mean_before = statistics.fmean(row["before_ms"] for row in rows)
    mean_after = statistics.fmean(row["after_ms"] for row in rows)
    rows.append({"op": f"expected per clip ({num_ops} x mean)", "value": float(magnitude),
                 "before_ms": num_ops * mean_before, "after_ms": num_ops * mean_after,
                 "speedup": mean_before / max(mean_after, 1e-6)})
    return rows


def print_randaugment_ops(rows: list[dict], *, frames: int, size: int) -> None:
    print(f"RandAugment ops on a {frames} x 3 x {size} x {size} uint8 clip, one thread, median CPU ms")
    print(f"{'op':<30} {'value':>9} {'torchvision':>11} {'ours':>8} {'speed-up':>8}")
    for row in rows:
        print(f"{row['op']:<30} {row['value']:>9.3g} {row['before_ms']:>11.1f} {row['after_ms']:>8.1f} "
              f"{row['speedup']:>7.1f}x")
