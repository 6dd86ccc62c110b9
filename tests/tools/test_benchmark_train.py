"""tools/benchmark_train.py end to end on CPU: real H.264 files, the real loader and trainer pieces, JSON out.

The GPU session (benchmarks/gpu_session.sh) runs the same tool, so this is its dry run: one process,
and two torchrun processes over gloo (the DDP scaling check's path).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory):
    from video_rs.data.synthetic import generate_synthetic_dataset

    root = tmp_path_factory.mktemp("bench_train_videos")
    generate_synthetic_dataset(str(root), num_classes=3, videos_per_class=(4, 1, 1), num_frames=20,
                               size=(36, 44), fps=30, seed=0)
    return str(root)


def tiny_opts(video_dir: str, out_dir: Path, *extra: str) -> list[str]:
    return ["DEVICE", "cpu", "OUTPUT_DIR", str(out_dir), "RESNET.DEPTH", "26", "RESNET.WIDTH_MULTIPLIER", "0.125",
            "MODEL.NUM_CLASSES", "3", "DATA.PATH_TO_DATA_DIR", video_dir, "DATA.NUM_FRAMES", "4",
            "DATA.TRAIN_CROP_SIZE", "32", "DATA.TRAIN_JITTER_SCALES", "[32, 40]", "DATA.DECODING_BACKEND", "pyav",
            "TRAIN.BATCH_SIZE", "4", *extra]


def test_one_process_report(load_tool, video_dir, tmp_path, capsys):
    out = tmp_path / "report.json"
    tool = load_tool("benchmark_train")
    assert tool.main(["--iters", "5", "--warmup", "1", "--out", str(out),
                      *tiny_opts(video_dir, tmp_path, "DATA_LOADER.NUM_WORKERS", "1")]) == 0
    report = json.loads(out.read_text())
    assert report["device"].startswith("cpu:") and report["world_size"] == 1 and report["global_batch"] == 4
    assert report["iters"] == 5 and report["clip"] == "4x32x32" and report["clips_per_s"] > 0
    assert report["ranks"][0]["wall_s"] == pytest.approx(5 * 4 / report["clips_per_s"])
    assert 0 <= report["data_wait_fraction"] <= 1
    assert report["gpu_busy_fraction"] is None and report["peak_mem_mb"] > 0
    assert report["last_loss"] == report["last_loss"]  # finite losses from real steps (NaN != NaN)
    assert report["settings"]["num_workers"] == 1 and report["settings"]["decoding_backend"] == "pyav"
    table = capsys.readouterr().out
    assert "| clips/s (all processes) |" in table and "| data-wait fraction |" in table


def test_two_process_ddp_report(video_dir, tmp_path):
    """torchrun --nproc_per_node 2 over gloo: one report from rank 0 covering both processes."""
    out = tmp_path / "ddp.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(ROOT / "tools" / "benchmark_train.py"), "--iters", "3", "--warmup", "1", "--out", str(out),
           *tiny_opts(video_dir, tmp_path, "DATA_LOADER.NUM_WORKERS", "0", "DIST_BACKEND", "gloo")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["world_size"] == 2 and report["global_batch"] == 4 and len(report["ranks"]) == 2
    assert report["settings"]["dist_backend"] == "gloo"
    assert done.stdout.count("| clips/s (all processes) |") == 1  # rank 0 alone prints
