"""The gains table on fabricated row folders: values read back, deltas against previous row and baseline."""
import csv
import json

import pytest

from video_rs.study.gains import MISSING, gains_table, read_row_measurements, training_throughput, write_gains


def fabricate(row_dir, *, top1=None, top5=None, rates=(), params=None, gmacs=None, wall=None):
    row_dir.mkdir(parents=True)
    if top1 is not None:
        (row_dir / "results.json").write_text(json.dumps({"metrics": {"top1": top1, "top5": top5}}))
    with open(row_dir / "metrics.jsonl", "w") as handle:
        handle.write(json.dumps({"kind": "epoch", "epoch": 1, "clips_per_s": 1e9}) + "\n")  # not an iter record
        for rate in rates:
            handle.write(json.dumps({"kind": "iter", "clips_per_s": rate}) + "\n")
    if params is not None:
        (row_dir / "profile.json").write_text(json.dumps({"params": params, "gmacs": gmacs}))
    if wall is not None:
        (row_dir / "study_row.json").write_text(json.dumps({"wall_time_s": wall}))
    return row_dir


@pytest.fixture
def rows(tmp_path):
    specs = {
        "00_baseline": dict(top1=70.0, top5=90.0, rates=(1.0, 10.0, 12.0, 11.0), params=2_500_000, gmacs=3.0, wall=3725),
        "01_cosine": dict(top1=71.5, top5=90.5, rates=(20.0,), params=2_500_000, gmacs=3.0, wall=60),
        "02_longer": dict(top1=71.0, top5=91.25, params=2_500_000, gmacs=3.0, wall=61),
        "03_ema": dict(),  # not run yet
        "04_ls": dict(top1=72.25, top5=92.0),
    }
    return [(name, f"+ {name}", read_row_measurements(str(fabricate(tmp_path / name, **spec))))
            for name, spec in specs.items()]


def test_measurements_are_read_from_the_row_files(rows):
    baseline = rows[0][2]
    assert baseline == {"top1": 70.0, "top5": 90.0, "params_m": 2.5, "gmacs": 3.0, "clips_per_s": 11.0,
                        "wall_time_s": 3725}
    assert set(rows[3][2].values()) == {None}


def test_deltas_against_previous_row_and_baseline(rows):
    table = gains_table(rows, baseline="00_baseline")
    prev = [(e["top1_delta_prev"], e["top5_delta_prev"]) for e in table]
    base = [(e["top1_delta_base"], e["top5_delta_base"]) for e in table]
    assert prev == [(None, None), (1.5, 0.5), (-0.5, 0.75), (None, None), (None, None)]
    assert base == [(None, None), (1.5, 0.5), (1.0, 1.25), (None, None), (2.25, 2.0)]
    assert [e["index"] for e in table] == [0, 1, 2, 3, 4]
    assert all(e["top1_delta_base"] is None for e in gains_table(rows[1:], baseline="00_baseline"))


def test_throughput_is_the_median_without_the_start_up_window(tmp_path):
    assert training_throughput(str(fabricate(tmp_path / "a", rates=(1.0, 10.0, 30.0, 12.0)) / "metrics.jsonl")) == 12.0
    assert training_throughput(str(fabricate(tmp_path / "b", rates=(1.0, 3.0)) / "metrics.jsonl")) == 2.0
    assert training_throughput(str(tmp_path / "missing.jsonl")) is None


def test_files_show_every_number_and_mark_missing_ones(rows, tmp_path):
    md_path, csv_path, png_path = write_gains(str(tmp_path / "study"), gains_table(rows, baseline="00_baseline"),
                                              title="Gains: test", notes=["a note"])
    md = open(md_path).read().splitlines()
    assert md[0] == "# Gains: test" and "- a note" in md
    assert md[4] == "| 0 | 00_baseline | + 00_baseline | 70.00 | — | — | 90.00 | — | — | 2.50 | 3.00 | 11.0 | 1:02:05 |"
    assert md[6] == "| 2 | 02_longer | + 02_longer | 71.00 | -0.50 | +1.00 | 91.25 | +0.75 | +1.25 | 2.50 | 3.00 | — | 0:01:01 |"
    assert md[7].count(MISSING) == 10
    with open(csv_path) as handle:
        table = list(csv.DictReader(handle))
    assert table[1]["top1_delta_prev"] == "1.5" and table[4]["top1_delta_base"] == "2.25"
    assert table[3]["top1"] == "" and table[0]["wall_time_s"] == "3725"
    assert open(png_path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
