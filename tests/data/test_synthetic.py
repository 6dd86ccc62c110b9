"""The synthetic motion dataset: layout, determinism, and a clean motion signal in the decoded files.

Single frames cannot tell the classes apart by construction (uniform random positions and phases,
shared shapes and colours: reversing a video gives a valid video of the opposite class); the
tests check what can go wrong: that the encoded motion actually points the way its label says.
"""
import hashlib
import os

import numpy as np
import pytest

from file_difference import describe_difference, tree_difference
from video_rs.data import synthetic
from video_rs.data.decoders import decode
from video_rs.data.encode import write_video
from video_rs.data.mirror import MIRROR_PAIRS
from video_rs.data.synthetic import MOTIONS, generate_synthetic_dataset, main, render_motion


def moving_mask(frames: np.ndarray) -> np.ndarray:
    """Pixels that differ from their temporal median: the moving object, whatever its colours."""
    frames = frames.astype(np.float32)
    return np.abs(frames - np.median(frames, axis=0)).sum(-1) > 60


def gradients(frames: np.ndarray):
    """Spatial gradients between consecutive frames and the temporal difference (grey levels)."""
    grey = frames.astype(np.float64).mean(-1)
    gy, gx = np.gradient(grey, axis=(1, 2))
    return (gx[1:] + gx[:-1]) / 2, (gy[1:] + gy[:-1]) / 2, grey[1:] - grey[:-1]


def global_velocity(frames: np.ndarray) -> np.ndarray:
    """Least-squares (vx, vy) in px/frame from I_t + grad I . v = 0 over the whole clip."""
    gx, gy, it = gradients(frames)
    a = np.array([[(gx * gx).sum(), (gx * gy).sum()], [(gx * gy).sum(), (gy * gy).sum()]])
    return np.linalg.solve(a, -np.array([(gx * it).sum(), (gy * it).sum()]))


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
    names = open(os.path.join(root, "classes.txt")).read().split()
    rows = [line.split() for line in open(os.path.join(root, "train.csv")).read().splitlines()]
    for path, label in rows[index::4]:
        vx, vy = global_velocity(decode(os.path.join(root, path), list(range(20)), "pyav"))
        sx, sy = MOTIONS[names[int(label)]][1]
        along, across = (vx, vy) if sx else (vy, vx)
        assert np.sign(along) == (sx or sy) and along * (sx or sy) > 0.4, (path, vx, vy)  # ~0.65-1 px a frame
        assert abs(across) < 0.3 * abs(along), (path, vx, vy)


@pytest.mark.parametrize("motion", [name for name, (kind, _) in MOTIONS.items() if kind == "translate"])
def test_every_translation_direction(motion):
    sx, sy = MOTIONS[motion][1]
    for seed in range(2):
        vx, vy = global_velocity(render_motion(motion, np.random.default_rng(seed), num_frames=10, height=64, width=80))
        assert vx * sx > 0.5 or sx == 0 and abs(vx) < 0.4, (vx, vy)
        assert vy * sy > 0.5 or sy == 0 and abs(vy) < 0.4, (vx, vy)


def angular_velocity(frames: np.ndarray) -> float:
    """Least-squares rotation rate about the frame centre from the brightness-constancy equation
    I_t + omega * (grad I . (-(y - cy), x - cx)) = 0 (positive: clockwise on screen, y pointing down)."""
    gx, gy, it = gradients(frames)
    height, width = it.shape[1:]
    y, x = np.mgrid[0:height, 0:width]
    d = gx * -(y - (height - 1) / 2) + gy * (x - (width - 1) / 2)
    return float(-(it * d).sum() / (d * d).sum())


@pytest.mark.parametrize("motion", ["clockwise", "counterclockwise"])
def test_rotation_sense(motion, tmp_path):
    """Measured on the encoded file, so the codec keeps the signal too."""
    for seed in range(3):
        frames = render_motion(motion, np.random.default_rng(seed), num_frames=12, height=64, width=80)
        path = write_video(str(tmp_path / f"{motion}{seed}.mp4"), frames)
        omega = angular_velocity(decode(path, list(range(12)), "pyav"))
        assert np.sign(omega) == MOTIONS[motion][1][0] and 0.02 < abs(omega) < 0.08, omega


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


def test_deterministic_by_seed(tmp_path, monkeypatch):
    """The same seed writes the same folder, byte for byte (every file, no leftovers); another seed other videos.

    A failure names the first differing byte and box, whether the decoded frames differ and whether the rendered
    frames did (a spy on the renderer: rendering vs encoder); the folders stay under pytest's temporary directory.
    """
    rendered = []  # md5 of each rendered video, in the writer's order (split, class, index)

    def recording_render(*args, **kwargs):
        frames = render_motion(*args, **kwargs)
        rendered.append(hashlib.md5(frames.tobytes()).hexdigest())
        return frames

    monkeypatch.setattr(synthetic, "render_motion", recording_render)
    kwargs = dict(num_classes=2, videos_per_class=(1, 1, 0), num_frames=8, size=(32, 64), fps=30)
    a = generate_synthetic_dataset(str(tmp_path / "a"), seed=7, **kwargs)
    renders_a, rendered[:] = list(rendered), []
    b = generate_synthetic_dataset(str(tmp_path / "b"), seed=7, **kwargs)
    renders_b = list(rendered)
    c = generate_synthetic_dataset(str(tmp_path / "c"), seed=8, **kwargs)
    problems = tree_difference(a, b)
    assert not problems, "\n".join(problems + [f"rendered frames equal, video by video (train right, train left, "
                                                f"val right, val left): {[x == y for x, y in zip(renders_a, renders_b)]}"])
    assert len(renders_a) == 4 and renders_a == renders_b
    assert sorted(os.listdir(os.path.join(a, "videos", "train"))) == ["left_0000.mp4", "right_0000.mp4"]
    assert not os.listdir(os.path.join(a, "videos", "test")) and open(os.path.join(a, "test.csv")).read() == ""
    assert describe_difference(os.path.join(a, "videos/train/right_0000.mp4"),
                               os.path.join(c, "videos/train/right_0000.mp4")) is not None


