"""load_cfg: _BASE_ inheritance, command-line overrides, and bad input failing with key + file named."""
import re
from pathlib import Path

import pytest

from video_rs.cli import config_parser, parse_config_args, split_overrides
from video_rs.config import ConfigError, cfg_to_yaml, load_cfg


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


@pytest.fixture
def base_and_child(tmp_path):
    write(tmp_path / "base.yaml", "# base\nTRAIN:\n  BATCH_SIZE: 64\nSOLVER:\n  BASE_LR: 0.4\n  WEIGHT_DECAY: 1e-4\n")
    return write(tmp_path / "sub" / "child.yaml", "_BASE_: ../base.yaml\nSOLVER:\n  BASE_LR: 0.1\n")


def test_base_inheritance_child_wins(base_and_child):
    cfg = load_cfg(base_and_child)
    assert cfg.TRAIN.BATCH_SIZE == 64  # from the base, path relative to the child
    assert cfg.SOLVER.BASE_LR == 0.1  # the child overrides its base
    assert cfg.SOLVER.WEIGHT_DECAY == pytest.approx(1e-4)  # YAML reads 1e-4 as a string; accepted as float
    assert cfg.DATA.NUM_FRAMES == 32  # untouched keys keep the defaults
    assert cfg.is_frozen()


def test_two_level_base_chain(tmp_path, base_and_child):
    grandchild = write(tmp_path / "gc.yaml", "_BASE_: sub/child.yaml\nTRAIN:\n  BATCH_SIZE: 8\n")
    cfg = load_cfg(grandchild)
    assert (cfg.TRAIN.BATCH_SIZE, cfg.SOLVER.BASE_LR) == (8, 0.1)


def test_overrides_after_file(base_and_child):
    cfg = load_cfg(base_and_child, ["SOLVER.BASE_LR", "0.2", "RESNET.TEMPORAL_KERNELS", "[[1, 3], 1, 3, 3]",
                                    "RESNET.DEPTH", "26", "DATA.PATH_TO_DATA_DIR", "data/k400"])
    assert cfg.SOLVER.BASE_LR == 0.2 and cfg.RESNET.DEPTH == 26
    assert cfg.RESNET.TEMPORAL_KERNELS == [[1, 3], 1, 3, 3] and cfg.DATA.PATH_TO_DATA_DIR == "data/k400"


def test_string_keys_keep_command_line_text_that_looks_like_a_number(base_and_child):
    """The shell cannot pass quotes through: `OUTPUT_DIR 2024` means the folder "2024", not the int 2024."""
    cfg = load_cfg(base_and_child, ["OUTPUT_DIR", "2024", "TEST.SPLIT", "1e5", "DATA.PATH_PREFIX", "'quoted'",
                                    "SOLVER.WARMUP_EPOCHS", "1e-1", "TRAIN.ENABLE", "false"])
    assert (cfg.OUTPUT_DIR, cfg.TEST.SPLIT, cfg.DATA.PATH_PREFIX) == ("2024", "1e5", "quoted")
    assert cfg.SOLVER.WARMUP_EPOCHS == 0.1 and cfg.TRAIN.ENABLE is False


@pytest.mark.parametrize("argv", [
    ["SOLVER.BASE_LR", "0.2", "TRAIN.BATCH_SIZE", "16"],
    ["--opts", "SOLVER.BASE_LR", "0.2", "TRAIN.BATCH_SIZE", "16"],
    ["SOLVER.BASE_LR", "0.2", "--opts", "TRAIN.BATCH_SIZE", "16"],
])
def test_cli_bare_and_opts_overrides(base_and_child, argv):
    parser = config_parser("test")
    parser.add_argument("--device", default="auto")
    args, cfg = parse_config_args(parser, ["--cfg", base_and_child, "--device", "cpu", *argv])
    assert (cfg.SOLVER.BASE_LR, cfg.TRAIN.BATCH_SIZE, args.device) == (0.2, 16, "cpu")


