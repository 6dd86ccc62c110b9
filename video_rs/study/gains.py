"""The gains table: what each row of a study measured, and what each change added.

Every number comes from a file the row's run left behind; nothing is assumed or filled in, and a
value a row has not produced (yet) is shown as "—" (an empty cell in the CSV, so tools read it
as missing):

    OUTPUT_DIR/<row>/results.json    top-1, top-5 of the multi-view test
    OUTPUT_DIR/<row>/metrics.jsonl   training throughput (clips/s, all ranks, data loading included)
    OUTPUT_DIR/<row>/profile.json    parameters and GMACs of the row's network (video_rs.study.profile)
    OUTPUT_DIR/<row>/study_row.json  the row's description and wall time
"""
from __future__ import annotations

import csv
import json
import os
import statistics
from typing import Any, Sequence

from video_rs.study.runner import PROFILE_FILE, RESULTS_FILE, ROW_RECORD_FILE

__all__ = ["MISSING", "read_row_measurements", "gains_table", "write_gains"]

MISSING = "—"
# (key, Markdown header, CSV header): the table's columns, in order.
COLUMNS = (
    ("index", "#", "index"),
    ("row", "row", "row"),
    ("change", "change", "change"),
    ("top1", "top-1 %", "top1"),
    ("top1_delta_prev", "Δ prev", "top1_delta_prev"),
    ("top1_delta_base", "Δ base", "top1_delta_base"),
    ("top5", "top-5 %", "top5"),
    ("top5_delta_prev", "Δ prev", "top5_delta_prev"),
    ("top5_delta_base", "Δ base", "top5_delta_base"),
    ("params_m", "params (M)", "params_m"),
    ("gmacs", "GMACs/view", "gmacs_per_view"),
    ("clips_per_s", "train clips/s", "train_clips_per_s"),
    ("wall_time_s", "wall time", "wall_time_s"),
)


def _read_json(path: str) -> dict | None:
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def training_throughput(metrics_path: str) -> float | None:
    """Median clips/s over the logged training windows; the first window (start-up) is dropped
    when there are three or more, so one slow start does not stand for the whole run."""
    rates = []
    if os.path.isfile(metrics_path):
        with open(metrics_path, encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line) if line.strip() else {}
                if record.get("kind") == "iter" and isinstance(record.get("clips_per_s"), (int, float)):
                    rates.append(float(record["clips_per_s"]))
    if len(rates) >= 3:
        rates = rates[1:]
    return statistics.median(rates) if rates else None


def read_row_measurements(row_dir: str) -> dict[str, Any]:
    """What one row's folder holds; None for each value the run has not written."""
    results = _read_json(os.path.join(row_dir, RESULTS_FILE)) or {}
    metrics = results.get("metrics", {})
    profile = _read_json(os.path.join(row_dir, PROFILE_FILE)) or {}
    record = _read_json(os.path.join(row_dir, ROW_RECORD_FILE)) or {}
    finished = bool(results)
    return {
        "top1": metrics.get("top1"),
        "top5": metrics.get("top5"),
        "params_m": profile["params"] / 1e6 if profile.get("params") is not None else None,
        "gmacs": profile.get("gmacs"),
        "clips_per_s": training_throughput(os.path.join(row_dir, "metrics.jsonl")),
        "wall_time_s": record.get("wall_time_s") if finished else None,  # a row still running has no wall time yet
    }


def _delta(value: float | None, reference: float | None) -> float | None:
    return None if value is None or reference is None else value - reference


def gains_table(rows: Sequence[tuple[str, str, dict[str, Any]]], baseline: str) -> list[dict[str, Any]]:
    """Table rows from (name, change, measurements) in run order, with the deltas of top-1 and top-5
    against the previous row and against the row named `baseline` (None where either is missing)."""
    reference = next((m for name, _, m in rows if name == baseline), {})
    table, previous = [], None
    for index, (name, change, measured) in enumerate(rows):
        entry = {"index": index, "row": name, "change": change, **measured}
        for metric in ("top1", "top5"):
            entry[f"{metric}_delta_prev"] = _delta(measured.get(metric), previous.get(metric)) if previous else None
            entry[f"{metric}_delta_base"] = None if name == baseline else _delta(measured.get(metric),
                                                                                  reference.get(metric))
        table.append(entry)
        previous = measured
    return table