def test_worker_processes_write_the_same_bytes_as_one_process(tmp_path):
    """The demo generates with a process pool, the tests in one process: both must give the same dataset."""
    kwargs = dict(num_classes=2, videos_per_class=(2, 1, 0), num_frames=8, size=(32, 64), fps=30, seed=7)
    serial = generate_synthetic_dataset(str(tmp_path / "serial"), workers=0, **kwargs)
    pooled = generate_synthetic_dataset(str(tmp_path / "pooled"), workers=2, **kwargs)
    problems = tree_difference(serial, pooled)
    assert not problems, "\n".join(problems)


def test_command_line_and_class_limit(tmp_path, capsys):
    main(["--out", str(tmp_path / "cli"), "--num-classes", "12", "--videos-per-class", "1", "0", "0",
          "--num-frames", "4", "--size", "32", "32"])
    assert "wrote 12 videos" in capsys.readouterr().out
    assert len(open(tmp_path / "cli" / "train.csv").read().splitlines()) == 12 == len(MOTIONS)
    with pytest.raises(ValueError, match="12 motion classes"):
        generate_synthetic_dataset(str(tmp_path / "x"), num_classes=13)


SMALL = ["SYNTHETIC.ENABLE", "True", "SYNTHETIC.VIDEOS_PER_CLASS", "[1, 1, 1]", "SYNTHETIC.NUM_FRAMES", "4",
         "SYNTHETIC.SIZE", "[32, 32]", "MODEL.NUM_CLASSES", "2"]


def _tree(root) -> list[str]:
    return sorted(os.path.relpath(os.path.join(folder, name), root) for folder, _, names in os.walk(root)
                  for name in names)


@pytest.mark.parametrize("layout", [{"walk/a.mp4": b"", "run/b.avi": b""},  # folder-per-class: no train.csv
                                    {"ucfTrainTestlist/classInd.txt": b"1 Walk\n", "Walk/v_Walk_g01_c01.avi": b""},
                                    {"classes.txt": b"up\ndown\n"}])
def test_synthetic_data_is_never_written_into_a_folder_holding_other_data(tmp_path, layout, capsys):
    """SYNTHETIC.ENABLE generated into a user's folder (and left a classes.txt that broke later runs)."""
    from video_rs.config import load_cfg
    from video_rs.cli import run_tool
    from video_rs.data.synthetic import ensure_synthetic_dataset

    root = tmp_path / "mine"
    for name, content in layout.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    before = _tree(root)
    cfg = load_cfg(None, SMALL + ["DATA.PATH_TO_DATA_DIR", str(root)])
    assert run_tool(ensure_synthetic_dataset, cfg) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: SYNTHETIC.ENABLE would generate") and f"{root} already" in err[0]
    assert "SYNTHETIC.ENABLE False" in err[0]
    assert _tree(root) == before
    with pytest.raises(FileExistsError, match="not a synthetic dataset folder"):
        main(["--out", str(root), "--num-classes", "2", "--videos-per-class", "1", "0", "0", "--num-frames", "4"])
    assert _tree(root) == before


def test_synthetic_data_goes_into_a_new_or_its_own_folder(tmp_path):
    from video_rs.config import load_cfg
    from video_rs.data.synthetic import ensure_synthetic_dataset

    root = tmp_path / "demo"
    cfg = load_cfg(None, SMALL + ["DATA.PATH_TO_DATA_DIR", str(root)])
    ensure_synthetic_dataset(cfg)
    made = _tree(root)
    assert "train.csv" in made and ".video_rs_synthetic" in made
    os.remove(root / "train.csv")  # an interrupted generation: the folder is still the writer's own
    ensure_synthetic_dataset(cfg)
    assert _tree(root) == made
    (tmp_path / "empty").mkdir()
    ensure_synthetic_dataset(load_cfg(None, SMALL + ["DATA.PATH_TO_DATA_DIR", str(tmp_path / "empty")]))
    assert os.path.isfile(tmp_path / "empty" / "train.csv")


def test_mirror_pairs_are_motions_a_horizontal_flip_swaps():
    """The loader's flip warning reads MIRROR_PAIRS: each pair is two synthetic motions, mirror images left-right."""
    for a, b in MIRROR_PAIRS:
        (kind_a, (dx_a, dy_a)), (kind_b, (dx_b, dy_b)) = MOTIONS[a], MOTIONS[b]
        assert kind_a == kind_b
        assert (dx_b, dy_b) == ((-dx_a, dy_a) if kind_a == "translate" else (-dx_a, -dy_a))
