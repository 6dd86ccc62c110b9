"""tools/benchmark_data.py --compare on tiny real videos: every variant runs on the same clips, nothing timed is asserted."""
import json

import numpy as np
import torch

from video_rs.bench.data_compare import decord_floor, pyav_slowfast
from video_rs.data.decoders import decode


def test_compare_prints_every_variant_and_the_test_frames_decoded(load_tool, tiny_synthetic_dataset, tmp_path, capsys):
    out_json = tmp_path / "rows.json"
    argv = ["--compare", "--workers", "1", "--rounds", "1", "--warmup", "1", "--json", str(out_json),
            "DATA.PATH_TO_DATA_DIR", tiny_synthetic_dataset, "OUTPUT_DIR", str(tmp_path), "MODEL.NUM_CLASSES", "3",
            "DATA.NUM_FRAMES", "4", "DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "32",
            "TRAIN.BATCH_SIZE", "2", "TEST.BATCH_SIZE", "6", "TEST.NUM_ENSEMBLE_VIEWS", "2", "TEST.SPLIT", "test",
            "DATA_LOADER.PIN_MEMORY", "False", "DATA.RANDOM_FLIP", "False"]
    assert load_tool("benchmark_data").main(argv) == 0
    out = capsys.readouterr().out
    for name in ("decord floor", "pyav slowfast", "train loader", "test per view", "test loader"):
        assert name in out
    rows = {row["variant"]: row for row in json.loads(out_json.read_text())}
    assert rows["train loader"]["clips"] == rows["decord floor"]["clips"] == 2  # the same clips, one timed round
    assert rows["test loader"]["clips"] == rows["test per view"]["clips"] == 6  # a batch of 3 videos x 2 views
    frames = rows["test frames decoded"]
    assert frames["decode_once"] <= frames["one_pass"] < frames["per_view"]


def test_the_baselines_decode_the_frames_the_project_decodes(index_video, frame_numbers):
    indices = np.array([3, 5, 7, 9, 41, 43])
    expected = frame_numbers(decode(index_video, indices, "pyav"))
    assert (frame_numbers(decord_floor(index_video, indices)) == expected).all()
    assert (frame_numbers(pyav_slowfast(index_video, np.arange(40, 47), 30.0)) == np.arange(40, 47)).all()
    assert (expected == indices).all()
    assert torch.equal(torch.as_tensor(decord_floor(index_video, indices)), torch.as_tensor(decode(index_video, indices, "decord")))


def test_overhead_and_sets_run_on_the_same_clips(load_tool, tiny_synthetic_dataset, tmp_path, capsys):
    opts = ["DATA.PATH_TO_DATA_DIR", tiny_synthetic_dataset, "OUTPUT_DIR", str(tmp_path), "MODEL.NUM_CLASSES", "3",
            "DATA.NUM_FRAMES", "4", "DATA.TRAIN_CROP_SIZE", "32", "TRAIN.BATCH_SIZE", "2", "DATA.RANDOM_FLIP", "False"]
    tool = load_tool("benchmark_data")
    assert tool.main(["--overhead", "--rounds", "1", "--json", str(tmp_path / "o.json"), *opts]) == 0
    rows = json.loads((tmp_path / "o.json").read_text())
    assert [r["variant"] for r in rows] == ["decord floor", "clip by clip (before)", "in place (now)"]
    assert all(r["clips"] == 4 for r in rows)
    capsys.readouterr()
    assert tool.main(["--sets", tiny_synthetic_dataset, tiny_synthetic_dataset, "--rounds", "1", *opts]) == 0
    assert capsys.readouterr().out.count("CPU ms/clip") == 2
    assert tool.main(["--sets", tiny_synthetic_dataset, "--randaugment-too", "--rounds", "1", *opts]) == 0
    out = capsys.readouterr().out
    assert "RandAugment off" in out and "RandAugment on" in out
