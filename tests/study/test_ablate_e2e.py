"""tools/ablate.py end to end: three rows of the CI study really train and test, and the gains files
report exactly what the row folders measured."""
import csv
import json
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def test_ablate_runs_rows_and_tables_their_results(tmp_path):
    out, data = tmp_path / "study", tmp_path / "data"
    command = [sys.executable, "tools/ablate.py", "--cfg", "configs/ablation/synthetic_ci.yaml",
               "--rows", "00_baseline,01_cosine,03_ema", "OUTPUT_DIR", str(out), "DATA.PATH_TO_DATA_DIR", str(data)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    rows = ["00_baseline", "01_cosine", "03_ema"]
    results = {row: json.loads((out / row / "results.json").read_text())["metrics"] for row in rows}
    configs = {row: yaml.safe_load((out / row / "config.yaml").read_text()) for row in rows}
    assert [configs[row]["SOLVER"]["LR_POLICY"] for row in rows] == ["steps_with_relative_lrs", "cosine", "cosine"]
    assert [configs[row]["MODEL_EMA"]["ENABLE"] for row in rows] == [False, False, True]
    assert configs["03_ema"]["SOLVER"]["MAX_EPOCH"] == 1  # 02_longer_training was not selected: not added

    with open(out / "gains.csv") as handle:
        table = list(csv.DictReader(handle))
    assert [entry["row"] for entry in table] == rows
    for entry in table:
        measured = results[entry["row"]]
        assert float(entry["top1"]) == measured["top1"] and float(entry["top5"]) == measured["top5"]
        assert float(entry["params_m"]) > 0 and float(entry["gmacs_per_view"]) > 0
        assert float(entry["train_clips_per_s"]) > 0 and float(entry["wall_time_s"]) > 0
    assert float(table[2]["top1_delta_prev"]) == results["03_ema"]["top1"] - results["01_cosine"]["top1"]
    assert float(table[2]["top1_delta_base"]) == results["03_ema"]["top1"] - results["00_baseline"]["top1"]
    md = (out / "gains.md").read_text()
    assert all(f"| {row} |" in md for row in rows)
    assert (out / "gains.png").read_bytes()[:4] == b"\x89PNG"
