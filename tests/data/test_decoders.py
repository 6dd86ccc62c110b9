"""Both backends return exactly the requested frames of real H.264 files, and one DecodeError for broken ones.

The fixture video's frame i has brightness 4 * i, so a decoded frame names its own index.
"""
import av
import numpy as np
import pytest

from video_rs.data.decoders import BACKENDS, DecodeError, decode, open_video, video_info
from video_rs.data.encode import write_video
from video_rs.data.video_file import in_request_order

REQUESTS = {
    "start": [0, 1, 2, 3],
    "middle": [28, 30, 32, 34],
    "end": [56, 57, 58, 59],
    "unordered_with_repeats": [40, 3, 3, 59, 0, 17],
    "past_the_end_clamps": [57, 59, 61, 75],
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("where", list(REQUESTS))
def test_backends_return_exactly_the_requested_frames(index_video, frame_numbers, backend, where):
    indices = REQUESTS[where]
    frames = decode(index_video, indices, backend)
    assert frames.dtype == np.uint8 and frames.shape == (len(indices), 36, 44, 3)
    assert frame_numbers(frames).tolist() == np.minimum(indices, 59).tolist()
    levels = 4 * np.minimum(indices, 59)
    assert np.abs(frames.astype(int) - levels[:, None, None, None]).max() <= 2  # near-lossless, not a neighbour


def test_backends_agree_pixel_for_pixel(index_video):
    indices = [0, 9, 31, 47, 59]
    a, b = (decode(index_video, indices, backend).astype(int) for backend in BACKENDS)
    assert np.abs(a - b).max() <= 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_video_info(index_video, backend):
    info = video_info(index_video, backend)
    assert (info.num_frames, info.fps, info.height, info.width) == (60, 30.0, 36, 44)
    assert info.duration == pytest.approx(2.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_open_video_serves_several_requests(index_video, frame_numbers, backend):
    with open_video(index_video, backend) as video:
        assert video.num_frames == 60
        for indices in ([50, 52], [4, 6], [58, 59], [0]):
            assert frame_numbers(video.get(indices)).tolist() == indices
        # frames handed out earlier are never overwritten by later requests (same sizes: a reused buffer would show)
        kept = [(indices, video.get(indices)) for indices in ([1, 2], [40, 41], [7, 9])]
        for indices, frames in kept:
            assert frame_numbers(frames).tolist() == indices


@pytest.mark.parametrize("backend", BACKENDS)
def test_other_frame_rates_and_long_keyframe_interval(tmp_path, index_frames, frame_numbers, backend):
    path = write_video(str(tmp_path / "fps12.mp4"), index_frames(40, 32, 64), fps=12, crf=4)  # one keyframe
    with open_video(path, backend) as video:
        assert (video.num_frames, video.fps) == (40, 12.0)
        assert frame_numbers(video.get([39, 20, 21, 1])).tolist() == [39, 20, 21, 1]


@pytest.fixture(scope="module")
def broken_files(tmp_path_factory, index_video):
    """Real broken inputs, as a crawl of Kinetics produces them."""
    folder = tmp_path_factory.mktemp("broken")
    data = open(index_video, "rb").read()
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 2])  # moov atom (at the end) lost
    (folder / "random.mp4").write_bytes(np.random.default_rng(0).bytes(4000))
    (folder / "text.mp4").write_text("not a video\n" * 50)
    with av.open(str(folder / "zero_frames.mp4"), "w") as container:  # a header and no frame
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 44, 36, "yuv420p"
        container.start_encoding()
    return {
        "missing": (str(folder / "missing.mp4"), "file not found"),
        "empty": (str(folder / "empty.mp4"), "empty file"),
        "truncated": (str(folder / "truncated.mp4"), "cannot open"),
        "random_bytes": (str(folder / "random.mp4"), "cannot open"),
        "not_a_video": (str(folder / "text.mp4"), "cannot open"),
        "zero_frames": (str(folder / "zero_frames.mp4"), ""),
        "directory": (str(folder), "is a directory"),
    }


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", ["missing", "empty", "truncated", "random_bytes", "not_a_video", "zero_frames",
                                  "directory"])