def _format(key: str, value: Any) -> str:
    if value is None:
        return MISSING
    if key.endswith(("delta_prev", "delta_base")):
        return f"{value:+.2f}"
    if key in ("params_m", "gmacs") and abs(value) < 1:
        return f"{value:.3g}"  # tiny CI networks: keep three significant digits
    if key in ("top1", "top5", "params_m", "gmacs"):
        return f"{value:.2f}"
    if key == "clips_per_s":
        return f"{value:.1f}"
    if key == "wall_time_s":
        minutes, seconds = divmod(int(round(value)), 60)
        return f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}"
    return str(value).replace("|", "\\|")


def to_markdown(table: Sequence[dict[str, Any]], *, title: str, notes: Sequence[str] = ()) -> str:
    lines = [f"# {title}", ""]
    lines.append("| " + " | ".join(header for _, header, _ in COLUMNS) + " |")
    lines.append("|" + "|".join("---" if key in ("row", "change") else "---:" for key, _, _ in COLUMNS) + "|")
    for entry in table:
        lines.append("| " + " | ".join(_format(key, entry.get(key)) for key, _, _ in COLUMNS) + " |")
    lines.append("")
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def write_csv(table: Sequence[dict[str, Any]], path: str) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([header for _, _, header in COLUMNS])
        for entry in table:
            writer.writerow(["" if entry.get(key) is None else entry[key] for key, _, _ in COLUMNS])


def plot_gains(table: Sequence[dict[str, Any]], path: str, *, title: str) -> None:
    """Bar chart of top-1 per row, each bar labelled with its value and its change over the previous row."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    names = [entry["row"] for entry in table]
    measured = [entry["top1"] for entry in table if entry["top1"] is not None]
    low, high = (min(measured), max(measured)) if measured else (0.0, 100.0)
    pad = max(1.0, 0.3 * (high - low))
    bottom, top = max(0.0, low - 2 * pad), min(100.0, high + 2 * pad)  # zoomed: gains are a few points
    colours = ["tab:gray" if e["top1_delta_prev"] is None else "tab:green" if e["top1_delta_prev"] >= 0
               else "tab:red" for e in table]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.8 * len(names) + 2), 4.5))
    bars = ax.bar(range(len(names)), [entry["top1"] or 0.0 for entry in table], color=colours)
    for bar, entry in zip(bars, table):
        if entry["top1"] is None:
            label, height = MISSING, bottom
        elif entry["top1_delta_prev"] is None:
            label, height = f"{entry['top1']:.1f}", entry["top1"]
        else:
            label, height = f"{entry['top1']:.1f}\n({entry['top1_delta_prev']:+.1f})", entry["top1"]
        ax.annotate(label, (bar.get_x() + bar.get_width() / 2, height), ha="center", va="bottom",
                    fontsize=8, xytext=(0, 2), textcoords="offset points")
    ax.set_ylim(bottom, top)
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("top-1 % (multi-view test)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_gains(output_dir: str, table: Sequence[dict[str, Any]], *, title: str,
                notes: Sequence[str] = ()) -> list[str]:
    """gains.md, gains.csv and gains.png in `output_dir`; returns their paths."""
    os.makedirs(output_dir, exist_ok=True)
    paths = [os.path.join(output_dir, f"gains.{ext}") for ext in ("md", "csv", "png")]
    with open(paths[0], "w", encoding="utf-8") as handle:
        handle.write(to_markdown(table, title=title, notes=notes))
    write_csv(table, paths[1])
    plot_gains(table, paths[2], title=title)
    return paths
