"""Top-k, mean-class accuracy, multi-view aggregation and the confusion matrix."""
import numpy as np
import pytest
import torch

from video_rs.engine.metrics import VideoScores, classification_metrics, confusion_matrix, mean_class_accuracy, topk_correct


def test_topk_counts_and_clips_k_to_class_count():
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.3, 0.3, 0.4]])
    labels = torch.tensor([1, 2, 0])
    assert topk_correct(logits, labels, ks=(1, 2, 5)) == {1: 1, 2: 2, 5: 3}


def test_mean_class_accuracy_weights_classes_equally():
    labels = np.array([0, 0, 0, 0, 1])
    preds = np.array([0, 0, 0, 0, 0])
    assert mean_class_accuracy(preds, labels, 3) == pytest.approx(50.0)
    assert confusion_matrix(preds, labels, 3).tolist() == [[4, 0, 0], [1, 0, 0], [0, 0, 0]]


def _views():
    # video 0: two views that disagree; video 1: one view
    return (torch.tensor([0, 0, 1]), torch.tensor([0, 1, 0]), torch.tensor([1, 1, 0]),
            torch.tensor([[0.6, 0.4], [0.1, 0.9], [0.7, 0.3]]))


def test_sum_averages_and_max_takes_maximum():
    mean = VideoScores(2, "sum")
    mean.add(*_views())
    videos, scores, labels, counts = mean.result()
    assert videos.tolist() == [0, 1] and counts.tolist() == [2, 1] and labels.tolist() == [1, 0]
    assert np.allclose(scores[0], [0.35, 0.65])
    peak = VideoScores(2, "max")
    peak.add(*_views())
    assert np.allclose(peak.result()[1][0], [0.6, 0.9])
    assert classification_metrics(scores, labels, 2)["top1"] == 100.0


def test_merge_across_ranks_equals_single_pass_and_duplicates_count_once():
    video, view, label, probs = _views()
    whole = VideoScores(2)
    whole.add(video, view, label, probs)
    whole.add(video[:1], view[:1], label[:1], probs[:1])  # padded duplicate
    rank0, rank1 = VideoScores(2), VideoScores(2)
    rank0.add(video[::2], view[::2], label[::2], probs[::2])
    rank1.add(video[1:2], view[1:2], label[1:2], probs[1:2])
    rank0.merge(rank1)
    for a, b in zip(whole.result(), rank0.result()):
        assert np.allclose(a, b)
    with pytest.raises(ValueError, match="two ranks"):
        rank0.merge(rank1)
