#!/usr/bin/env python
"""Turn one gpu_session.sh part's work folder into summary_<part>.md (targets met?) and RESULTS_<part>.md.

    python benchmarks/summarize_session.py /tmp/gpu_session --part model --out $OUT

The summary is printed last (a log cut short keeps its end), so it puts each target of
benchmarks/README.md beside the measured figure; a missing figure says why (step skipped,
timed out, failed), never a blank.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

# the targets of benchmarks/README.md: (label, file, extractor, target, unit)
TARGETS = [
    ("RS-50 train, compiled, batch 16", "compare_compiled_b16/results.json", ("train_clips_per_s",), 330, "clips/s"),
    ("RS-50 inference, compiled, batch 16", "compare_compiled_b16/results.json", ("infer_clips_per_s",), 1000,
     "clips/s"),
    ("RS-50 train, compiled, batch 32", "compare_compiled_b32/results.json", ("train_clips_per_s",), 330, "clips/s"),
    ("RS-50 inference, compiled, batch 32", "compare_compiled_b32/results.json", ("infer_clips_per_s",), 1000,
     "clips/s"),
    ("RS-50 train, eager, batch 16", "compare_eager_b16/results.json", ("train_clips_per_s",), None, "clips/s"),
    ("RS-50 inference, eager, batch 32", "compare_eager_rs50_b32/results.json", ("infer_clips_per_s",), None,
     "clips/s"),
    ("end to end, compiled, H.264 (clips/s)", "e2e_compiled.json", ("clips_per_s",), 250, "clips/s"),
    ("end to end, compiled: GPU busy (CUDA events)", "e2e_compiled.json", ("gpu_busy_fraction",), 0.9, "fraction"),
    ("end to end, compiled: GPU utilization (NVML)", "e2e_compiled.json", ("nvml_utilization_mean",), 0.9, "fraction"),
    ("end to end, compiled: data-wait fraction", "e2e_compiled.json", ("data_wait_fraction",), None, "fraction"),
    ("end to end, compiled: peak memory", "e2e_compiled.json", ("peak_mem_mb",), None, "MB"),
    ("end to end, eager, 1 process", "e2e_eager_1proc.json", ("clips_per_s",), None, "clips/s"),
    ("end to end, eager, 2 DDP processes on 1 GPU", "ddp_eager_2proc.json", ("clips_per_s",), None, "clips/s"),
    ("end to end, compiled, 2 copies per decode", "e2e_compiled_spatial2.json", ("clips_per_s",), 250, "clips/s"),
    ("end to end, compiled, 2 copies per decode: GPU busy", "e2e_compiled_spatial2.json", ("gpu_busy_fraction",), 0.9,
     "fraction"),
    ("end to end, compiled, RandAugment on the GPU", "e2e_compiled_randaug_gpu.json", ("clips_per_s",), None, "clips/s"),
]
DATA_RUNS = ["data_decord_gop250", "data_decord_gop32", "data_pyav_gop250", "data_pyav_gop32", "data_decord_gop32_spatial2"]


def _load(path: str):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _rs50(data) -> dict | None:
    """The 3d_resnetrs50 row of a benchmark.py --compare results.json (the only row for compiled runs)."""
    rows = [r for r in (data or {}).get("results", []) if r.get("model") == "3d_resnetrs50"]
    return rows[0] if rows else None


def read_steps(work: str) -> dict[str, tuple[str, str]]:
    steps = {}
    with open(os.path.join(work, "steps.tsv")) as handle:
        for line in handle:
            name, status, seconds = (line.rstrip("\n").split("\t") + ["", ""])[:3]
            steps[name] = (status, seconds)
    return steps


def _figure(work: str, file: str, keys: tuple[str, ...]):
    data = _load(os.path.join(work, file))
    if data is not None and "results" in data:
        data = _rs50(data)
    for key in keys:
        if data is not None and data.get(key) is not None:
            return data[key]
    return None


def _why_missing(steps: dict, file: str) -> str:
    name = {"compare_compiled_b16": "compare_compiled_rs50_b16", "compare_compiled_b32": "compare_compiled_rs50_b32",
            "compare_eager_b16": "compare_eager_b16", "compare_eager_rs50_b32": "compare_eager_rs50_b32"}.get(
        file.split("/")[0], file.removesuffix(".json"))
    if name not in steps:
        return "not run in this part"
    status = steps[name][0]
    return "no figure (step rc 0)" if status == "0" else f"step: {status}"


def data_rows(work: str, steps: dict) -> list[str]:
    """tools/benchmark_data.py rows (clips_per_second); where a run left none, the log's last line says why."""
    rows = []
    for name in DATA_RUNS:
        if name not in steps:
            continue
        data = _load(os.path.join(work, f"{name}.json")) or {}
        if isinstance(data, list):  # tools/benchmark_data.py --json: one row per backend x workers
            data = data[0] if data else {}
        value = data.get("clips_per_second")
        if value is None:
            log = os.path.join(work, "logs", f"{name}.log")
            tail = open(log).read().strip().splitlines()[-1:] if os.path.exists(log) else []
            value = f"see logs ({steps[name][0]}): {tail[0][:80] if tail else ''}"
        else:
            value = f"{value:,.1f} clips/s"
        rows.append(f"| loader {name.removeprefix('data_')} | {value} |")
    return rows


