"""The decoding contract on the containers and codecs people have: AVI with B-frames, MPEG-2 program
streams, WebM without a duration, phone rotation, variable frame rate, HEVC, AV1.

Frame i of every backend must be frame i of a full sequential decode (`decode_sequential`), which in
turn must show the i-th frame written, upright.
"""
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
            cache[name] = path, decode_sequential(path, range(FORMAT_CASES[name].frames + 5))
        return cache[name]

    return get


@pytest.mark.parametrize("name", CASES)
def test_sequential_decode_shows_each_written_frame_upright(reference, name):
    case = FORMAT_CASES[name]
    path, frames = reference(name)
    written = np.stack([upright(format_pattern(i), case.rotation) for i in range(case.frames)])
    assert frames.shape[1:3] == written.shape[1:3]
    shown = [format_frame_number(upright(frame, (360 - case.rotation) % 360)) for frame in frames]
    assert shown == list(range(case.frames)) + [case.frames - 1] * 5  # past the end: the last frame repeats
    assert np.abs(frames[: case.frames].astype(int) - written).mean() < 8  # the right way up, not mirrored


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", CASES)
def test_backend_equals_the_sequential_decode(reference, name, backend):
    case = FORMAT_CASES[name]
    path, frames = reference(name)
    last = case.frames - 1
    random = np.random.default_rng(len(name)).choice(case.frames, 5, replace=False).tolist()
    with open_video(path, backend) as video:
        assert video.num_frames == case.frames
        assert video.fps == pytest.approx(case.fps, rel=1e-3)
        info = video.info
        for indices in ([0, last // 2, last], sorted(random), random + [3, 3], [last, 0], [last - 1, last, last + 4]):
            got = video.get(indices)
            expected = frames[np.minimum(indices, last)]
            assert got.shape == expected.shape
            assert np.abs(got.astype(int) - expected).max() <= TOLERANCE[backend], indices
    height, width = frames.shape[1:3]
    assert (info.num_frames, info.height, info.width, info.rotation) == (case.frames, height, width, case.rotation)


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
    assert shown[0] == 0 and shown[-1] == FORMAT_CASES[name].frames - 1
    assert shown == np.concatenate(clips).tolist()


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


def test_ffmpeg_log_lines_are_silenced(tmp_path, index_frames, write_test_video, capfd):
    """A damaged H.264 stream: FFmpeg would print a line per broken macroblock; nothing reaches stderr."""
    path = write_test_video(str(tmp_path / "good.mp4"), index_frames(60), crf=10, gop=30)
    data = bytearray(open(path, "rb").read())
    for offset in range(3000, len(data) - 2000, 97):
        data[offset] ^= 0xFF
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    for backend in BACKENDS:
        try:
            decode(str(damaged), list(range(0, 60, 5)), backend)
        except DecodeError:
            pass
    assert "@ 0x" not in capfd.readouterr().err


def test_decode_sequential_clamps_and_reports_unreadable_files(index_video, frame_numbers, tmp_path):
    assert frame_numbers(decode_sequential(index_video, [59, 0, 75, 30])).tolist() == [59, 0, 59, 30]
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 1000)
    with pytest.raises(DecodeError):
        decode_sequential(str(tmp_path / "bad.mp4"), [0])
