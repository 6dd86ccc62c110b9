"""tools/benchmark.py on CPU with tiny inputs, plus the fvcore count the spec quotes for R3D-RS-50."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from video_rs.bench.profile import count_gmacs
from video_rs.cli import run_tool
from video_rs.config import load_cfg
from video_rs.models import build_model, create_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def benchmark_tool():
    spec = importlib.util.spec_from_file_location("benchmark_tool", ROOT / "tools" / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rs50_gmacs_match_the_spec():
    """Spec: fvcore counts 88.4 G multiply-adds per 32 x 224² view of R3D-RS-50."""
    assert count_gmacs(create_model("resnet3d_rs50"), (32, 224, 224)) == pytest.approx(88.4, abs=0.05)


def test_single_config_run(benchmark_tool, capsys):
    cfg = str(ROOT / "configs" / "k400" / "base.yaml")
    opts = ["RESNET.DEPTH", "26", "RESNET.WIDTH_MULTIPLIER", "0.25", "MODEL.NUM_CLASSES", "10"]
    assert benchmark_tool.main(["--cfg", cfg, "--device", "cpu", "--frames", "4", "--size", "32", "--iters", "1",
                                "--warmup", "1", "--batch-size", "2", *opts]) == 0
    params = sum(p.numel() for p in build_model(load_cfg(cfg, opts), device="meta").parameters())
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| base.yaml"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "4x32x32"
    assert cells[2] == f"{params / 1e6:.2f}"
    assert float(cells[4]) > 0 and float(cells[5]) > 0  # inference and training clips/s were measured
    assert "one multiply-add as one FLOP" in out and "cpu:" in out


def test_compare_writes_results(benchmark_tool, tmp_path):
    assert benchmark_tool.main(["--compare", "--models", "3d_resnetrs50", "x3d_m", "--device", "cpu",
                                "--frames", "4", "--size", "32", "--iters", "1", "--warmup", "0",
                                "--batch-size", "1", "--no-train", "--out-dir", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["device"].startswith("cpu:") and "multiply-add" in data["note"]
    by_name = {r["model"]: r for r in data["results"]}
    assert by_name["3d_resnetrs50"]["params"] == 48_129_840
    assert by_name["x3d_m"]["input"] == "4x32x32" and by_name["x3d_m"]["infer_clips_per_s"] > 0
    assert by_name["x3d_m"]["train_clips_per_s"] is None
    md = (tmp_path / "RESULTS.md").read_text()
    assert "| 3d_resnetrs50 | 4x32x32 | 48.13 |" in md and "Device: cpu:" in md


def test_a_missing_optional_pytorchvideo_is_one_error_line(benchmark_tool, monkeypatch, capsys, tmp_path):
    """pytorchvideo is an optional extra: without it the peer rows end the tool with one `error:` line, status 2."""
    monkeypatch.setitem(sys.modules, "pytorchvideo.models", None)  # importing it now raises ImportError
    argv = ["--compare", "--models", "x3d_m", "--device", "cpu", "--iters", "0", "--out-dir", str(tmp_path)]
    assert run_tool(benchmark_tool.main, argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: the peer model x3d_m needs pytorchvideo: pip install")
