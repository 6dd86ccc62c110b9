"""The 3D ResNet-RS paper's baseline-to-improved study: rows of config overrides, run in turn, tabled as gains.

`tools/ablate.py` is the command line; the pieces are importable for notebooks and tests:
`load_study` / `select_rows` (study.py), `run_study` (runner.py), `update_gains` (report.py).
"""
from video_rs.study.report import update_gains, write_profile
from video_rs.study.runner import run_study, train_and_test
from video_rs.study.study import Row, Study, StudyError, load_study, select_rows

__all__ = ["Row", "Study", "StudyError", "load_study", "select_rows", "run_study", "train_and_test", "update_gains",
           "write_profile"]
