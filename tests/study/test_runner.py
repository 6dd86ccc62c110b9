"""Running rows: every row once, finished rows skipped on resume, a reused folder must hold the same config."""
import json
import os

import pytest

from video_rs.study import StudyError, load_study, run_study, select_rows
from video_rs.study.runner import ROW_RECORD_FILE, row_status


class FakeTrainer:
    """Stands in for train + test: records which rows ran and writes results.json (or dies mid-row)."""

    def __init__(self, fail_on=None):
        self.ran, self.fail_on = [], fail_on

    def __call__(self, cfg):
        name = os.path.basename(cfg.OUTPUT_DIR)
        os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
        self.ran.append(name)
        if name == self.fail_on:
            raise KeyboardInterrupt("interrupted mid-row")
        with open(os.path.join(cfg.OUTPUT_DIR, "results.json"), "w") as handle:
            json.dump({"metrics": {"top1": 50.0 + len(self.ran), "top5": 90.0}}, handle)


def test_every_row_runs_once_and_the_table_follows_each(tiny_study):
    study = load_study(str(tiny_study))
    trainer, tables = FakeTrainer(), []
    planned = run_study(study, select_rows(study), run_row=trainer, on_row_done=lambda p: tables.append(len(p)))
    assert trainer.ran == ["00_baseline", "01_cosine", "02_longer", "03_wd"]
    assert tables == [4, 4, 4, 4]
    record = json.loads((tiny_study.parent / "out" / "02_longer" / ROW_RECORD_FILE).read_text())
    assert record["config"]["SOLVER.MAX_EPOCH"] == 20 and record["wall_time_s"] >= 0
    assert [row.name for row, _ in planned] == trainer.ran


def test_an_interrupted_study_resumes_at_the_unfinished_row(tiny_study):
    study = load_study(str(tiny_study))
    with pytest.raises(KeyboardInterrupt):
        run_study(study, select_rows(study), run_row=FakeTrainer(fail_on="02_longer"))
    assert [row_status(row, cfg) for row, cfg in study.configs(select_rows(study))] == [
        "done", "done", "started", "pending"]
    skipped = study.configs(select_rows(study, skip=["01_cosine"]))
    assert [row_status(row, cfg) for row, cfg in skipped] == ["done", "conflict", "pending"]
    resumed = FakeTrainer()
    run_study(study, select_rows(study), run_row=resumed)
    assert resumed.ran == ["02_longer", "03_wd"]  # 02 has no results.json: it runs again (the trainer auto-resumes)
    again = FakeTrainer()
    run_study(study, select_rows(study), run_row=again)
    assert again.ran == []


def test_a_row_folder_from_another_config_is_refused_before_anything_runs(tiny_study):
    study = load_study(str(tiny_study))
    run_study(study, select_rows(study, ["00_baseline", "01_cosine", "02_longer"]), run_row=FakeTrainer())
    trainer = FakeTrainer()
    with pytest.raises(StudyError, match=r"row 02_longer: .*SOLVER.LR_POLICY: was 'cosine', now 'steps_with_relative_lrs'"):
        run_study(study, select_rows(study, skip=["01_cosine"]), run_row=trainer)
    assert trainer.ran == []


def test_speed_only_overrides_may_change_on_resume(tiny_study):
    study = load_study(str(tiny_study))
    run_study(study, select_rows(study), run_row=FakeTrainer())
    faster = load_study(str(tiny_study), ["DATA_LOADER.NUM_WORKERS", "1", "TEST.BATCH_SIZE", "2"])
    trainer = FakeTrainer()
    run_study(faster, select_rows(faster), run_row=trainer)
    assert trainer.ran == []
