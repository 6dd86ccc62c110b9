"""PNG figures a run leaves behind: the training curves and the test confusion matrix.

matplotlib's Agg backend draws without a display, so this works on headless training nodes.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_training_curves(records: Sequence[dict[str, Any]], path: str) -> None:
    """Loss and learning rate per iteration; train and val top-1 per epoch (from metrics.jsonl records)."""
    plt = _pyplot()
    iters = [r for r in records if r.get("kind") == "iter"]
    epochs = [r for r in records if r.get("kind") == "epoch"]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    if iters:
        steps = [r["step"] for r in iters]
        ax_loss.plot(steps, [r["loss"] for r in iters], label="train loss")
        ax_loss.set_xlabel("iteration")
        ax_loss.set_ylabel("loss")
        ax_lr = ax_loss.twinx()
        ax_lr.plot(steps, [r["lr"] for r in iters], color="tab:orange", alpha=0.6, label="lr")
        ax_lr.set_ylabel("learning rate")
    for key, label in (("train_top1", "train top-1"), ("val_top1", "val top-1")):
        points = [(r["epoch"], r[key]) for r in epochs if isinstance(r.get(key), (int, float))]
        if points:
            ax_acc.plot(*zip(*points), marker="o", label=label)
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion_matrix(matrix: np.ndarray, class_names: Sequence[str] | None, path: str) -> None:
    """Row-normalised confusion matrix; class names on the axes when there are few enough to read."""
    plt = _pyplot()
    num = matrix.shape[0]
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros(matrix.shape, dtype=float), where=rows > 0)
    side = min(4 + 0.25 * num, 30)
    fig, ax = plt.subplots(figsize=(side, side))
    image = ax.imshow(normalised, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if class_names and num <= 60:
        ax.set_xticks(range(num), labels=class_names, rotation=90, fontsize=7)
        ax.set_yticks(range(num), labels=class_names, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
