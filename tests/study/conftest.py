"""A small study written into tmp_path: a base file and three row files, so tests control every value."""
import pytest


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def tiny_study(tmp_path):
    """study.yaml (row 0: step LR, 10 epochs, wd 1e-4) + rows 01_cosine, 02_longer, 03_wd (paths relative)."""
    write(tmp_path / "rows" / "01_cosine.yaml", "# + cosine\nSOLVER:\n  LR_POLICY: cosine\n")
    write(tmp_path / "rows" / "02_longer.yaml", "# + longer training\nSOLVER:\n  MAX_EPOCH: 20\n")
    write(tmp_path / "rows" / "03_wd.yaml", "# + less weight decay\nSOLVER:\n  WEIGHT_DECAY: 4.0e-5\n  MAX_EPOCH: 30\n")
    return write(tmp_path / "study.yaml", f"""# a test study
OUTPUT_DIR: {tmp_path / "out"}
SOLVER:
  LR_POLICY: steps_with_relative_lrs
  MAX_EPOCH: 10
  WARMUP_EPOCHS: 1.0
  WEIGHT_DECAY: 1.0e-4
ABLATION:
  ROWS: [rows/01_cosine.yaml, rows/02_longer.yaml, rows/03_wd.yaml]
""")
