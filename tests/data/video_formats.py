"""Small videos in the containers and codecs people actually have, written with PyAV for the decoder tests.

Frames are grey 16-px blocks (no chroma, so the two backends' colour conversions agree): blocks 0-6
show the bits of the frame number, the last block is a fixed marker (orientation), and a ramp row
moves each frame, so a neighbour frame differs by a lot.
"""
from dataclasses import dataclass, field

import numpy as np
import pytest

FORMAT_SIZE = (64, 96)  # height, width; decord 0.6 cannot convert 48-px-wide frames, so no 64 x 48
_BLOCK = 16


def format_pattern(number: int) -> np.ndarray:
    """Frame `number` of every format fixture, uint8 RGB [64, 96, 3]."""
    height, width = FORMAT_SIZE
    image = np.full((height, width), 60, np.uint8)
    cells = [(row, col) for row in range(height // _BLOCK) for col in range(width // _BLOCK)]
    for bit, (row, col) in enumerate(cells[:7]):
        image[row * _BLOCK:(row + 1) * _BLOCK, col * _BLOCK:(col + 1) * _BLOCK] = 230 if (number >> bit) & 1 else 20
    row, col = cells[-1]
    image[row * _BLOCK:(row + 1) * _BLOCK, col * _BLOCK:(col + 1) * _BLOCK] = 250
    image[2 * _BLOCK:3 * _BLOCK, :] = (np.arange(width) * 2 + 3 * number) % 200 + 30
    return np.repeat(image[:, :, None], 3, axis=2)


def format_frame_number(frame: np.ndarray) -> int:
    """Inverse of `format_pattern` on a decoded (not rotated) frame: the centres of blocks 0-6."""
    grey = frame[..., 0].astype(int)
    cols = FORMAT_SIZE[1] // _BLOCK
    bits = [grey[(k // cols) * _BLOCK + 4:(k // cols) * _BLOCK + 12, (k % cols) * _BLOCK + 4:(k % cols) * _BLOCK + 12]
            .mean() > 125 for k in range(7)]
    return sum(bit << k for k, bit in enumerate(bits))


def _av1_encoder() -> tuple[str, dict] | None:
    import av

    options = {"libsvtav1": {"preset": "12", "crf": "30", "g": "16"},
               "libaom-av1": {"cpu-used": "8", "crf": "30", "g": "16", "row-mt": "0"},
               "librav1e": {"speed": "10", "qp": "80"}}
    return next(((name, opts) for name, opts in options.items() if name in av.codecs_available), None)


@dataclass(frozen=True)
class FormatCase:
    file: str
    codec: str
    frames: int
    options: dict
    container_format: str | None = None  # None: from the file extension
    container_options: dict = field(default_factory=dict)
    codec_tag: str | None = None
    rotation: int = 0  # degrees clockwise for display (what a phone's `rotate` tag says)
    rotate_tag: bool = False  # rotation as a `rotate` metadata tag (older tools) instead of a display matrix
    pts_steps: tuple = ()  # variable frame rate: pts increments (in 1/25 s) cycled over the frames
    fps: float = 25.0  # the rate the backends must report
    pix_fmt: str = "yuv420p"
    hidden: int = 0  # the first frames written with negative timestamps: an MP4 edit list hides them

    @property
    def shown(self) -> list[int]:
        """The numbers of the frames a player shows, in order (frame i of the video shows shown[i])."""
        return list(range(self.hidden, self.frames))


_X264 = {"crf": "10", "g": "12", "bf": "3", "threads": "1"}
FORMAT_CASES = {
    "avi_mpeg4_bframes": FormatCase("xvid.avi", "mpeg4", 70, {"bf": "2", "g": "12", "qscale": "3"}, codec_tag="XVID"),
    "avi_h264": FormatCase("h264.avi", "libx264", 60, _X264),
    "mpg_mpeg2_program_stream": FormatCase("mpeg2.mpg", "mpeg2video", 60, {"bf": "2", "g": "12", "qscale": "3"},
                                           container_format="mpeg"),
    "webm_vp9_no_duration": FormatCase("vp9.webm", "libvpx-vp9", 50, {"crf": "20", "b": "0", "g": "16", "cpu-used": "8",
                                       "deadline": "realtime", "threads": "1"}, container_options={"live": "1"}),
    "mp4_rotated_90": FormatCase("rot90.mp4", "libx264", 40, _X264, rotation=90),
    "mp4_rotated_180": FormatCase("rot180.mp4", "libx264", 40, _X264, rotation=180),
    "mp4_rotated_270": FormatCase("rot270.mp4", "libx264", 40, _X264, rotation=270),
    "mkv_rotate_tag_90": FormatCase("rot90_tag.mkv", "libx264", 40, _X264, rotation=90, rotate_tag=True),
    # the header says 25 fps; the frames are 1 and 3 ticks apart, so they span twice as long
    "mkv_vfr_header_rate_wrong": FormatCase("vfr.mkv", "libx264", 50, _X264, pts_steps=(1, 3), fps=49 / (97 / 25)),
    # what `ffmpeg -ss ... -c copy` writes: the stored frames before the cut stay, an edit list hides them
    "mp4_edit_list_cut": FormatCase("cut.mp4", "libx264", 40, _X264, hidden=4),
    "ts_h264": FormatCase("h264.ts", "libx264", 60, _X264),
    "flv_h264": FormatCase("h264.flv", "libx264", 60, _X264),
    "mp4_mpeg4_bframes": FormatCase("mpeg4.mp4", "mpeg4", 60, {"bf": "2", "g": "12", "qscale": "3"}),
    "avi_mjpeg": FormatCase("mjpeg.avi", "mjpeg", 40, {"qscale": "2"}, pix_fmt="yuvj420p"),
    "wmv_wmv2": FormatCase("wmv2.wmv", "wmv2", 40, {"qscale": "2", "g": "12"}),
    "mov_prores_10bit": FormatCase("prores.mov", "prores_ks", 30, {"profile": "1"}, pix_fmt="yuv422p10le"),
    "mp4_hevc": FormatCase("hevc.mp4", "libx265", 40, {"crf": "10", "g": "12",
                           "x265-params": "log-level=none:pools=1:frame-threads=1"}),
    "mp4_av1": FormatCase("av1.mp4", "av1", 40, {}),
    "ivf_av1": FormatCase("av1.ivf", "av1", 40, {}),
}


def write_format_case(path: str, case: FormatCase) -> str:
    from fractions import Fraction

    import av

    encoder, options = case.codec, case.options
    if encoder == "av1":
        found = _av1_encoder()
        if found is None:
            pytest.skip("this PyAV build has no AV1 encoder (libsvtav1, libaom-av1 or librav1e)")
        encoder, options = found
    if encoder not in av.codecs_available:
        pytest.skip(f"this PyAV build has no {encoder} encoder")
    height, width = FORMAT_SIZE
    pts = np.cumsum((0,) + tuple(case.pts_steps[k % len(case.pts_steps)] for k in range(case.frames - 1))) \
        if case.pts_steps else np.arange(case.frames) - case.hidden
    with av.open(path, "w", format=case.container_format, options=case.container_options) as container:
        stream = container.add_stream(encoder, rate=25)
        stream.width, stream.height, stream.pix_fmt, stream.options = width, height, case.pix_fmt, dict(options)
        if case.codec_tag:
            stream.codec_context.codec_tag = case.codec_tag
        if case.rotation and case.rotate_tag:
            stream.metadata["rotate"] = str(case.rotation)
        elif case.rotation:
            stream.set_display_rotation(-case.rotation)  # PyAV takes counter-clockwise degrees (MP4: the tkhd matrix)
        for number in range(case.frames):
            frame = av.VideoFrame.from_ndarray(format_pattern(number), format="rgb24")
            frame.pts, frame.time_base = int(pts[number]), Fraction(1, 25)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


