"""Every YAML under configs/ loads, validates and builds its model; the K400 files match the spec."""
from pathlib import Path

import pytest
import torch

from video_rs.config import ConfigError, load_cfg
from video_rs.models import build_model

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
ALL_YAML = sorted(CONFIGS.rglob("*.yaml"))
K400 = CONFIGS / "k400"


def rel(path: Path) -> str:
    return str(path.relative_to(CONFIGS))


def test_configs_exist():
    assert (K400 / "base.yaml") in ALL_YAML and (K400 / "3d_resnet50_baseline.yaml") in ALL_YAML


@pytest.mark.parametrize("path", ALL_YAML, ids=rel)
def test_config_starts_with_a_comment(path):
    assert path.read_text().lstrip().startswith("#"), "every config starts with a comment saying what it is for"


@pytest.mark.parametrize("path", ALL_YAML, ids=rel)
def test_config_loads_and_builds(path):
    try:
        cfg = load_cfg(str(path))
    except ConfigError as err:
        if "ablation" in path.relative_to(CONFIGS).parts:
            pytest.skip(f"ablation row file, not a loadable config alone: {err}")
        raise
    model = build_model(cfg, device="meta")
    for size in (cfg.DATA.TRAIN_CROP_SIZE, cfg.DATA.TEST_CROP_SIZE):
        clip = torch.empty(1, 3, cfg.DATA.NUM_FRAMES, size, size, device="meta")
        assert model(clip).shape == (1, cfg.MODEL.NUM_CLASSES)


def test_k400_base_is_the_official_experiment():
    cfg = load_cfg(str(K400 / "base.yaml"))
    r, s = cfg.RESNET, cfg.SOLVER
    assert (r.DEPTH, r.STEM, r.STEM_TEMPORAL_KERNEL, r.STEM_TEMPORAL_STRIDE, r.STEM_POOL_TEMPORAL_STRIDE) == (50, "v1", 5, 2, 1)
    assert (r.SE_RATIO, r.SELF_GATING, list(r.TEMPORAL_KERNELS)) == (0.25, "last", [1, 1, 3, 3])
    assert (cfg.DATA.NUM_FRAMES, cfg.DATA.SAMPLING_RATE, cfg.DATA.TRAIN_CROP_SIZE, cfg.DATA.TEST_CROP_SIZE) == (32, 2, 224, 256)
    assert list(cfg.DATA.TRAIN_JITTER_SCALES_RELATIVE) == [0.08, 1.0] and list(cfg.DATA.TRAIN_JITTER_ASPECT_RELATIVE) == [0.5, 2.0]
    assert list(cfg.DATA.MEAN) == [0.0] * 3 and list(cfg.DATA.STD) == [1.0] * 3
    assert (cfg.TEST.NUM_ENSEMBLE_VIEWS, cfg.TEST.NUM_SPATIAL_CROPS, cfg.TRAIN.BATCH_SIZE) == (10, 3, 1024)
    assert (s.LR_POLICY, s.BASE_LR, s.MAX_EPOCH, s.NESTEROV, s.MOMENTUM) == ("cosine", 0.8, 350, True, 0.9)
    steps_per_epoch = 215_570 / 1024
    assert s.WARMUP_EPOCHS == pytest.approx(1050 / steps_per_epoch, abs=0.02)
    assert s.MAX_EPOCH == pytest.approx(73_682 / steps_per_epoch, abs=0.1)
    assert s.WEIGHT_DECAY == pytest.approx(4e-5) and cfg.BN.EPSILON == pytest.approx(1e-5)
    assert (cfg.MODEL.LABEL_SMOOTHING, cfg.MODEL.DROPOUT_RATE, cfg.MODEL.DROPPATH_RATE) == (0.1, 0.5, 0.1)
    assert cfg.MODEL_EMA.ENABLE and cfg.MODEL_EMA.DECAY == 0.9999 and not cfg.AUG.ENABLE
    model = build_model(cfg, device="meta")
    assert sum(p.numel() for p in model.parameters()) == 48_129_840


@pytest.mark.parametrize("depth", [50, 101, 152, 200, 270, 350])
def test_rs_depth_files_change_only_the_depth(depth):
    cfg = load_cfg(str(K400 / f"3d_resnetrs{depth}.yaml")).clone()
    base = load_cfg(str(K400 / "base.yaml")).clone()
    assert cfg.RESNET.DEPTH == depth
    for node in (cfg, base):
        node.defrost()
        node.RESNET.DEPTH, node.OUTPUT_DIR = 0, ""
    assert cfg == base


def test_baseline_is_row_zero():
    cfg = load_cfg(str(K400 / "3d_resnet50_baseline.yaml"))
    r = cfg.RESNET
    assert (r.STEM, r.STEM_TEMPORAL_KERNEL, r.STEM_TEMPORAL_STRIDE, r.STEM_POOL_TEMPORAL_STRIDE) == ("v0", 5, 2, 1)
    assert (r.SHORTCUT, r.SE_RATIO, r.SELF_GATING, list(r.TEMPORAL_KERNELS)) == ("conv", 0.0, "none", [1, 1, 3, 3])
    assert (cfg.MODEL.DROPPATH_RATE, cfg.MODEL.DROPOUT_RATE, cfg.MODEL.LABEL_SMOOTHING) == (0.0, 0.0, 0.0)
    assert cfg.SOLVER.LR_POLICY == "steps_with_relative_lrs" and cfg.SOLVER.WEIGHT_DECAY == pytest.approx(1e-4)
    assert not cfg.MODEL_EMA.ENABLE and not cfg.AUG.ENABLE
