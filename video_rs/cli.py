"""Command-line parsing shared by every tool: `--cfg FILE` then `KEY VALUE` overrides.

Overrides are accepted bare after the options (PySlowFast's documented form) and after
`--opts` (what newer PySlowFast requires), so commands copied from either work.
"""
from __future__ import annotations

import argparse
import functools
import os
import re
import sys
from typing import Any, Callable, Sequence

from video_rs.bench.profile import MissingDependencyError
from video_rs.config import ConfigError, flatten_keys, load_cfg
from video_rs.config.defaults import get_defaults
from video_rs.data.annotations import AnnotationError
from video_rs.data.bad_videos import TooManyBadVideos
from video_rs.engine.checkpoint import CheckpointError
from video_rs.engine.train import BatchMemoryError, NonFiniteLossError
from video_rs.models.weights import WeightConversionError


def config_parser(description: str) -> argparse.ArgumentParser:
    """An ArgumentParser with `--cfg` and the override list; tools add their own options.

    `description` is the tool's whole docstring, shown as written: its usage examples are the help.
    """
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", dest="cfg_file", default=None, help="YAML config file (may use _BASE_)")
    parser.add_argument("--opts", dest="opts_flag", nargs=argparse.REMAINDER, default=[],
                        help="KEY VALUE overrides (the bare form after the options works too)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides, e.g. SOLVER.BASE_LR 0.1")
    return parser


_KEY_SHAPE = re.compile(r"^[A-Z][A-Z0-9_]*(\.[A-Z][A-Z0-9_]*)*$")


def is_config_key(token: str) -> bool:
    """A key of the defaults (`SOLVER.BASE_LR`, `DEVICE`, a section name), or a misspelt key of a known
    section (`SOLVER.BASE_LRR`: the validator then names it). Decided by the config's keys alone."""
    if not _KEY_SHAPE.match(token):
        return False
    section, dot, _ = token.partition(".")
    if token in _config_keys():
        return True
    # a misspelt key of a known section, unless it names an existing file (a video called DATA.MP4)
    return bool(dot) and section in _config_keys() and not os.path.exists(token)


@functools.lru_cache(maxsize=1)
def _config_keys() -> frozenset[str]:
    """Every full key of the defaults, and the top-level names (sections included)."""
    defaults = get_defaults()
    return frozenset(flatten_keys(defaults)) | frozenset(defaults.keys())


def split_overrides(tokens: Sequence[str]) -> tuple[list[str], list[str]]:
    """(the other tokens, the KEY VALUE list), the one override dialect of every tool.

    Each config key (`is_config_key`) takes the next token as its value (which may start with '-',
    e.g. `RNG_SEED -1`), wherever it stands; `--opts` is only a separator. A key with nothing after
    it stays with the other tokens, for the caller to report.
    """
    rest, overrides, i = [], [], 0
    while i < len(tokens):
        token = tokens[i]
        if token == "--opts":
            i += 1
        elif is_config_key(token) and i + 1 < len(tokens):
            overrides += tokens[i:i + 2]
            i += 2
        else:
            rest.append(token)
            i += 1
    return rest, overrides


def _split_overrides(parser: argparse.ArgumentParser, argv: Sequence[str] | None):
    """(args, KEY VALUE list): tool options may come before, between or after the overrides.

    The overrides come out first (`split_overrides`), so an option's values (`--models a b`) stop at
    the next key and a required option may come last. Anything else that argparse leaves over is
    handed to the validator as overrides, which names it (an unknown key, a missing value).
    """
    rest, overrides = split_overrides(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(rest)
    leftovers = list(args.opts or []) + list(args.opts_flag or [])
    args.opts, args.opts_flag = [], []
    if len(leftovers) % 2 or any(token.startswith("-") for token in leftovers[0::2]):
        parser.error(f"expected KEY VALUE pairs or options, got {' '.join(leftovers)!r} (is a value missing?)")
    return args, overrides + leftovers


def parse_config_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None):
    """Parse argv; returns (args, frozen cfg), with the KEY VALUE list as `args.overrides`.

    Bad keys or values exit with the validator's message.
    """
    args, overrides = _split_overrides(parser, argv)
    args.overrides = overrides
    try:
        cfg = load_cfg(args.cfg_file, overrides)
    except ConfigError as err:
        parser.exit(2, f"config error: {err}\n")
    return args, cfg


def user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the inputs are wrong" (config, annotations, checkpoint, data, a diverged run,
    a micro-batch too large for the GPU, an optional dependency not installed).

    Their messages name the key, file or path at fault; a traceback would only bury them.
    """
    return (ConfigError, AnnotationError, TooManyBadVideos, CheckpointError, NonFiniteLossError, BatchMemoryError,
            WeightConversionError, MissingDependencyError)


def run_tool(main: Callable[..., Any], *args: Any) -> int:
    """`main(*args)` for a tool's `__main__`: an int result is the exit status (else 0); a user error
    prints `error: <message>` to stderr and gives 2, without a traceback (other exceptions keep theirs)."""
    try:
        result = main(*args)
    except user_errors() as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return result if isinstance(result, int) else 0
