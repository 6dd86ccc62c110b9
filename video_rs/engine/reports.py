"""Files the multi-view test leaves in OUTPUT_DIR: results.json, predictions.csv, confusion_matrix.png.

results.json says what was measured and on what: metrics, how many views each video got, and
which videos could not be read and why, so a surprising number can be checked.
"""
from __future__ import annotations

import csv
import json
import os
from typing import Sequence

import numpy as np

from video_rs.data.atomic import atomic_write
from video_rs.engine.metrics import VideoScores, classification_metrics, confusion_matrix
from video_rs.engine.plots import plot_confusion_matrix


def write_test_reports(output_dir: str, scores: VideoScores, dataset, class_names: Sequence[str] | None, *,
                       num_classes: int, checkpoint: str | None = None, top_k: int = 5) -> dict:
    """Compute the test metrics from merged `scores` and write the three files; returns results.json's dict."""
    videos, video_scores, labels, counts = scores.result()
    metrics = classification_metrics(video_scores, labels, num_classes)
    expected = int(dataset.views_per_video)
    failed = []
    seen = dict(zip(videos.tolist(), counts.tolist()))
    for video in range(int(dataset.num_videos)):
        got = seen.get(video, 0)
        if got < expected:
            reason = dataset.probe(video) or f"{expected - got} of {expected} views could not be decoded"
            failed.append({"video": str(dataset.paths[video]), "views_scored": got, "reason": reason})
    results = {
        "metrics": metrics,
        "num_videos_total": int(dataset.num_videos),
        "views_per_video": expected,
        "views_scored": int(counts.sum()),
        "videos_with_all_views": int((counts == expected).sum()),
        "ensemble_method": scores.method,
        "checkpoint": checkpoint,
        "failed_videos": failed,
    }
    with atomic_write(os.path.join(output_dir, "results.json")) as handle:
        json.dump(results, handle, indent=2)
    write_predictions(os.path.join(output_dir, "predictions.csv"), [dataset.paths[v] for v in videos], labels,
                      video_scores, class_names, top_k=top_k)
    matrix = confusion_matrix(video_scores.argmax(axis=1), labels, num_classes) if len(labels) else \
        np.zeros((num_classes, num_classes), dtype=np.int64)
    plot_confusion_matrix(matrix, class_names, os.path.join(output_dir, "confusion_matrix.png"))
    return results


def write_predictions(path: str, video_paths: Sequence[str], labels: np.ndarray, scores: np.ndarray,
                      class_names: Sequence[str] | None, *, top_k: int = 5) -> None:
    """One row per video: path, true label, then the top-k classes with their averaged scores."""
    k = min(top_k, scores.shape[1]) if scores.ndim == 2 else 0

    def name(index: int) -> str:
        return str(class_names[index]) if class_names else str(index)

    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["video", "label"] + [c for i in range(1, k + 1) for c in (f"top{i}", f"score{i}")])
        for video, label, row in zip(video_paths, labels.tolist(), scores):
            best = np.argsort(-row, kind="stable")[:k]
            out.writerow([video, name(label)] + [v for i in best for v in (name(int(i)), f"{row[i]:.6f}")])
