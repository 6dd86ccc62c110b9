"""The bad-video policy's bookkeeping: log each unreadable video once, list it, stop when too many are bad.

Workers append `path<TAB>reason<TAB>split` lines to OUTPUT_DIR/bad_videos.txt under a file lock,
once per path and split however many workers meet the file; `read_bad_videos` de-duplicates anyway. A wrong
`DATA.PATH_PREFIX` shows up before training as a split whose files mostly do not exist.
"""
from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

BAD_VIDEOS_FILE = "bad_videos.txt"
logger = logging.getLogger(__name__)


class TooManyBadVideos(RuntimeError):
    """More than DATA.MAX_BAD_FRACTION of a split cannot be read: the data (or its path) is wrong."""


def _clean(text: str) -> str:
    return " ".join(str(text).split())  # one line, no tabs: the file stays parseable


class BadVideoLog:
    """Records unreadable videos: one log line and one file line per (path, split) in OUTPUT_DIR.

    Data workers (and ranks) each hold a copy; under a file lock each reads the lines the others
    appended since it last looked, so a video met by several workers is still logged and listed once.
    """

    def __init__(self, output_dir: str | None, split: str, *, quiet: bool = False):
        self.output_dir = output_dir
        self.split = split
        self.quiet = quiet  # the caller reports each failure itself (tools/predict.py): no log, no file
        self._seen: set[str] = set()
        self._listed: set[str] = set()  # paths of this split already in the file
        self._offset = 0  # bytes of the file read into `_listed`

    def record(self, path: str, reason: str) -> None:
        if path in self._seen:
            return
        self._seen.add(path)
        if self.quiet:
            return
        if self.output_dir and not self._append_once(path, reason):
            return  # another worker, rank or an earlier, interrupted part of this run listed (and logged) it
        logger.warning("cannot decode %s (%s split): %s", path, self.split, reason)

    def _append_once(self, path: str, reason: str) -> bool:
        """Append the file line unless it is there already; True when this call added it (or could not tell)."""
        try:
            os.makedirs(self.output_dir, exist_ok=True)
            with open(os.path.join(self.output_dir, BAD_VIDEOS_FILE), "a+b") as handle:
                _lock(handle)
                handle.seek(self._offset)
                for line in handle.read().decode("utf-8", errors="replace").splitlines():
                    fields = line.split("\t")
                    if len(fields) >= 3 and fields[2] == self.split:
                        self._listed.add(fields[0])
                self._offset = handle.tell()
                if _clean(path) in self._listed:
                    return False
                handle.write(f"{_clean(path)}\t{_clean(reason)}\t{self.split}\n".encode("utf-8"))
                handle.flush()
                self._offset = handle.tell()
                self._listed.add(_clean(path))
        except OSError as err:  # a full disk must not kill a data worker
            logger.warning("cannot append to %s: %s", BAD_VIDEOS_FILE, err)
        return True

    def __getstate__(self):
        return {"output_dir": self.output_dir, "split": self.split, "quiet": self.quiet, "_seen": set(),
                "_listed": set(), "_offset": 0}


def _lock(handle) -> None:
    """Exclusive lock until the file is closed (no-op where flock does not exist or is refused)."""
    try:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    except (ImportError, OSError):
        pass


def read_bad_videos(output_dir: str, split: str | None = None) -> dict[str, str]:
    """{path: reason} from OUTPUT_DIR/bad_videos.txt, de-duplicated; only `split`'s when given."""
    found: dict[str, str] = {}
    file_path = os.path.join(output_dir, BAD_VIDEOS_FILE)
    if not os.path.isfile(file_path):
        return found
    with open(file_path, encoding="utf-8") as handle:
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 2 or (split is not None and (len(fields) < 3 or fields[2] != split)):
                continue
            found.setdefault(fields[0], fields[1])
    return found


def count_listed_bad_videos(output_dir: str, split: str, paths: Sequence[str]) -> int:
    """How many of `paths` (the split's current list) bad_videos.txt names for `split`.

    Lines for paths the list no longer holds (a file left from before the dataset was fixed) do not count.
    """
    listed = read_bad_videos(output_dir, split)
    return sum(1 for path in {_clean(p) for p in paths} if path in listed)


def check_bad_fraction(num_bad: int, num_total: int, cfg, split: str) -> None:
    """Raise `TooManyBadVideos` when more than DATA.MAX_BAD_FRACTION of `split` is unreadable."""
    limit = cfg.DATA.MAX_BAD_FRACTION
    if num_total <= 0 or num_bad / num_total <= limit:
        return
    raise TooManyBadVideos(
        f"{num_bad} of {num_total} videos of the {split!r} split ({100 * num_bad / num_total:.1f}%) cannot be "
        f"read, more than DATA.MAX_BAD_FRACTION = {limit}. See {os.path.join(cfg.OUTPUT_DIR, BAD_VIDEOS_FILE)} "
        f"for the reasons; check DATA.PATH_TO_DATA_DIR ({cfg.DATA.PATH_TO_DATA_DIR!r}) and DATA.PATH_PREFIX "
        f"({cfg.DATA.PATH_PREFIX!r}), or run tools/check_dataset.py.")


def find_missing(paths: Sequence[str]) -> list[int]:
    """Indices of `paths` that do not exist (threads, since network file systems answer slowly)."""
    if len(paths) < 2000:
        exists = [os.path.exists(p) for p in paths]
    else:
        with ThreadPoolExecutor(16) as pool:
            exists = list(pool.map(os.path.exists, paths, chunksize=256))
    return [i for i, ok in enumerate(exists) if not ok]


def check_missing_files(paths: Sequence[str], cfg, split: str, source: str = "") -> list[int]:
    """Start-up check: stop at once when too many files are missing (a wrong PATH_PREFIX, say).

    Returns the missing indices; under the limit they stay in the split (the bad-video policy handles
    them when read, and the evaluation reports them).
    """
    missing = find_missing(paths)
    if not missing:
        return missing
    example = paths[missing[0]]
    limit = cfg.DATA.MAX_BAD_FRACTION
    if len(missing) / len(paths) > limit:
        raise TooManyBadVideos(
            f"{len(missing)} of {len(paths)} video files of the {split!r} split{f' ({source})' if source else ''} "
            f"do not exist, more than DATA.MAX_BAD_FRACTION = {limit}; for example {example}. Is DATA.PATH_PREFIX "
            f"({cfg.DATA.PATH_PREFIX!r}) right? Relative paths are joined with it, or with the annotation file's "
            "folder when it is empty.")
    logger.warning("%d of %d video files of the %r split do not exist (e.g. %s); they count as bad videos",
                   len(missing), len(paths), split, example)
    return missing
