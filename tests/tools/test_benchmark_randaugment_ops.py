"""tools/benchmark_data.py --randaugment-ops on a tiny clip: a row per op and the expected cost (nothing timed is
asserted)."""
import json

from video_rs.data.randaugment import OPS


def test_randaugment_ops_prints_every_op_before_and_after(load_tool, tmp_path, capsys):
    out_json = tmp_path / "rows.json"
    argv = ["--randaugment-ops", "--rounds", "1", "--json", str(out_json), "DATA.NUM_FRAMES", "2",
            "DATA.TRAIN_CROP_SIZE", "24", "AUG.RANDAUG_MAGNITUDE", "9", "AUG.RANDAUG_NUM_OPS", "3"]
    assert load_tool("benchmark_data").main(argv) == 0
    out = capsys.readouterr().out
    assert "2 x 3 x 24 x 24 uint8 clip, one thread" in out
    rows = json.loads(out_json.read_text())
    assert [row["op"] for row in rows] == [*OPS, "expected per clip (3 x mean)"]
    assert all(row["before_ms"] >= 0 and row["after_ms"] >= 0 for row in rows)
    rotate = next(row for row in rows if row["op"] == "Rotate")
    assert rotate["value"] == 27.0  # the op's value at the paper-scale magnitude asked for: 9 x 3 degrees
    mean_after = sum(row["after_ms"] for row in rows[:-1]) / len(OPS)
    assert abs(rows[-1]["after_ms"] - 3 * mean_after) < 1e-6
