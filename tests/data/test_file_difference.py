"""The determinism tests' failure message: it must point at the right byte, box, frame and pixel."""
import shutil

import numpy as np

from file_difference import describe_difference, mp4_box_path, tree_difference
from video_rs.data.encode import write_video


def frames(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (6, 32, 64, 3), dtype=np.uint8)


def test_identical_files_and_folders_have_no_difference(tmp_path):
    (tmp_path / "a").mkdir()
    path = write_video(str(tmp_path / "a" / "v.mp4"), frames())
    (tmp_path / "a" / "rows.csv").write_text("v.mp4 0\n")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    assert describe_difference(path, str(tmp_path / "b" / "v.mp4")) is None
    assert tree_difference(str(tmp_path / "a"), str(tmp_path / "b")) == []


def test_other_pixels_name_the_first_differing_frame_and_pixel(tmp_path):
    changed = frames()
    changed[0, 20:28, 40:48] = 255 - changed[0, 20:28, 40:48]  # one block of frame 0 (a keyframe: no neighbour mixes in)
    a = write_video(str(tmp_path / "a.mp4"), frames())
    b = write_video(str(tmp_path / "b.mp4"), changed)
    message = describe_difference(a, b)
    assert "(box mdat vs mdat)" in message and "decoded frames differ" in message
    first = message.split("first at frame ")[1]
    t, y, x = (int(word) for word in first.split()[0:5:2])
    assert t == 0 and 16 <= y < 32 and 32 <= x < 56, message  # inside the changed block's macroblocks


def test_same_pixels_in_other_bytes_blame_the_encoder_or_muxer(tmp_path):
    """faststart moves the index (moov) before the coded frames: other bytes, the same decoded frames."""
    a = write_video(str(tmp_path / "a.mp4"), frames())
    b = write_video(str(tmp_path / "b.mp4"), frames(), faststart=True)
    message = describe_difference(a, b)
    assert "decoded frames equal" in message
    assert "(box free vs moov)" in message or "(box mdat vs moov)" in message, message


def test_mp4_box_path_walks_into_the_index():
    def box(kind: bytes, payload: bytes) -> bytes:
        return (8 + len(payload)).to_bytes(4, "big") + kind + payload

    data = box(b"ftyp", b"isom") + box(b"moov", box(b"mvhd", b"x" * 8) + box(b"trak", box(b"tkhd", b"y" * 4)))
    assert mp4_box_path(data, 3) == "ftyp"
    assert mp4_box_path(data, data.index(b"yyyy")) == "moov/trak/tkhd"
    assert mp4_box_path(data, len(data)) == "none"


def test_text_files_name_the_first_differing_line_and_missing_files(tmp_path):
    for name, rows in (("a", "x.mp4 0\ny.mp4 1\n"), ("b", "x.mp4 0\ny.mp4 2\n")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "train.csv").write_text(rows)
    (tmp_path / "b" / ".leftover.partial.mp4").write_bytes(b"")
    problems = tree_difference(str(tmp_path / "a"), str(tmp_path / "b"))
    assert problems[0] == f"only in {tmp_path / 'b'}: ['.leftover.partial.mp4']"
    assert problems[1].endswith("first at line 2: b'y.mp4 1' vs b'y.mp4 2'") and "first at byte 14" in problems[1]
    assert len(problems) == 2