@pytest.mark.parametrize("argv", [
    ["SOLVER.BASE_LR", "0.2", "--device", "cpu", "TRAIN.BATCH_SIZE", "16"],
    ["--opts", "SOLVER.BASE_LR", "0.2", "--device", "cpu", "--opts", "TRAIN.BATCH_SIZE", "16"],
    ["SOLVER.BASE_LR", "0.2", "TRAIN.BATCH_SIZE", "16", "--device", "cpu"],
])
def test_cli_options_may_follow_the_overrides(base_and_child, argv):
    parser = config_parser("test")
    parser.add_argument("--device", default="auto")
    args, cfg = parse_config_args(parser, ["--cfg", base_and_child, *argv])
    assert (cfg.SOLVER.BASE_LR, cfg.TRAIN.BATCH_SIZE, args.device) == (0.2, 16, "cpu")
    assert args.overrides == ["SOLVER.BASE_LR", "0.2", "TRAIN.BATCH_SIZE", "16"]


@pytest.mark.parametrize("argv", [
    ["DATA.NUM_FRAMES", "8", "--splits", "val", "--opts", "SOLVER.BASE_LR", "0.2"],
    ["DATA.NUM_FRAMES", "8", "--splits", "val", "SOLVER.BASE_LR", "0.2", "--src", "a.pth"],
    ["--src", "a.pth", "--splits", "val", "DATA.NUM_FRAMES", "8", "SOLVER.BASE_LR", "0.2"],
])
def test_cli_multi_value_and_required_options_among_the_overrides(argv):
    """A list option stops at the next config key; a required option may come last."""
    parser = config_parser("test")
    parser.add_argument("--splits", nargs="+", default=["train"])
    parser.add_argument("--src", default=None, required="--src" in argv)
    args, cfg = parse_config_args(parser, argv)
    assert args.splits == ["val"] and (cfg.DATA.NUM_FRAMES, cfg.SOLVER.BASE_LR) == (8, 0.2)


