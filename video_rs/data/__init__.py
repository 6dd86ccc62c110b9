"""Video data: annotations -> frame indices -> decode -> clip transforms -> uint8 batches.

The trainer needs `build_loader`, `normalize_clips` (on the device), `FAILED_VIEW` and the
bad-video helpers; everything else is importable from its module.
"""
from video_rs.data.annotations import AnnotationError, VideoList, load_split
from video_rs.data.bad_videos import TooManyBadVideos, check_bad_fraction, read_bad_videos
from video_rs.data.dataset import FAILED_VIEW, VideoClipDataset
from video_rs.data.decoders import DecodeError, VideoInfo, decode, decode_sequential, open_video, video_info
from video_rs.data.loader import build_loader
from video_rs.data.transforms import normalize_clips

__all__ = [
    "AnnotationError", "DecodeError", "FAILED_VIEW", "TooManyBadVideos", "VideoClipDataset", "VideoInfo",
    "VideoList", "build_loader", "check_bad_fraction", "decode", "decode_sequential", "load_split", "normalize_clips",
    "open_video", "read_bad_videos", "video_info",
]
