"""The synthetic motion dataset: layout, determinism, and a clean motion signal in the decoded files.

Single frames cannot tell the classes apart by construction (uniform random positions and phases,
shared shapes and colours: reversing a video gives a valid video of the opposite class); the
tests check what can go wrong: that the encoded motion actually points the way its label says.
"""
import filecmp
import os

import numpy as np
import pytest

from video_rs.data.decoders import decode
from video_rs.data.synthetic import MOTIONS, generate_synthetic_dataset, main, render_motion


def moving_mask(frames: np.ndarray) -> np.ndarray:
    """Pixels that differ from their temporal median: the moving object, whatever its colours."""
    frames = frames.astype(np.float32)
    return np.abs(frames - np.median(frames, axis=0)).sum(-1) > 60


def circular_centroid(mask: np.ndarray, axis: int) -> np.ndarray:
    """Per-frame centroid along `axis` (1 = y, 2 = x) on a wrapping frame, in pixels."""
    size = mask.shape[axis]
    angle = np.exp(2j * np.pi * np.arange(size) / size)
    weights = mask.sum(axis=3 - axis)
    return np.angle(weights @ angle) % (2 * np.pi) * size / (2 * np.pi)


def mean_step(positions: np.ndarray, size: int) -> float:
    steps = (np.diff(positions) + size / 2) % size - size / 2  # unwrap the frame edge
    return float(np.median(steps))


def test_layout_labels_and_class_names(tiny_synthetic_dataset):
    root = tiny_synthetic_dataset
    assert open(os.path.join(root, "classes.txt")).read().split() == ["right", "left", "down"]
    for split, per_class in (("train", 4), ("val", 2), ("test", 2)):
        rows = [line.split() for line in open(os.path.join(root, f"{split}.csv")).read().splitlines()]
        assert len(rows) == 3 * per_class
        assert sorted({int(label) for _, label in rows}) == [0, 1, 2]
        assert all(os.path.isfile(os.path.join(root, path)) and path.startswith(f"videos/{split}/") for path, _ in rows)


@pytest.mark.parametrize("index", range(4))
def test_decoded_translations_move_the_way_the_label_says(tiny_synthetic_dataset, index):
    root = tiny_synthetic_dataset
    rows = [line.split() for line in open(os.path.join(root, "train.csv")).read().splitlines()]
    for path, label in rows[index::4]:
        frames = decode(os.path.join(root, path), list(range(20)), "pyav")
        mask = moving_mask(frames)
        assert mask.any(axis=(1, 2)).all(), f"{path}: the object must be visible in every frame"
        name = open(os.path.join(root, "classes.txt")).read().split()[int(label)]
        sx, sy = MOTIONS[name][1]
        dx = mean_step(circular_centroid(mask, 2), frames.shape[2])
        dy = mean_step(circular_centroid(mask, 1), frames.shape[1])
        assert np.sign(round(dx)) == sx and np.sign(round(dy)) == sy, (path, name, dx, dy)
        assert max(abs(dx), abs(dy)) >= 1.0  # at least a pixel a frame at 36 x 44: a strong signal


@pytest.mark.parametrize("motion", ["clockwise", "counterclockwise"])
def test_rotation_sense(motion):
    for seed in range(4):
        frames = render_motion(motion, np.random.default_rng(seed), num_frames=16, height=64, width=80)
        mask = moving_mask(frames)
        ys, xs = np.mgrid[0:64, 0:80]
        angles = []
        for m in mask:
            x, y = xs[m] - xs[m].mean(), ys[m] - ys[m].mean()
            angles.append(0.5 * np.arctan2(2 * (x * y).mean(), (x * x).mean() - (y * y).mean()))
        steps = (np.diff(angles) + np.pi / 2) % np.pi - np.pi / 2
        assert np.sign(np.median(steps)) == MOTIONS[motion][1][0]


@pytest.mark.parametrize("motion", ["grow", "shrink"])
def test_scaling_sense(motion):
    """The disc's area (pixels of the centre's colour; static distractors only add a constant) grows or shrinks."""
    for seed in range(4):
        frames = render_motion(motion, np.random.default_rng(seed), num_frames=16, height=64, width=80).astype(int)
        changing = moving_mask(frames).any(axis=0)
        ys, xs = np.nonzero(changing)
        cy, cx = int(round(ys.mean())), int(round(xs.mean()))
        colour = frames[0, cy, cx]
        assert (np.abs(frames[:, cy, cx] - colour).sum(-1) < 10).all()  # the centre stays inside the disc
        area = (np.abs(frames - colour).sum(-1) < 30).sum(axis=(1, 2))
        assert np.all(np.sign(np.diff(area)) * MOTIONS[motion][1][0] >= 0) and area[0] != area[-1]


def test_deterministic_by_seed(tmp_path):
    kwargs = dict(num_classes=2, videos_per_class=(1, 1, 0), num_frames=8, size=(32, 64), fps=30)
    a = generate_synthetic_dataset(str(tmp_path / "a"), seed=7, **kwargs)
    b = generate_synthetic_dataset(str(tmp_path / "b"), seed=7, **kwargs)
    c = generate_synthetic_dataset(str(tmp_path / "c"), seed=8, **kwargs)
    files = ["train.csv", "val.csv", "classes.txt", "videos/train/right_0000.mp4", "videos/val/left_0000.mp4"]
    assert all(filecmp.cmp(os.path.join(a, f), os.path.join(b, f), shallow=False) for f in files)
    assert not filecmp.cmp(os.path.join(a, files[3]), os.path.join(c, files[3]), shallow=False)
    assert not os.listdir(os.path.join(a, "videos", "test")) and open(os.path.join(a, "test.csv")).read() == ""


def test_command_line_and_class_limit(tmp_path, capsys):
    main(["--out", str(tmp_path / "cli"), "--num-classes", "12", "--videos-per-class", "1", "0", "0",
          "--num-frames", "4", "--size", "32", "32"])
    assert "wrote 12 videos" in capsys.readouterr().out
    assert len(open(tmp_path / "cli" / "train.csv").read().splitlines()) == 12 == len(MOTIONS)
    with pytest.raises(ValueError, match="12 motion classes"):
        generate_synthetic_dataset(str(tmp_path / "x"), num_classes=13)
