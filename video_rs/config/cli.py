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
    """An ArgumentParser with `--cfg` and the override list; tools add their own options.

    `description` is the tool's whole docstring, shown as written: its usage examples are the help.
    """
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", dest="cfg_file", default=None, help="YAML config file (may use _BASE_)")
    parser.add_argument("--opts", dest="opts_flag", nargs=argparse.REMAINDER, default=[],
                        help="KEY VALUE overrides (the bare form after the options works too)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides, e.g. SOLVER.BASE_LR 0.1")
    return parser


def _split_overrides(parser: argparse.ArgumentParser, argv: Sequence[str] | None):
    """(args, KEY VALUE list): tool options may come before, between or after the overrides.

    Both override lists are REMAINDERs, so they swallow every token after the first KEY, `--opts`
    and tool options included; an option in a KEY position ends one run of pairs and the rest of
    the line is parsed again (values may still start with '-', e.g. `SOLVER.BASE_LR -1`).
    """
    args = parser.parse_args(argv)
    overrides: list[str] = []
    while True:
        tokens = [token for token in list(args.opts or []) + list(args.opts_flag or []) if token != "--opts"]
        option_at = next((i for i in range(0, len(tokens), 2) if tokens[i].startswith("-")), None)
        if option_at is None:
            args.opts, args.opts_flag = [], []
            return args, overrides + tokens
        overrides += tokens[:option_at]
        rest = tokens[option_at:]
        args.opts, args.opts_flag = [], []
        args = parser.parse_args(rest, namespace=args)
        if [token for token in list(args.opts) + list(args.opts_flag) if token != "--opts"] == rest:
            parser.error(f"expected a KEY VALUE pair or an option, got {rest[0]!r} (is a value missing before it?)")


def parse_config_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None):
    """Parse argv; returns (args, frozen cfg), with the KEY VALUE list as `args.overrides`.

    Bad keys or values exit with the validator's message.
    """
    args, overrides = _split_overrides(parser, argv)
    args.overrides = overrides
    from video_rs.config import ConfigError

    try:
        cfg = load_cfg(args.cfg_file, overrides)
    except ConfigError as err:
        parser.exit(2, f"config error: {err}\n")
    return args, cfg


def user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the inputs are wrong" (config, annotations, checkpoint, data, a diverged run,
    a micro-batch too large for the GPU).

    Their messages name the key, file or path at fault; a traceback would only bury them.
    """
    from video_rs.config import ConfigError
    from video_rs.data.annotations import AnnotationError
    from video_rs.data.bad_videos import TooManyBadVideos
    from video_rs.engine.checkpoint import CheckpointError
    from video_rs.engine.train import BatchMemoryError, NonFiniteLossError

    return ConfigError, AnnotationError, TooManyBadVideos, CheckpointError, NonFiniteLossError, BatchMemoryError


def run_tool(main: Callable[..., Any], *args: Any) -> int:
    """`main(*args)` for a tool's `__main__`: an int result is the exit status (else 0); a user error
    prints `error: <message>` to stderr and gives 2, without a traceback (other exceptions keep theirs)."""
    try:
        result = main(*args)
    except user_errors() as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return result if isinstance(result, int) else 0
