"""video_rs.data.prepare through datasets/prepare_kinetics.py: source files in any container, failed resizes."""
import os

import av
import numpy as np
import pytest

from video_rs.data.prepare import CopyFormat, index_videos, resize_job


def write_vp8_ivf(path: str, frames: np.ndarray, fps: int = 30) -> str:
    """A real VP8 stream in an IVF container (what AV1/VP8/VP9 downloads often come as)."""
    with av.open(path, "w", format="ivf") as container:
        stream = container.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for array in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def corrupt_copy(src: str, dst: str) -> str:
    """`src` with most of its coded data scrambled: it opens, then decoding fails part-way (after the output exists)."""
    data = bytearray(open(src, "rb").read())
    for i in range(len(data) // 3, len(data), 7):
        data[i] = (data[i] * 31 + 17) % 256
    open(dst, "wb").write(bytes(data))
    return dst


@pytest.fixture(scope="module")
def frames():
    return np.random.default_rng(0).integers(0, 256, (10, 48, 64, 3), dtype=np.uint8)


def test_prepare_kinetics_finds_clips_in_any_container(tmp_path, frames, write_test_video, load_script, capsys):
    """An .ivf and an .FLV download were reported missing; a metadata file of the same stem is not a video."""
    raw = tmp_path / "raw"
    raw.mkdir()
    write_vp8_ivf(str(raw / "aaa_000010_000020.ivf"), frames)
    write_test_video(str(raw / "bbb.FLV"), frames)  # an H.264 mp4 under another name: FFmpeg probes the content
    (raw / "ccc.info.json").write_text("{}")
    (raw / "ccc.description").write_text("not a video")
    (tmp_path / "train.csv").write_text("label,youtube_id,time_start,time_end,split\n"
                                        "abseiling,aaa,10,20,train\nzumba,bbb,0,10,train\nzumba,ccc,5,15,train\n")
    out = tmp_path / "out"
    argv = ["--annotations", str(tmp_path / "train.csv"), "--videos", str(raw), "--out", str(out), "--split", "train",
            "--short-side", "32", "--workers", "1"]
    assert load_script("datasets/prepare_kinetics.py").main(argv) == 0
    assert "2 videos in train.csv, 1 missing, 0 failed" in capsys.readouterr().out
    assert open(out / "train_missing.txt").read().startswith("ccc_000005_000015")
    with av.open(str(out / "train" / "aaa_000010_000020.mp4")) as container:
        assert container.streams.video[0].frames == 10


def test_index_prefers_video_extensions_and_skips_metadata(tmp_path):
    for name in ("a.mp4", "a.description", "b.txt", "c.ts", "c.jpg", "d", ".e.mp4", "f.mp4.partial.mp4"):
        (tmp_path / name).write_bytes(b"")
    assert {stem: os.path.basename(path) for stem, path in index_videos(str(tmp_path)).items()} == \
        {"a": "a.mp4", "c": "c.ts", "d": "d"}


def test_a_failed_resize_leaves_no_partial_file(tmp_path, frames, write_test_video, load_script, capsys):
    good = write_test_video(str(tmp_path / "good.mp4"), frames, faststart=True)
    bad = corrupt_copy(good, str(tmp_path / "bad.mp4"))
    dst = str(tmp_path / "out" / "bad.mp4")
    _, status, error = resize_job((bad, dst, CopyFormat(short_side=32)))
    assert status == "failed" and error
    assert os.listdir(tmp_path / "out") == []  # was: bad.mp4.partial.mp4, written again by every re-run

    raw = tmp_path / "raw"
    raw.mkdir()
    os.replace(bad, raw / "aaa.mp4")
    (tmp_path / "train.csv").write_text("label,youtube_id,time_start,time_end,split\nabseiling,aaa,10,20,train\n")
    out = tmp_path / "k400"
    argv = ["--annotations", str(tmp_path / "train.csv"), "--videos", str(raw), "--out", str(out), "--split", "train",
            "--short-side", "32", "--workers", "1"]
    assert load_script("datasets/prepare_kinetics.py").main(argv) == 0
    assert "0 videos in train.csv, 0 missing, 1 failed" in capsys.readouterr().out
    assert os.listdir(out / "train") == []
