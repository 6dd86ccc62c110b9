"""The decoding contract on the containers and codecs people have: AVI with B-frames, MPEG-2 program
streams, WebM without a duration, phone rotation, variable frame rate, HEVC, AV1.

Frame i of every backend must be frame i of a full sequential decode (`decode_sequential`), which in
turn must show the i-th frame written, upright.
"""
import json
import logging

import numpy as np
import pytest
from video_formats import FORMAT_CASES, format_frame_number, format_pattern

from video_rs.data.decoders import BACKENDS, DecodeError, decode, decode_sequential, open_video, upright
from video_rs.data.sampling import uniform_clip_indices

TOLERANCE = {"pyav": 0, "decord": 2}  # decord converts colours with its own FFmpeg copy
CASES = list(FORMAT_CASES)


@pytest.fixture(scope="module")
def reference(format_video):
    """`reference(name) -> (path, every frame of the sequential decode)`, cached per module."""
    cache = {}

    def get(name):
        if name not in cache:
            path = format_video(name)
            cache[name] = path, decode_sequential(path, range(len(FORMAT_CASES[name].shown) + 5))
        return cache[name]

    return get


@pytest.mark.parametrize("name", CASES)
def test_sequential_decode_shows_each_written_frame_upright(reference, name):
    case = FORMAT_CASES[name]
    path, frames = reference(name)
    count = len(case.shown)
    written = np.stack([upright(format_pattern(i), case.rotation) for i in case.shown])
    assert frames.shape[1:3] == written.shape[1:3]
    shown = [format_frame_number(upright(frame, (360 - case.rotation) % 360)) for frame in frames]
    assert shown == case.shown + [case.frames - 1] * 5  # past the end: the last frame repeats
    assert np.abs(frames[:count].astype(int) - written).mean() < 8  # the right way up, not mirrored


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", CASES)
def test_backend_equals_the_sequential_decode(reference, name, backend):
    case = FORMAT_CASES[name]
    path, frames = reference(name)
    count = len(case.shown)
    last = count - 1
    random = np.random.default_rng(len(name)).choice(count, 5, replace=False).tolist()
    with open_video(path, backend) as video:
        assert video.num_frames == count
        assert video.fps == pytest.approx(case.fps, rel=1e-3)
        pixels = video.pixels_per_frame  # read before any decoding: from the header
        info = video.info
        for indices in ([0, last // 2, last], sorted(random), random + [3, 3], [last, 0], [last - 1, last, last + 4]):
            got = video.get(indices)
            expected = frames[np.minimum(indices, last)]
            assert got.shape == expected.shape
            assert np.abs(got.astype(int) - expected).max() <= TOLERANCE[backend], indices
    height, width = frames.shape[1:3]
    assert (info.num_frames, info.height, info.width, info.rotation) == (count, height, width, case.rotation)
    assert pixels == height * width


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", CASES)
def test_test_clips_cover_the_first_to_the_last_frame(reference, name, backend):
    """The multi-view test's clips (3 clips of 8 frames at rate 2 on a 30 fps timeline) reach both ends."""
    path, frames = reference(name)
    with open_video(path, backend) as video:
        clips = uniform_clip_indices(video.num_frames, 8, 2, video.fps, 30.0, 3)
        got = video.get(np.concatenate(clips))
    rotation = FORMAT_CASES[name].rotation
    shown = [format_frame_number(upright(frame, (360 - rotation) % 360)) for frame in got]
    numbers = FORMAT_CASES[name].shown
    assert shown[0] == numbers[0] and shown[-1] == numbers[-1]
    assert shown == [numbers[i] for i in np.concatenate(clips)]


def test_decord_sends_files_it_cannot_seek_exactly_to_pyav_with_one_warning(format_video, caplog):
    """AV1 and WebM without a duration do not open in decord 0.6; AVI, MPEG-PS and HEVC open but seek to
    wrong frames. None of them may count as bad, and each kind is warned about once."""
    from video_rs.data import decoders

    decoders._WARNED.clear()
    names = ["webm_vp9_no_duration", "avi_mpeg4_bframes", "avi_h264", "mpg_mpeg2_program_stream", "mp4_hevc"]
    with caplog.at_level(logging.WARNING, logger="video_rs.data.decoders"):
        for name in names * 2:
            with open_video(format_video(name), "decord") as video:
                assert video.get([video.num_frames - 1]).shape[0] == 1
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == len(names) and all("PyAV" in message for message in messages)


def test_decord_open_failures_fall_back_to_pyav_and_keep_the_reason(format_video, caplog):
    """A file decord cannot open (forced here: VP9 routed to decord) is read by PyAV, warned once per file,
    and the warning says why decord failed without its source location."""
    from video_rs.data import decoders

    path = format_video("webm_vp9_no_duration")
    decoders._WARNED.clear()
    exact = dict(decoders.DECORD_EXACT)
    try:
        decoders.DECORD_EXACT["vp9"] = ("matroska",)
        with caplog.at_level(logging.WARNING, logger="video_rs.data.decoders"):
            for _ in range(2):
                frames = decode(path, [0, 49], "decord")
    finally:
        decoders.DECORD_EXACT.clear()
        decoders.DECORD_EXACT.update(exact)
    assert [format_frame_number(frame) for frame in frames] == [0, 49]
    (message,) = [record.getMessage() for record in caplog.records]
    assert path in message and "broken metadata" in message and ".cc:" not in message


def test_ffmpeg_log_lines_are_silenced(tmp_path, write_test_video, capfd):
    """A damaged H.264 stream: FFmpeg would print a line per broken macroblock; nothing reaches stderr."""
    noise = np.random.default_rng(0).integers(0, 256, (30, 64, 96, 3), dtype=np.uint8)
    path = write_test_video(str(tmp_path / "good.mp4"), noise, crf=10, gop=15)
    data = bytearray(open(path, "rb").read())
    for offset in range(3000, len(data) - 2000, 97):
        data[offset] ^= 0xFF
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    for backend in BACKENDS:
        try:
            decode(str(damaged), list(range(0, 30, 3)), backend)
        except DecodeError:
            pass
    assert "@ 0x" not in capfd.readouterr().err


def test_decode_sequential_clamps_and_reports_unreadable_files(index_video, frame_numbers, tmp_path):
    assert frame_numbers(decode_sequential(index_video, [59, 0, 75, 30])).tolist() == [59, 0, 59, 30]
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 1000)
    with pytest.raises(DecodeError):
        decode_sequential(str(tmp_path / "bad.mp4"), [0])


@pytest.mark.parametrize("name", ["mp4_rotated_90", "mkv_vfr_header_rate_wrong", "avi_mpeg4_bframes", "mp4_edit_list_cut"])
def test_prepared_copies_keep_every_frame_upright_without_a_rotation_flag(format_video, tmp_path, name):
    """datasets/prepare_*.py re-encode through `resize_video`: the copy shows the same frames the decoders
    give for the original, the right way up, at the same rate, and carries no rotation of its own."""
    import av

    from video_rs.data.prepare import resize_video

    case, source = FORMAT_CASES[name], format_video(name)
    copy = str(tmp_path / "copy.mp4")
    assert resize_video(source, copy, short_side=64) == "done"
    with av.open(copy) as container:
        assert next(container.decode(video=0)).rotation == 0
    with open_video(copy, "pyav") as video, open_video(source, "pyav") as original:
        assert video.info.rotation == 0 and (video.info.height, video.info.width) == (original.info.height,
                                                                                     original.info.width)
        assert video.num_frames == len(case.shown) and video.fps == pytest.approx(original.fps, rel=1e-3)
        shown = [format_frame_number(upright(frame, (360 - case.rotation) % 360))
                 for frame in video.get(range(len(case.shown)))]
    assert shown == case.shown


def _dataset(tmp_path, paths):
    """A Kinetics-layout folder whose train.csv lists `paths` (absolute), all of class 0."""
    (tmp_path / "train.csv").write_text("".join(f"{path} 0\n" for path in paths))
    return ["--workers", "1", "--splits", "train", "DATA.PATH_TO_DATA_DIR", str(tmp_path), "MODEL.NUM_CLASSES", "1"]


def test_check_dataset_counts_rotated_videos(format_video, tmp_path, load_script, capsys):
    paths = [format_video(name) for name in ("mp4_rotated_90", "mp4_rotated_270", "avi_h264")]
    report = str(tmp_path / "report.json")
    assert load_script("tools/check_dataset.py").main(_dataset(tmp_path, paths) + ["--json", report]) == 0
    assert "rotated: 2 videos carry a rotation flag (270 degrees: 1, 90 degrees: 1); decoded upright" in \
        capsys.readouterr().out
    assert json.load(open(report))["splits"][0]["stats"]["rotated"] == {"videos": 2, "270": 1, "90": 1}


def test_verify_frames_lists_videos_whose_seeks_return_wrong_frames(format_video, tmp_path, load_script, capsys,
                                                                    monkeypatch):
    """decord seeks to wrong frames in AVI with B-frames: let it serve one (as a decoder without this package's
    routing would) and --verify-frames must name the file and the fix; with the routing, all frames agree."""
    from video_rs.data import decoders

    paths = [format_video("avi_mpeg4_bframes"), format_video("mp4_rotated_90"), format_video("mpg_mpeg2_program_stream")]
    tool = load_script("tools/check_dataset.py")
    argv = _dataset(tmp_path, paths) + ["--backend", "decord", "--verify-frames", "all"]
    assert tool.main(argv) == 0
    assert "[train] frames: 3 videos seek-checked with decord against a sequential decode: 0 return wrong frames" in \
        capsys.readouterr().out
    monkeypatch.setitem(decoders.DECORD_EXACT, "mpeg4", ("avi",))
    assert tool.main(argv) == 1
    out = capsys.readouterr().out
    assert "1 return wrong frames" in out and f"WRONG FRAMES {paths[0]}: frames" in out
    assert "re-encode these videos with datasets/prepare_*.py" in out


def test_verify_frames_takes_a_count_or_all(format_video, tmp_path, load_script, capsys):
    tool = load_script("tools/check_dataset.py")
    argv = _dataset(tmp_path, [format_video("avi_h264"), format_video("mp4_hevc")])
    assert tool.main(argv + ["--verify-frames", "1"]) == 0
    assert "1 videos seek-checked with" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exited:
        tool.main(argv + ["--verify-frames", "some"])
    assert exited.value.code == 2 and "--verify-frames takes a positive number" in capsys.readouterr().err


def test_decord_reasons_keep_what_is_wrong(format_video, tmp_path, index_frames, write_test_video):
    """decord's messages start with a time, a source file and a failed assertion; the reason keeps the end."""
    import decord

    from video_rs.data.video_file import short_reason

    cut = tmp_path / "cut.mp4"
    data = open(write_test_video(str(tmp_path / "whole.mp4"), index_frames(60), crf=4, faststart=True), "rb").read()
    cut.write_bytes(data[: len(data) * 6 // 10])
    for path, what in ((format_video("mp4_av1"), "cannot find video stream"), (str(cut), "buffer source")):
        with pytest.raises(Exception) as caught:
            decord.VideoReader(path)
        reason = short_reason(caught.value, path)
        assert what in reason and ".cc:" not in reason and "Check failed" not in reason, reason


@pytest.mark.parametrize("name", CASES)
def test_pyav_seeks_where_timestamps_are_trusted_and_counts_elsewhere(format_video, name):
    """The fast path stays: MP4/MOV, MKV/WebM and IVF keep their timestamp index through seeks (none fell
    back to counting from the start); AVI, MPEG-PS/TS, FLV and WMV are counted from the start."""
    path = format_video(name)
    frames = len(FORMAT_CASES[name].shown)
    with open_video(path, "pyav") as video:
        for indices in ([frames - 3], [frames // 2, frames // 2 + 1], [5]):
            video.get(indices)
        seeks = video.video._index_of_pts is not None
    assert seeks == path.endswith((".mp4", ".mov", ".mkv", ".webm", ".ivf"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_joined_ts_segments_keep_the_header_rate(format_video, tmp_path, backend):
    """Segments joined with `cat` (HLS downloads) restart the MPEG-TS clock: a rate measured from the
    timestamps came out 4x too high for four segments, so clips spanned 4x the time they should."""
    segment = open(format_video("ts_h264"), "rb").read()
    joined = tmp_path / "joined.ts"
    joined.write_bytes(segment * 4)
    with open_video(str(joined), backend) as video:
        assert video.fps == pytest.approx(FORMAT_CASES["ts_h264"].fps)
        assert video.num_frames == 4 * FORMAT_CASES["ts_h264"].frames


def test_the_decord_routing_follows_a_file_replaced_under_the_same_name(format_video, tmp_path):
    """The header verdict is remembered per file version: a file replaced by another kind is routed anew."""
    import shutil

    from video_rs.data.decoders import _not_for_decord

    path = str(tmp_path / "clip.mp4")
    shutil.copyfile(format_video("mp4_rotated_180"), path)  # H.264 in MP4: decord's
    assert _not_for_decord(path) == "" and _not_for_decord(path) == ""
    shutil.copyfile(format_video("mp4_mpeg4_bframes"), path)  # MPEG-4 Part 2 under the same name: PyAV's
    assert _not_for_decord(path) == "mpeg4 in .mp4 files"
    assert (decode(path, [0, 59], "decord") == decode_sequential(path, [0, 59])).all()
