"""Class names that a horizontal flip turns into each other, so DATA.RANDOM_FLIP would swap their labels.

The pairs are the synthetic dataset's mirrored motions; the loader reads them for any dataset (a
Kinetics class list has none of them) and warns when both classes of a pair are present.
"""
from __future__ import annotations

from typing import Iterable

MIRROR_PAIRS = (("right", "left"), ("clockwise", "counterclockwise"), ("down_right", "down_left"),
                ("up_left", "up_right"))


def mirrored_classes(class_names: Iterable[str] | None) -> list[str]:
    """'a/b' for each mirror pair whose two classes are both in `class_names`."""
    names = set(class_names or ())
    return [f"{a}/{b}" for a, b in MIRROR_PAIRS if a in names and b in names]
