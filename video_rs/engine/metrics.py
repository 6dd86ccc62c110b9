"""Top-k and mean-class accuracy, per-video aggregation of view scores, the confusion matrix.

Accuracies are percentages, as PySlowFast and the papers report them.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import torch


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: Iterable[int] = (1, 5)) -> dict[int, int]:
    """How many rows have their label among the k highest scores (k clipped to the class count)."""
    max_k = min(max(ks), logits.shape[1])
    top = logits.topk(max_k, dim=1).indices
    hits = top.eq(labels.view(-1, 1))
    return {k: int(hits[:, : min(k, max_k)].any(dim=1).sum()) for k in ks}


def confusion_matrix(predictions: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """[true class, predicted class] counts."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels, dtype=np.int64), np.asarray(predictions, dtype=np.int64)), 1)
    return matrix


def mean_class_accuracy(predictions: np.ndarray, labels: np.ndarray, num_classes: int) -> float:
    """Mean over the classes that occur in `labels` of their recall (UCF101/HMDB51 report this)."""
    matrix = confusion_matrix(predictions, labels, num_classes)
    support = matrix.sum(axis=1)
    present = support > 0
    if not present.any():
        return 0.0
    return float(100.0 * (np.diag(matrix)[present] / support[present]).mean())


def classification_metrics(scores: np.ndarray, labels: np.ndarray, num_classes: int) -> dict[str, float | None]:
    """top1, top5 and mean-class accuracy (percent) of per-video scores [V, K]; None when no video was scored
    (a 0% would read as a measured result)."""
    if len(labels) == 0:
        return {"top1": None, "top5": None, "mean_class_acc": None, "num_videos": 0}
    hits = topk_correct(torch.as_tensor(scores), torch.as_tensor(labels), ks=(1, 5))
    return {
        "top1": 100.0 * hits[1] / len(labels),
        "top5": 100.0 * hits[5] / len(labels),
        "mean_class_acc": mean_class_accuracy(scores.argmax(axis=1), labels, num_classes),
        "num_videos": int(len(labels)),
    }


class VideoScores:
    """Per-video aggregate of view softmax scores, built a batch at a time.

    Holds one row per video (never one per view), so memory does not grow with the number of
    views. Partial aggregates from several ranks `merge` into one; "sum" averages the views,
    "max" keeps the element-wise maximum. Sums are float64 so the order in which ranks and
    views arrive changes nothing visible.
    """

    def __init__(self, num_classes: int, method: str = "sum"):
        if method not in ("sum", "max"):
            raise ValueError(f"ensemble method must be 'sum' or 'max', got {method!r}")
        self.num_classes = num_classes
        self.method = method
        self.scores: dict[int, np.ndarray] = {}
        self.views: dict[int, set[int]] = {}
        self.labels: dict[int, int] = {}

    def add(self, video_index: torch.Tensor, view_index: torch.Tensor, labels: torch.Tensor,
            probabilities: torch.Tensor) -> None:
        probs = probabilities.detach().to("cpu", torch.float64).numpy()
        for row, (video, view, label) in enumerate(zip(video_index.tolist(), view_index.tolist(), labels.tolist())):
            seen = self.views.setdefault(video, set())
            if view in seen:
                continue  # a padded duplicate must not count twice
            seen.add(view)
            self.labels[video] = label
            self._combine(video, probs[row])

    def _combine(self, video: int, row: np.ndarray) -> None:
        current = self.scores.get(video)
        if current is None:
            self.scores[video] = row.copy()
        elif self.method == "sum":
            current += row
        else:
            np.maximum(current, row, out=current)

    def merge(self, other: "VideoScores") -> None:
        """Fold in another rank's partial aggregate (views of a video may be split across ranks)."""
        for video, row in other.scores.items():
            overlap = self.views.get(video, set()) & other.views[video]
            if overlap:
                raise ValueError(f"video {video}: views {sorted(overlap)} were scored on two ranks")
            self.views.setdefault(video, set()).update(other.views[video])
            self.labels[video] = other.labels[video]
            self._combine(video, row)

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(video indices ascending, scores [V, K], labels [V], view counts [V])."""
        videos = np.array(sorted(self.scores), dtype=np.int64)
        counts = np.array([len(self.views[v]) for v in videos], dtype=np.int64)
        scores = np.stack([self.scores[v] for v in videos]) if len(videos) else np.zeros((0, self.num_classes))
        if self.method == "sum" and len(videos):
            scores = scores / counts[:, None]
        labels = np.array([self.labels[v] for v in videos], dtype=np.int64)
        return videos, scores, labels, counts