def test_unreadable_files_raise_one_decode_error_with_path_and_reason(broken_files, backend, case):
    path, reason = broken_files[case]
    with pytest.raises(DecodeError) as caught:
        decode(path, [0, 1], backend)
    assert caught.value.path == path and reason in caught.value.reason and caught.value.reason
    assert path in str(caught.value)
    assert not caught.value.retryable  # nothing in this file can be read: no point retrying other clips


@pytest.mark.parametrize("backend", BACKENDS)
def test_tail_cut_off_fails_where_frames_are_missing(tmp_path, index_frames, backend):
    """moov first (faststart), then the file cut: the header promises frames the data no longer holds."""
    path = write_video(str(tmp_path / "faststart.mp4"), index_frames(60), crf=4, gop=8, faststart=True)
    data = open(path, "rb").read()
    cut = str(tmp_path / "cut.mp4")
    open(cut, "wb").write(data[: len(data) * 6 // 10])
    with pytest.raises(DecodeError) as caught:
        decode(cut, [0, 30, 59], backend)
    assert caught.value.path == cut


@pytest.mark.parametrize("backend", BACKENDS)
def test_variable_frame_rate_numbers_stored_frames_in_both_backends(tmp_path, backend):
    """20 frames at irregular times over 1 s: frame i is the i-th stored frame in both backends (after a
    seek too), and the rate is the average (20 fps), not a timeline with gaps."""
    from fractions import Fraction

    pts = [0, 1, 2, 4, 5, 6, 9, 10, 11, 12, 15, 16, 20, 21, 22, 23, 24, 27, 28, 29]  # in 1/30 s
    path = str(tmp_path / "vfr.mp4")
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt, stream.options = 44, 36, "yuv420p", {"crf": "4"}
        for number, stamp in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(np.full((36, 44, 3), 8 * number, np.uint8), format="rgb24")
            frame.pts, frame.time_base = stamp, Fraction(1, 30)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    shown = lambda frames: np.rint(frames.reshape(len(frames), -1).mean(1) / 8).astype(int).tolist()  # noqa: E731
    with open_video(path, backend) as video:
        assert video.num_frames == 20 and video.fps == pytest.approx(20, rel=0.05)
        assert shown(video.get([15, 16, 17, 18, 19])) == [15, 16, 17, 18, 19]
        assert shown(video.get(range(20))) == list(range(20))


@pytest.mark.parametrize("backend", BACKENDS)
def test_matroska_without_a_frame_count_in_the_header(tmp_path, index_frames, frame_numbers, backend):
    """Kinetics has .mkv / .webm files: no stored frame count, so PyAV counts packets."""
    path = str(tmp_path / "clip.mkv")
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt, stream.options = 44, 36, "yuv420p", {"crf": "4", "g": "8"}
        for number, frame in enumerate(index_frames(40)):
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts = number
            for packet in stream.encode(video_frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with av.open(path) as container:
        assert container.streams.video[0].frames == 0
    with open_video(path, backend) as video:
        assert (video.num_frames, video.fps) == (40, 30.0)
        assert frame_numbers(video.get([39, 0, 17, 18])).tolist() == [39, 0, 17, 18]


def test_decord_falls_back_to_pyav_on_widths_it_cannot_copy(tmp_path, index_frames, frame_numbers, caplog):
    """decord 0.6 fails on 24- and 48-px-wide frames; the decord backend must still return the right frames."""
    for width in (24, 48):
        path = write_video(str(tmp_path / f"w{width}.mp4"), index_frames(20, height=32, width=width), crf=4, gop=8)
        with caplog.at_level("WARNING", logger="video_rs.data.decoders"):
            with open_video(path, "decord") as video:
                first = video.get([3, 9, 9, 15])
                again = video.get([0, 19])  # served by PyAV without trying decord again
        assert first.shape == (4, 32, width, 3)
        assert list(frame_numbers(first)) == [3, 9, 9, 15] and list(frame_numbers(again)) == [0, 19]
        assert np.array_equal(first, decode(path, [3, 9, 9, 15], "pyav"))
        assert sum(path in record.getMessage() for record in caplog.records) == 1  # warned once per file


def test_frames_come_in_request_order_without_a_copy_when_already_sorted():
    frames = np.arange(12, dtype=np.uint8).reshape(3, 2, 2, 1)
    assert in_request_order(frames, np.arange(3)) is frames
    reordered = in_request_order(frames, np.array([2, 0, 0, 1]))
    assert [int(f[0, 0, 0]) for f in reordered] == [8, 0, 0, 4]
