"""Configuration: defaults + YAML file (with `_BASE_` inheritance) + `KEY VALUE` overrides.

`load_cfg` is the one way a run gets its configuration: it merges, validates and freezes, so a
typo or an impossible value stops the run before any data is touched, with a message that names
the key and where it came from.
"""
from __future__ import annotations

import ast
import os
from typing import Any, Hashable, Mapping, Sequence

import yaml
from fvcore.common.config import CfgNode

from video_rs.config.defaults import get_defaults
from video_rs.config.validate import ConfigError, flatten_keys, validate_cfg

__all__ = ["CfgNode", "ConfigError", "load_cfg", "cfg_to_yaml", "flatten_keys", "parse_yaml"]


def load_cfg(path: str | None = None, opts: Sequence[str] | None = None, *, freeze: bool = True) -> CfgNode:
    """Defaults, then the YAML file at `path` (may be None), then `KEY VALUE` pairs; validated.

    Raises `ConfigError` naming the offending key and its source: the file (a `_BASE_` file when the
    key came from there) or the command line.
    """
    cfg = get_defaults()
    origins: dict[str, str] = {}
    if path:
        _merge_file(cfg, path, origins, chain=())
    if opts:
        _merge_dict(cfg, _opts_to_dict(opts), source="command line", origins=origins)
    validate_cfg(cfg, source=_describe_source(path, opts), origins=origins)
    if freeze:
        cfg.freeze()
    return cfg


def _merge_file(cfg: CfgNode, path: str, origins: dict, *, chain: tuple[str, ...]) -> None:
    """Merge `path` into `cfg`, its `_BASE_` (relative to the file) first, so each key names its own file."""
    data = _read_yaml(path)
    base = data.pop("_BASE_", None)
    if base is not None:
        if not isinstance(base, str):
            raise ConfigError(f"{path}: _BASE_ must be one file path, got {base!r}")
        base_path = os.path.expanduser(base)
        if not os.path.isabs(base_path):
            base_path = os.path.join(os.path.dirname(path), base_path)
        if not os.path.isfile(base_path):
            raise ConfigError(f"{path}: cannot resolve _BASE_: file not found: {base_path}")
        here = os.path.realpath(path)
        if os.path.realpath(base_path) in chain + (here,):
            raise ConfigError(f"{path}: _BASE_ chain loops back to {base_path}")
        _merge_file(cfg, base_path, origins, chain=chain + (here,))
    _merge_dict(cfg, data, source=path, origins=origins)


def _describe_source(path: str | None, opts: Sequence[str] | None) -> str:
    if path and opts:
        return f"{path} + command line"
    return path or ("command line" if opts else "defaults")


def cfg_to_yaml(cfg: CfgNode) -> str:
    """The resolved config as YAML, loadable again by `load_cfg`."""
    return cfg.dump()


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error.

    Plain PyYAML keeps the last one silently: a second `SOLVER:` block would drop the first.
    """

    def construct_mapping(self, node, deep=False):
        first_line: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` merges; its keys may be overridden
                continue
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                continue  # PyYAML's own error follows
            line = key_node.start_mark.line + 1
            if key in first_line:
                raise ConfigError(f"{key_node.start_mark.name}:{line}: {key} is given twice "
                                  f"(first at line {first_line[key]}): only the last would count; merge them into one")
            first_line[key] = line
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, source: str) -> Any:
    """Config YAML (a file's text; `source` names it in messages) with duplicate keys refused as `ConfigError`."""
    loader = _UniqueKeyLoader(text)
    loader.name = source  # marks (line numbers) name the file
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _read_yaml(path: str) -> dict:
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    try:
        with open(path, encoding="utf-8") as handle:
            loaded = parse_yaml(handle.read(), path)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: top level must be a mapping of keys, got {type(loaded).__name__}")
    return loaded


def _opts_to_dict(opts: Sequence[str]) -> dict:
    """['A.B', '3', 'C', 'x'] -> {'A': {'B': '3'}, 'C': 'x'}; `_coerce` reads each value as its key's type."""
    if len(opts) % 2:
        raise ConfigError(f"command-line overrides must be KEY VALUE pairs, got an odd count: {list(opts)}")
    tree: dict = {}
    for key, raw in zip(opts[0::2], opts[1::2]):
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"command line: {key} overrides a value, not a section")
        node[parts[-1]] = raw
    return tree


def _parse_literal(raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        pass
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return raw


def _merge_dict(cfg: CfgNode, new: Mapping, *, source: str, origins: dict, prefix: str = "") -> None:
    """Merge `new` into `cfg`, refusing unknown keys and type changes (ints widen to floats).

    `origins` records, per full key, the source that set it last (for validation messages).
    """
    for key, value in new.items():
        full_key = f"{prefix}{key}"
        if key not in cfg:
            raise ConfigError(f"{source}: unknown config key {full_key}{_suggest(cfg, key)}")
        current = cfg[key]
        if isinstance(current, CfgNode):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{source}: {full_key} is a section; give it keys, not {value!r}")
            _merge_dict(current, value, source=source, origins=origins, prefix=f"{full_key}.")
            continue
        cfg[key] = _coerce(value, current, full_key, source)
        origins[full_key] = source


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _coerce(value: Any, current: Any, full_key: str, source: str) -> Any:
    def bad() -> ConfigError:
        return ConfigError(
            f"{source}: {full_key} must be {type(current).__name__} (like {current!r}), got {value!r}"
        )

    if isinstance(value, str):
        parsed = _parse_literal(value)  # command-line text; YAML 1.1 also reads `1e-4` (no dot) as a string
        # a string key keeps the text as typed (OUTPUT_DIR 2024, TEST.SPLIT 1e5); quotes may still wrap it
        value = value if isinstance(current, str) and not isinstance(parsed, str) else parsed
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        raise bad()
    if isinstance(current, float):
        if _is_number(value):
            try:
                return float(value)
            except OverflowError:  # an integer with hundreds of digits
                raise bad() from None
        raise bad()
    if isinstance(current, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise bad()
    if isinstance(current, str):
        if isinstance(value, str):
            return value
        raise bad()
    if isinstance(current, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            raise bad()
        if current and all(_is_number(v) for v in current):  # numeric lists stay numeric (nested for kernels)
            for item in value:
                items = item if isinstance(item, (list, tuple)) else [item]
                if not all(_is_number(v) for v in items):
                    raise bad()
            if all(isinstance(v, float) for v in current):
                return [float(v) for v in value]
        return list(value)
    return value


def _suggest(cfg: CfgNode, key: str) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(cfg.keys()), n=1)
    return f" (did you mean {close[0]}?)" if close else ""