def summary(work: str, part: str) -> str:
    steps = read_steps(work)
    env = open(os.path.join(work, "environment.txt")).read().strip() if os.path.exists(
        os.path.join(work, "environment.txt")) else "unknown"
    lines = [f"# gpu_session.sh {part}", "", "```", env, "```", "", "| figure | measured | target | met |",
             "|---|---|---|---|"]
    for label, file, keys, target, unit in TARGETS:
        value = _figure(work, file, keys)
        if value is None:
            why = _why_missing(steps, file)
            if why != "not run in this part":
                lines.append(f"| {label} | unmeasured ({why}) | {target or ''} | |")
            continue
        shown = f"{value:.3f}" if unit == "fraction" else f"{value:,.{1 if value >= 10 else 3}f} {unit}"
        met = "" if target is None else ("yes" if value >= target else "no")
        lines.append(f"| {label} | {shown} | {'' if target is None else target} | {met} |")
    one, two = (_figure(work, f, ("clips_per_s",)) for f in ("e2e_eager_1proc.json", "ddp_eager_2proc.json"))
    if one and two:
        lines.append(f"| DDP 2 procs / 1 proc on one GPU (gloo; path check) | {two / one:.3f} | | |")
    lines += data_rows(work, steps)
    lines += ["", "| step | status | seconds |", "|---|---|---|"]
    lines += [f"| {name} | {status} | {seconds} |" for name, (status, seconds) in steps.items()]
    return "\n".join(lines) + "\n"


def results_section(work: str) -> str:
    """Every compare table this part produced, then the end-to-end tables: a section of benchmarks/RESULTS.md."""
    parts = []
    for folder in ("compare_eager_b16", "compare_eager_rs50_b32", "compare_compiled_b16", "compare_compiled_b32"):
        path = os.path.join(work, folder, "RESULTS.md")
        if os.path.exists(path):
            text = open(path).read()
            parts.append(text if not parts else text.replace("# Model cost benchmark", f"## {folder}"))
    for name in ("e2e_compiled", "e2e_eager_1proc", "ddp_eager_2proc", "e2e_compiled_spatial2", "e2e_compiled_randaug_gpu"):
        data = _load(os.path.join(work, f"{name}.json"))
        if data:
            from video_rs.bench.train_throughput import ThroughputReport, report_table

            fields = {k: v for k, v in data.items() if k in ThroughputReport.__dataclass_fields__}
            parts.append(f"## End to end: {name}\n\n{report_table(ThroughputReport(**fields))}\n"
                         f"Produced by `{data.get('command', '')}`.\n")
    return "\n".join(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work")
    parser.add_argument("--part", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"summary_{args.part}.md"), "w") as handle:
        handle.write(summary(args.work, args.part))
    section = results_section(args.work)
    if section:
        with open(os.path.join(args.out, f"RESULTS_{args.part}.md"), "w") as handle:
            handle.write(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
