"""A study: one base config (row 0) and an ordered list of row files, each adding its overrides.

The paper's result is additive (Bello et al. 2021, Table 1): each change is switched on on top of
every change before it. So row k's config is the study file, then rows 1..k in order, then the
command line; a row file holds only what that row switches on and is itself a valid partial config.

    study.yaml (row 0) ─ + rows/01_cosine.yaml ─ + 02_longer_training.yaml ─ ... ─ + KEY VALUE
                 │                │                        │
              00_baseline      01_cosine          02_longer_training          (OUTPUT_DIR/<row>/)

Skipping a row removes its overrides from every later row (the study is then measured without
that change); reordering rows changes what each one is added to.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import yaml

from video_rs.config import CfgNode, ConfigError, flatten_keys, load_cfg, parse_yaml

__all__ = ["Row", "Study", "StudyError", "load_study", "select_rows", "flatten_keys"]


class StudyError(ValueError):
    """A study file, row file or row selection that cannot be run; the message says which."""


@dataclass(frozen=True)
class Row:
    """One row of the gains table: its name (file stem, also its OUTPUT_DIR subfolder) and overrides."""

    name: str
    description: str
    overrides: tuple = ()  # flattened KEY, VALUE, KEY, VALUE ... of the row file
    path: str | None = None  # None for row 0, the study file itself


@dataclass
class Study:
    """The study file, its rows (row 0 first) and the command-line overrides applied after every row."""

    path: str
    rows: list[Row]
    opts: list = field(default_factory=list)

    @property
    def baseline(self) -> Row:
        return self.rows[0]

    @property
    def output_dir(self) -> str:
        """The study's OUTPUT_DIR (command line included); row k runs in OUTPUT_DIR/<row k name>."""
        return load_cfg(self.path, self.opts).OUTPUT_DIR

    def row(self, name: str) -> Row:
        for row in self.rows:
            if row.name == name:
                return row
        raise StudyError(f"{self.path}: no row named {name!r}; rows: {', '.join(r.name for r in self.rows)}")

    def configs(self, selected: Sequence[Row]) -> list[tuple[Row, CfgNode]]:
        """(row, frozen cfg) for each selected row, overrides accumulated in the selected order."""
        root = self.output_dir
        accumulated: list = []
        result = []
        for row in selected:
            accumulated += list(row.overrides)
            opts = accumulated + list(self.opts) + ["OUTPUT_DIR", os.path.join(root, row.name)]
            try:
                cfg = load_cfg(self.path, opts)
            except ConfigError as err:
                raise StudyError(f"row {row.name} ({row.path or self.path}) on top of the rows before it: {err}") from err
            result.append((row, cfg))
        return result


def load_study(path: str, opts: Sequence[str] = ()) -> Study:
    """Read the study file and its ABLATION.ROWS (paths relative to the study file)."""
    try:
        cfg = load_cfg(path, list(opts))
    except ConfigError as err:
        raise StudyError(str(err)) from err
    if not cfg.ABLATION.ROWS:
        raise StudyError(f"{path}: ABLATION.ROWS is empty; a study lists its row files there")
    rows = [Row(name=cfg.ABLATION.BASELINE_NAME, description="baseline", path=None)]
    for entry in cfg.ABLATION.ROWS:
        row_path = entry if os.path.isabs(entry) else os.path.join(os.path.dirname(path), entry)
        rows.append(_read_row(row_path, study_path=path))
    names = [row.name for row in rows]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise StudyError(f"{path}: row names must be unique (they name output folders); repeated: {repeated}")
    return Study(path=path, rows=rows, opts=list(opts))


def select_rows(study: Study, only: Sequence[str] | None = None, skip: Sequence[str] = ()) -> list[Row]:
    """The rows to run: `only` (in that order) or all of them, minus `skip`.

    Row 0 is the base every row builds on: leaving it out only means it is not run; it may not
    move, because every other row already contains it.
    """
    chosen = [study.row(name) for name in only] if only else list(study.rows)
    for name in skip:
        study.row(name)  # unknown names are an error, not a silent no-op
    chosen = [row for row in chosen if row.name not in set(skip)]
    names = [row.name for row in chosen]
    if len(set(names)) != len(names):
        raise StudyError(f"a row is listed twice: {names}")
    if study.baseline in chosen and chosen[0] is not study.baseline:
        raise StudyError(f"{study.baseline.name} is the base of every row; list it first or leave it out")
    if not chosen:
        raise StudyError("no rows left to run")
    return chosen


def _read_row(path: str, *, study_path: str) -> Row:
    if not os.path.isfile(path):
        raise StudyError(f"{study_path}: row file not found: {path}")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    try:
        tree: Any = parse_yaml(text, path) or {}
    except yaml.YAMLError as err:
        raise StudyError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(tree, dict) or "_BASE_" in tree:
        raise StudyError(f"{path}: a row file is a mapping of the keys that row changes (no _BASE_)")
    name = os.path.splitext(os.path.basename(path))[0]
    return Row(name=name, description=_first_comment(text) or name, overrides=tuple(item for pair in flatten_keys(tree).items() for item in pair), path=path)


def _first_comment(text: str) -> str:
    """The row's label in the gains table: the first comment line of its file (e.g. "+ cosine LR decay")."""
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return ""
