"""Command-line parsing shared by every tool: `--cfg FILE` then `KEY VALUE` overrides.

Overrides are accepted bare after the options (PySlowFast's documented form) and after
`--opts` (what newer PySlowFast requires), so commands copied from either work.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Sequence

from video_rs.config import load_cfg


def config_parser(description: str) -> argparse.ArgumentParser:
    """An ArgumentParser with `--cfg` and the override list; tools add their own options."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--cfg", dest="cfg_file", default=None, help="YAML config file (may use _BASE_)")
    parser.add_argument("--opts", dest="opts_flag", nargs=argparse.REMAINDER, default=[],
                        help="KEY VALUE overrides (the bare form after the options works too)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides, e.g. SOLVER.BASE_LR 0.1")
    return parser


def parse_config_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None):
    """Parse argv; returns (args, frozen cfg). Bad keys or values exit with the validator's message."""
    args = parser.parse_args(argv)
    # The bare list is a REMAINDER: it swallows a later `--opts` and any option typed after it.
    overrides = [token for token in list(args.opts or []) + list(args.opts_flag or []) if token != "--opts"]
    misplaced = [token for token in overrides[0::2] if token.startswith("--")]
    if misplaced:
        parser.error(f"option {misplaced[0]} must come before the KEY VALUE overrides")
    from video_rs.config import ConfigError

    try:
        cfg = load_cfg(args.cfg_file, overrides)
    except ConfigError as err:
        parser.exit(2, f"config error: {err}\n")
    return args, cfg


def user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the inputs are wrong" (config, annotations, checkpoint, data, a diverged run).

    Their messages name the key, file or path at fault; a traceback would only bury them.
    """
    from video_rs.config import ConfigError
    from video_rs.data.annotations import AnnotationError
    from video_rs.data.bad_videos import TooManyBadVideos
    from video_rs.engine.checkpoint import CheckpointError
    from video_rs.engine.train import NonFiniteLossError

    return ConfigError, AnnotationError, TooManyBadVideos, CheckpointError, NonFiniteLossError


def run_tool(main: Callable[..., Any], *args: Any) -> int:
    """`main(*args)` for a tool's `__main__`: an int result is the exit status (else 0); a user error
    prints `error: <message>` to stderr and gives 2, without a traceback (other exceptions keep theirs)."""
    try:
        result = main(*args)
    except user_errors() as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return result if isinstance(result, int) else 0