def test_cli_a_file_named_like_a_key_does_not_hide_the_key(tmp_path, monkeypatch):
    """Whether a token is a config key is decided by the config's keys, not by the files in the folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "RNG_SEED").write_text("")
    parser = config_parser("test")
    parser.add_argument("--splits", nargs="+", default=["train"])
    args, cfg = parse_config_args(parser, ["--splits", "val", "RNG_SEED", "7"])
    assert args.splits == ["val"] and cfg.RNG_SEED == 7


def test_split_overrides_takes_each_key_and_its_value_wherever_it_stands():
    """The one dialect every tool reads (tools/predict.py too): keys anywhere, `--opts` only a separator,
    a misspelt key of a known section kept for the validator to name, a trailing key left over."""
    tokens = ["a.mp4", "TEST.NUM_ENSEMBLE_VIEWS", "1", "b.mp4", "--opts", "DEVICE", "cpu", "SOLVER.BASE_LRR", "0.1",
              "NOT_A_KEY", "TEST.BATCH_SIZE"]
    assert split_overrides(tokens) == (["a.mp4", "b.mp4", "NOT_A_KEY", "TEST.BATCH_SIZE"],
                                       ["TEST.NUM_ENSEMBLE_VIEWS", "1", "DEVICE", "cpu", "SOLVER.BASE_LRR", "0.1"])


def test_cli_a_required_option_after_the_overrides_is_found():
    parser = config_parser("test")
    parser.add_argument("--src", required=True)
    args, cfg = parse_config_args(parser, ["MODEL.NUM_CLASSES", "10", "--src", "a.pth"])
    assert args.src == "a.pth" and cfg.MODEL.NUM_CLASSES == 10


def test_cli_negative_value_is_a_value_not_an_option(capsys, base_and_child):
    parser = config_parser("test")
    parser.add_argument("--device", default="auto")
    with pytest.raises(SystemExit):  # the validator, not argparse, refuses it: it was read as the value
        parse_config_args(parser, ["--cfg", base_and_child, "RNG_SEED", "-5", "--device", "cpu"])
    assert "RNG_SEED = -5 is invalid: must be in [0, 2**32)" in capsys.readouterr().err


@pytest.mark.parametrize("argv, expected", [
    (["SOLVER.BASE_LR", "0.2", "--bogus", "1"], "unrecognized arguments: --bogus"),
    (["SOLVER.BASE_LR", "-1", "-2"], "got '-2'"),
    (["SOLVER.BASE_LR", "0.2", "TRAIN.BATCH_SIZE"], "got 'TRAIN.BATCH_SIZE' (is a value missing?)"),
])
def test_cli_unknown_option_or_stray_value_after_overrides_is_named(capsys, argv, expected):
    parser = config_parser("test")
    parser.add_argument("--device", default="auto")
    with pytest.raises(SystemExit) as exc:
        parse_config_args(parser, argv)
    assert exc.value.code == 2
    assert expected in capsys.readouterr().err


def test_tool_help_shows_the_whole_docstring(capsys):
    doc = "First line.\n\n    python tools/x.py --cfg A.yaml KEY VALUE\n"
    with pytest.raises(SystemExit):
        config_parser(doc).parse_args(["--help"])
    assert "    python tools/x.py --cfg A.yaml KEY VALUE" in capsys.readouterr().out


def test_cli_bad_override_exits_with_the_message(capsys, base_and_child):
    with pytest.raises(SystemExit) as exc:
        parse_config_args(config_parser("test"), ["--cfg", base_and_child, "DATA.NUM_FRAMES", "-4"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "DATA.NUM_FRAMES" in err and "command line" in err


def test_resolved_yaml_round_trips(base_and_child, tmp_path):
    cfg = load_cfg(base_and_child, ["RESNET.TEMPORAL_KERNELS", "[[1, 3, 1], 1, 3, 3]"])
    again = load_cfg(write(tmp_path / "resolved.yaml", cfg_to_yaml(cfg)))
    assert again == cfg


def fails(match_parts, path=None, opts=None):
    with pytest.raises(ConfigError) as exc:
        load_cfg(path, opts)
    for part in match_parts:
        assert part in str(exc.value), str(exc.value)


BAD_VALUES = [  # (yaml text, key named)
    ("DATA:\n  NUM_FRAMES: -8\n", "DATA.NUM_FRAMES"),
    ("MODEL:\n  DROPOUT_RATE: 1.0\n", "MODEL.DROPOUT_RATE"),
    ("RESNET:\n  DEPTH: 34\n", "RESNET.DEPTH"),
    ("RESNET:\n  STEM: v2\n", "RESNET.STEM"),
    ("RESNET:\n  TEMPORAL_KERNELS: [1, 1, 3]\n", "RESNET.TEMPORAL_KERNELS"),
    ("RESNET:\n  TEMPORAL_KERNELS: [[1, 3], 1, 3, 3]\n", "RESNET.TEMPORAL_KERNELS"),  # res2 of RS-50 has 3 blocks
    ("DATA:\n  NUM_FRAMES: eight\n", "DATA.NUM_FRAMES"),  # wrong type
    ("MODEL:\n  NUM_CLASSES: 10.5\n", "MODEL.NUM_CLASSES"),
    ("DATA:\n  MEAN: [0.4, a, 0.4]\n", "DATA.MEAN"),
    ("TRAIN:\n  BATCH_SIZ: 8\n", "TRAIN.BATCH_SIZ"),  # unknown key
    ("RESNET: 50\n", "RESNET"),
]


@pytest.mark.parametrize("text,key", BAD_VALUES)
def test_bad_file_value_names_key_and_file(tmp_path, text, key):
    path = write(tmp_path / "bad.yaml", text)
    fails([key, path], path)


@pytest.mark.parametrize("text,key", BAD_VALUES[:-1])
def test_bad_value_in_base_names_the_base_file(tmp_path, text, key):
    base = write(tmp_path / "bad_base.yaml", text)
    child = write(tmp_path / "child.yaml", "_BASE_: bad_base.yaml\nTRAIN:\n  BATCH_SIZE: 8\n")
    fails([key, base], child)


@pytest.mark.parametrize("opts,key", [
    (["DATA.NUM_FRAMES", "-1"], "DATA.NUM_FRAMES"),
    (["MODEL.DROPOUT_RATE", "1.0"], "MODEL.DROPOUT_RATE"),
    (["RESNET.DEPTH", "18"], "RESNET.DEPTH"),
    (["RESNET.STEM", "v3"], "RESNET.STEM"),
    (["RESNET.TEMPORAL_KERNELS", "[1, 3]"], "RESNET.TEMPORAL_KERNELS"),
    (["TRAIN.BATCHSIZE", "8"], "TRAIN.BATCHSIZE"),
    (["SOLVER.BASE_LR", "fast"], "SOLVER.BASE_LR"),
    (["DATA.NUM_FRAMES.X", "1"], "DATA.NUM_FRAMES"),
])
def test_bad_override_names_key_and_command_line(opts, key, base_and_child):
    fails([key, "command line"], base_and_child, opts)


def test_unknown_key_suggests_the_close_one(tmp_path):
    fails(["did you mean BATCH_SIZE"], write(tmp_path / "typo.yaml", "TRAIN:\n  BATCH_SIZ: 8\n"))


def test_odd_override_count_fails():
    fails(["KEY VALUE pairs"], None, ["SOLVER.BASE_LR"])


def test_missing_files_fail_clearly(tmp_path):
    fails(["not found", "nope.yaml"], str(tmp_path / "nope.yaml"))
    child = write(tmp_path / "c.yaml", "_BASE_: missing_base.yaml\n")
    fails(["_BASE_", "missing_base.yaml", child], child)


def test_base_loop_fails(tmp_path):
    a = write(tmp_path / "a.yaml", "_BASE_: b.yaml\n")
    write(tmp_path / "b.yaml", "_BASE_: a.yaml\n")
    fails(["loops"], a)


def test_invalid_yaml_fails(tmp_path):
    path = write(tmp_path / "broken.yaml", "TRAIN: [\n")
    fails(["not valid YAML", path], path)


def test_combination_rule_names_the_key():
    with pytest.raises(ConfigError, match=re.escape("SOLVER.WARMUP_EPOCHS")):
        load_cfg(None, ["SOLVER.MAX_EPOCH", "3"])


@pytest.mark.parametrize("text,key,line,first", [
    ("SOLVER:\n  BASE_LR: 0.1\nTRAIN:\n  BATCH_SIZE: 8\nSOLVER:\n  MAX_EPOCH: 3\n", "SOLVER", 5, 1),
    ("SOLVER:\n  BASE_LR: 0.1\n  MAX_EPOCH: 3\n  BASE_LR: 0.2\n", "BASE_LR", 4, 2),
])
def test_a_key_or_section_given_twice_names_key_file_and_line(tmp_path, text, key, line, first):
    """PyYAML keeps the last of two equal keys silently: a second SOLVER block would drop the first."""
    path = write(tmp_path / "twice.yaml", text)
    message = f"{path}:{line}: {key} is given twice (first at line {first})"
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_cfg(path)
    base = write(tmp_path / "sub" / "child.yaml", "_BASE_: ../twice.yaml\nTRAIN:\n  BATCH_SIZE: 4\n")
    with pytest.raises(ConfigError, match=re.escape(f"twice.yaml:{line}: {key} is given twice")):  # a _BASE_ file
        load_cfg(base)


@pytest.mark.parametrize("text,opts,key", [
    ("", ["SOLVER.BASE_LR", "1e400"], "SOLVER.BASE_LR = inf"),
    ("", ["SOLVER.WEIGHT_DECAY", "-1e400"], "SOLVER.WEIGHT_DECAY = -inf"),
    ("SOLVER:\n  BASE_LR: .inf\n", [], "SOLVER.BASE_LR = inf"),
    ("SOLVER:\n  WARMUP_START_LR: .nan\n", [], "SOLVER.WARMUP_START_LR = nan"),
    ("DATA:\n  MEAN: [0.45, .inf, 0.45]\n", [], "DATA.MEAN = [0.45, inf, 0.45]"),
    ("SOLVER:\n  LRS: [1, .nan]\n", [], "SOLVER.LRS = [1.0, nan]"),
])
def test_non_finite_numbers_are_refused_for_every_float_key(tmp_path, text, opts, key):
    path = write(tmp_path / "inf.yaml", text)
    with pytest.raises(ConfigError, match=re.escape(key) + " is invalid: must be a finite number"):
        load_cfg(path, opts)


def test_an_integer_too_large_for_a_float_key_is_a_config_error():
    """`SOLVER.BASE_LR 1000...0` (401 digits) was an OverflowError traceback."""
    with pytest.raises(ConfigError, match="SOLVER.BASE_LR"):
        load_cfg(None, ["SOLVER.BASE_LR", "1" + "0" * 400])


def test_a_file_named_like_a_misspelt_key_is_a_file(tmp_path, monkeypatch):
    """A video called DATA.MP4 given to predict.py is a file, not an override; exact keys stay keys."""
    from video_rs.cli import is_config_key

    monkeypatch.chdir(tmp_path)
    assert is_config_key("DATA.MP4")
    (tmp_path / "DATA.MP4").write_text("")
    (tmp_path / "RNG_SEED").write_text("")
    assert not is_config_key("DATA.MP4") and is_config_key("RNG_SEED")
