"""Row composition: cumulative in the run order, skip/reorder, command line last, clear errors."""
from pathlib import Path

import pytest

from video_rs.config import load_cfg
from video_rs.study import StudyError, load_study, select_rows
from video_rs.study.runner import comparable_config

ABLATION = Path(__file__).resolve().parents[2] / "configs" / "ablation"
RECIPE_ROWS = ["00_baseline", "01_cosine", "02_longer_training", "03_ema", "04_label_smoothing", "05_stochastic_depth",
               "06_randaugment", "07_dropout", "08_weight_decay", "09_se_self_gating", "10_resnet_d"]


def solver(cfg):
    return cfg.SOLVER.LR_POLICY, cfg.SOLVER.MAX_EPOCH, cfg.SOLVER.WEIGHT_DECAY


def plan(study, only=None, skip=()):
    return [(row.name, solver(cfg), cfg.OUTPUT_DIR) for row, cfg in study.configs(select_rows(study, only, skip))]


def test_rows_accumulate_in_order(tiny_study):
    study = load_study(str(tiny_study))
    root = study.output_dir
    assert plan(study) == [
        ("00_baseline", ("steps_with_relative_lrs", 10, 1e-4), f"{root}/00_baseline"),
        ("01_cosine", ("cosine", 10, 1e-4), f"{root}/01_cosine"),
        ("02_longer", ("cosine", 20, 1e-4), f"{root}/02_longer"),
        ("03_wd", ("cosine", 30, 4e-5), f"{root}/03_wd"),  # a later row wins on a key both set
    ]
    assert study.row("01_cosine").description == "+ cosine"


def test_skip_drops_a_row_from_every_later_row(tiny_study):
    study = load_study(str(tiny_study))
    assert [s for _, s, _ in plan(study, skip=["01_cosine"])] == [
        ("steps_with_relative_lrs", 10, 1e-4), ("steps_with_relative_lrs", 20, 1e-4), ("steps_with_relative_lrs", 30, 4e-5)]


def test_rows_reorder_changes_what_each_row_builds_on(tiny_study):
    study = load_study(str(tiny_study))
    assert plan(study, only=["02_longer", "01_cosine"]) == [
        ("02_longer", ("steps_with_relative_lrs", 20, 1e-4), f"{study.output_dir}/02_longer"),
        ("01_cosine", ("cosine", 20, 1e-4), f"{study.output_dir}/01_cosine"),
    ]


def test_command_line_applies_after_every_row(tiny_study):
    study = load_study(str(tiny_study), ["SOLVER.MAX_EPOCH", "3", "OUTPUT_DIR", "/elsewhere"])
    assert [(s, out) for _, s, out in plan(study)][-1] == (("cosine", 3, 4e-5), "/elsewhere/03_wd")


@pytest.mark.parametrize("only, skip, message", [
    (["01_cosine", "00_baseline"], (), "list it first"),
    (["01_cosine", "01_cosine"], (), "listed twice"),
    (["04_nope"], (), "no row named '04_nope'"),
    (None, ["04_nope"], "no row named '04_nope'"),
    (["01_cosine"], ["01_cosine"], "no rows left"),
])
def test_bad_selections_are_refused(tiny_study, only, skip, message):
    with pytest.raises(StudyError, match=message):
        select_rows(load_study(str(tiny_study)), only, skip)


def test_bad_row_files_name_the_row(tiny_study):
    (tiny_study.parent / "rows" / "02_longer.yaml").write_text("# typo\nSOLVER:\n  MAX_EPOCHS: 20\n")
    with pytest.raises(StudyError, match=r"row 02_longer .*MAX_EPOCHS"):
        load_study(str(tiny_study)).configs(select_rows(load_study(str(tiny_study))))
    (tiny_study.parent / "rows" / "02_longer.yaml").write_text("_BASE_: ../study.yaml\n")
    with pytest.raises(StudyError, match="no _BASE_"):
        load_study(str(tiny_study))


def test_every_study_has_the_recipe_rows_in_order():
    studies = sorted(ABLATION.glob("*.yaml"))
    assert {p.name for p in studies} >= {"k400_r3d50.yaml", "synthetic_gpu.yaml", "synthetic_ci.yaml"}
    for path in studies:
        assert [row.name for row in load_study(str(path)).rows] == RECIPE_ROWS, path.name


def test_k400_study_starts_at_r3d50_and_ends_at_official_rs50_except_randaugment():
    study = load_study(str(ABLATION / "k400_r3d50.yaml"))
    configs = study.configs(select_rows(study))
    baseline, last = comparable_config(configs[0][1]), comparable_config(configs[-1][1])
    assert baseline == comparable_config(load_cfg(str(ABLATION.parent / "k400" / "3d_resnet50_baseline.yaml")))
    official = comparable_config(load_cfg(str(ABLATION.parent / "k400" / "3d_resnetrs50.yaml")))
    assert {key for key in official if official[key] != last[key]} == {"AUG.ENABLE"}
    assert last["AUG.ENABLE"] and not official["AUG.ENABLE"]


def test_each_recipe_row_changes_something():
    """A row whose overrides the rows before it already set would measure nothing."""
    for path in sorted(ABLATION.glob("*.yaml")):
        study = load_study(str(path))
        configs = [comparable_config(cfg) for _, cfg in study.configs(select_rows(study))]
        for (row, _), before, after in zip(study.configs(select_rows(study))[1:], configs, configs[1:]):
            assert before != after, f"{path.name}: {row.name} changes nothing"
