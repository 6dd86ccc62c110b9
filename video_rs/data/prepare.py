"""Dataset preparation: resize videos to a fixed short side (PyAV) and turn official lists into annotations.

Kinetics: official CSVs -> our `path label` CSVs (datasets/prepare_kinetics.py). UCF101 / HMDB51:
the official split files are kept, with the video names turned into the resized `.mp4` copies
(`prepare_split_dataset`, datasets/prepare_ucf101_hmdb51.py).

Decoding a 256-pixel copy is several times cheaper than decoding the original, and a short
keyframe interval (`gop`, e.g. 32) makes random-clip seeks cheaper still (1.6x faster random-clip
decoding measured with 32). A training copy at the rate the recipe samples (`fps`, e.g. 15 for
every 2nd frame at 30) holds only frames a clip can use, and `fast_decode` (x264's fastdecode tuning)
makes each of them cheaper to decode (datasets/README.md: cost and savings). Outputs
are written to a hidden `.<name>.<pid>.<random>.partial.mp4` beside them and renamed, so an interrupted
run leaves no half files under a real name and a re-run skips what is done (outputs that exist and decode).
"""
from __future__ import annotations

import csv
import glob
import itertools
import os
import shutil
from collections import Counter
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Iterable

from video_rs.data.annotations import VIDEO_EXTENSIONS
from video_rs.data.atomic import atomic_path
from video_rs.data.check import check_video, run_jobs
from video_rs.data.decoders import display_frame, open_video
from video_rs.data.encode import VideoWriter
from video_rs.data.progress import progress as report_progress


def scaled_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(height, width) with the short side = `short_side`, aspect kept, both even (H.264 4:2:0)."""
    scale = short_side / min(height, width)
    even = lambda v: max(2, int(round(v * scale / 2)) * 2)  # noqa: E731
    return even(height), even(width)


def kept_frames(source_fps: float, fps: float | None):
    """Which source frames a copy at `fps` keeps: frame round(m * source_fps / fps) becomes frame m.

    That is the frame the samplers pick for time m / fps (`sampling._clip_from` rounds the same
    way), so a copy at TARGET_FPS / SAMPLING_RATE holds exactly the frames a clip can use. A copy is
    never faster than its source: at or above the source rate every frame is kept.
    """
    step = source_fps / fps if fps and fps < source_fps else 1.0
    wanted = 0
    for index in itertools.count():
        keep = index == round(wanted * step)
        if keep:
            wanted += 1
        yield keep


@dataclass(frozen=True)
class CopyFormat:
    """How the prepared copies are encoded (the options every preparation script shares)."""

    short_side: int = 256
    gop: int | None = None  # keyframe interval in frames; None: x264's default (250)
    crf: int = 23
    fps: float | None = None  # lower the frame rate to this (training copies: TARGET_FPS / SAMPLING_RATE)
    fast_decode: bool = False  # x264 fastdecode: CAVLC, no deblocking, no weighted prediction

    @classmethod
    def from_args(cls, args) -> "CopyFormat":
        return cls(short_side=args.short_side, gop=args.gop, crf=args.crf, fps=args.fps, fast_decode=args.fast_decode)


def resize_video(src: str, dst: str, *, short_side: int = 256, gop: int | None = None, crf: int = 23,
                 preset: str = "veryfast", fps: float | None = None, fast_decode: bool = False) -> str:
    """Re-encode `src` as H.264 mp4 at `dst` with the given short side; audio dropped. Returns "done"/"skipped".

    The copy is constant-rate at the source's rate as the decoders see it (a variable-rate file's true
    average), frame i being the source's frame i, upright (a phone's rotation applied to the pixels).
    `fps` lowers the frame rate (e.g. to the TARGET_FPS / SAMPLING_RATE a recipe samples), keeping the
    source frames `kept_frames` names. `fast_decode` encodes with x264's fastdecode tuning (CAVLC entropy
    coding, no deblocking filter, no weighted prediction): about 1.5x faster to decode, ~13% larger at
    the same crf and the same PSNR against the source (datasets/README.md).

    An existing `dst` is kept ("skipped") when its first, middle and last frame decode, else redone.
    """
    import av  # lazy: the heavy decoder loads only when re-encoding

    if os.path.exists(dst) and check_video(dst, 0, "pyav").ok:
        return "skipped"
    with atomic_path(dst, ".partial.mp4") as partial:
        with open_video(src, "pyav") as video:  # the decoding contract's rate and upright size
            source_fps = Fraction(video.fps).limit_denominator(1001)
            height, width = scaled_size(video.info.height, video.info.width, short_side)
        out_fps = min(Fraction(fps).limit_denominator(1001), source_fps) if fps else source_fps
        with av.open(src) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            with VideoWriter(partial, width=width, height=height, fps=out_fps, crf=crf, gop=gop, preset=preset,
                             faststart=True, tune="fastdecode" if fast_decode else None) as writer:
                for frame, keep in zip(container.decode(stream), kept_frames(float(source_fps), float(out_fps))):
                    if keep:
                        frame = display_frame(frame, stream)  # upright pixels; the copy carries no rotation flag
                        writer.write_frame(frame.reformat(width=width, height=height, format="yuv420p",
                                                          interpolation="AREA"))
    return "done"


def resize_job(job: tuple) -> tuple[str, str, str | None]:
    """`(src, dst, CopyFormat)` -> (dst, "done" | "skipped" | "failed", error); for process pools."""
    src, dst, copy_format = job
    try:
        return dst, resize_video(src, dst, **asdict(copy_format)), None
    except Exception as err:  # a corrupt download must not stop the other 240,000 (resize_video removed its temp file)
        return dst, "failed", f"{type(err).__name__}: {err}"


def resize_all(jobs: list[tuple], workers: int, *, progress=None) -> tuple[Counter, dict[str, str]]:
    """Run `resize_job`s in `workers` processes (in this one for 1). Returns ({status: count}, {dst: error}).

    `progress(iterator, total=n)` wraps the results (default: a bar on a terminal, else a line every 30 s).
    """
    counts, failed = Counter(), {}
    wrap = progress or (lambda iterable, total: report_progress(iterable, total=total, desc="resize"))
    for dst, status, error in run_jobs(resize_job, jobs, workers, wrap, chunksize=4):  # encodes are slow: small chunks
        counts[status] += 1
        if status == "failed":
            failed[dst] = error
    return counts, failed


def add_resize_arguments(parser) -> None:
    """The argparse options every preparation script shares: --out, --workers and `CopyFormat`'s."""
    parser.add_argument("--out", required=True, help="dataset folder to write (DATA.PATH_TO_DATA_DIR)")
    parser.add_argument("--short-side", type=int, default=CopyFormat.short_side, help="256 or 320 in the literature")
    parser.add_argument("--gop", type=int, default=CopyFormat.gop,
                        help="keyframe interval in frames (32: faster clip seeks)")
    parser.add_argument("--crf", type=int, default=CopyFormat.crf, help="x264 quality (lower = better, larger)")
    parser.add_argument("--fps", type=float, default=CopyFormat.fps,
                        help="lower the frame rate to this (training copies: DATA.TARGET_FPS / DATA.SAMPLING_RATE, "
                             "15 for the recipes; see datasets/README.md)")
    parser.add_argument("--fast-decode", action="store_true",
                        help="x264 fastdecode tuning: ~1.5x faster decoding for ~13%% more disk (datasets/README.md)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel encoding processes")


def write_lines(path: str, lines: Iterable[str]) -> None:
    """One line per item, each ending in a newline (an empty list gives an empty file)."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("".join(f"{line}\n" for line in lines))


@dataclass
class KineticsRow:
    label: str
    youtube_id: str
    time_start: int
    time_end: int
    split: str

    @property
    def stems(self) -> tuple[str, ...]:
        """File names (without extension) the common downloaders give this clip."""
        return (f"{self.youtube_id}_{self.time_start:06d}_{self.time_end:06d}", self.youtube_id)


def read_official_kinetics_csv(path: str) -> list[KineticsRow]:
    """The official `label,youtube_id,time_start,time_end,split` CSV (test lists may lack the label)."""
    rows = []
    with open(path, newline="", encoding="utf-8") as handle:
        for number, record in enumerate(csv.DictReader(handle), start=2):
            try:
                rows.append(KineticsRow(record.get("label", "") or "", record["youtube_id"], int(float(record["time_start"])),
                                        int(float(record["time_end"])), record.get("split", "") or ""))
            except (KeyError, ValueError) as err:
                raise ValueError(f"{path}:{number}: not a Kinetics row ({err}): {record}") from None
    return rows


# files a downloader leaves next to a clip under the same stem (metadata, thumbnails, subtitles, temp files)
NOT_VIDEO_EXTENSIONS = (".txt", ".json", ".csv", ".description", ".log", ".jpg", ".jpeg", ".png", ".webp", ".gif",
                        ".vtt", ".srt", ".ass", ".part", ".ytdl", ".tmp", ".temp", ".md5", ".sha256")


def index_videos(folder: str) -> dict[str, str]:
    """{file stem: path} of every video below `folder` (downloads may be nested per class).

    A file with a known video extension wins; any other file of that stem (not metadata, see
    NOT_VIDEO_EXTENSIONS) is taken too, so a clip in a rarer container is resized (or reported as
    failed, with FFmpeg's reason) instead of being called missing.
    """
    found, others = {}, {}
    for root, _, files in os.walk(folder):
        for name in sorted(files):
            stem, ext = os.path.splitext(name)
            if name.endswith(".partial.mp4") or name.startswith("."):
                continue
            if ext.lower() in VIDEO_EXTENSIONS:
                found.setdefault(stem, os.path.join(root, name))
            elif ext.lower() not in NOT_VIDEO_EXTENSIONS:
                others.setdefault(stem, os.path.join(root, name))
    return {**others, **found}


@dataclass(frozen=True)
class SplitLayout:
    """Where a dataset's official split files live and how their rows name videos."""

    folder: str  # the official folder of the split files (the readers look in it as well)
    lists: tuple[str, ...]  # glob patterns of the files whose rows start with a video name
    copied: tuple[str, ...] = ()  # files taken over unchanged (required)
    class_from_file: bool = False  # rows name "<video>" of the class in the file name (HMDB51)


SPLIT_LAYOUTS = {
    # "Class/v_Class_g08_c01.avi 1" (trainlist, 1-based label) / "Class/v_Class_g01_c01.avi" (testlist)
    "ucf101": SplitLayout("ucfTrainTestlist", ("trainlist0*.txt", "testlist0*.txt"), ("classInd.txt",)),
    # "<class>_test_splitN.txt": "video.avi 1" (1 train, 2 test, 0 unused in split N)
    "hmdb51": SplitLayout("testTrainMulti_7030_splits", ("*_test_split*.txt",), class_from_file=True),
}


def _split_class(file_name: str) -> str:
    return file_name[: file_name.rindex("_test_split")]


def _row_video(layout: SplitLayout, file_name: str, fields: list[str]) -> tuple[str, bool]:
    """(video path relative to the video root, "/"-separated; whether the row uses it) for a split-file row."""
    if layout.class_from_file:
        return f"{_split_class(file_name)}/{fields[0]}", fields[1:2] != ["0"]
    return fields[0].replace("\\", "/"), True


def _as_mp4(path: str) -> str:
    return os.path.splitext(path)[0] + ".mp4"


@dataclass
class SplitPrepReport:
    """What `prepare_split_dataset` did; `videos` counts the videos the splits use."""

    videos: int
    counts: Counter
    missing: list[str]
    failed: dict[str, str]  # video (as in the split files) -> error
    split_dir: str
    split_files: list[str] = field(default_factory=list)

    def summary(self, dataset: str) -> str:
        return (f"{dataset}: {self.videos} videos in the split files: {self.counts['done']} resized, "
                f"{self.counts['skipped']} already done, {len(self.missing)} missing, {len(self.failed)} failed; "
                f"{len(self.split_files)} split files in {self.split_dir}")


def find_split_files(dataset: str, splits_dir: str) -> tuple[str, list[str]]:
    """(folder, sorted file names) of the official split files in `splits_dir` or its official sub-folder."""
    layout = SPLIT_LAYOUTS[dataset]
    for folder in (splits_dir, os.path.join(splits_dir, layout.folder)):
        names = sorted({os.path.basename(path) for pattern in layout.lists
                        for path in glob.glob(os.path.join(glob.escape(folder), pattern))})
        if names:
            absent = [name for name in layout.copied if not os.path.isfile(os.path.join(folder, name))]
            if absent:
                raise FileNotFoundError(f"{', '.join(absent)} not found in {folder}")
            return folder, names
    raise FileNotFoundError(f"no {' / '.join(layout.lists)} in {splits_dir} (nor in {layout.folder}/ there)")


def _locate(videos_dir: str, video: str, index: dict[str, str] | None) -> str | None:
    """The raw file of `video` ("Class/name.avi"): that path, else a file of the same name (any extension)
    in a folder of that class (any case) found anywhere below `videos_dir`."""
    exact = os.path.join(videos_dir, video)
    if os.path.isfile(exact):
        return exact
    folder, name = os.path.split(video)
    found = (index or {}).get(os.path.splitext(name)[0])
    if found and os.path.basename(os.path.dirname(found)).lower() == os.path.basename(folder).lower():
        return found
    return None


def prepare_split_dataset(dataset: str, videos_dir: str, splits_dir: str, out: str, *,
                          copy_format: CopyFormat = CopyFormat(), workers: int = 1, progress=None) -> SplitPrepReport:
    """Resize every video a UCF101 / HMDB51 split uses to `out/<class>/<name>.mp4` and write the split files
    (`out/<official folder>/`) naming those mp4s, so `read_ucf101` / `read_hmdb51` read `out` as it is.

    Rows of missing or undecodable videos are left out of the written split files and listed in
    `out/missing.txt` / `out/failed.txt`. HMDB51 videos marked 0 (unused) in every split are not resized.
    Re-running skips finished videos.
    """
    layout = SPLIT_LAYOUTS[dataset]
    source_dir, names = find_split_files(dataset, splits_dir)
    split_dir = os.path.join(out, layout.folder)
    if os.path.realpath(split_dir) == os.path.realpath(source_dir):
        raise ValueError(f"the output split files would overwrite the official ones in {source_dir}: "
                         "choose another output folder")
    rows = {}
    for name in names:
        with open(os.path.join(source_dir, name), encoding="utf-8") as handle:
            rows[name] = [line.split() for line in handle if line.strip()]
    used = {}  # video -> None, in split-file order
    for name, file_rows in rows.items():
        for fields in file_rows:
            video, in_use = _row_video(layout, name, fields)
            if in_use:
                used.setdefault(video, None)

    jobs, missing, index, source_of = [], [], None, {}
    for video in used:
        src = _locate(videos_dir, video, index)
        if src is None and index is None:  # a different layout or case: search once, then look again
            index = index_videos(videos_dir)
            src = _locate(videos_dir, video, index)
        if src is None:
            missing.append(video)
            continue
        dst = os.path.join(out, _as_mp4(video))
        source_of[dst] = video
        jobs.append((src, dst, copy_format))
    counts, failed_dst = resize_all(jobs, workers, progress=progress)
    failed = {source_of[dst]: error for dst, error in failed_dst.items()}

    dropped = set(missing) | set(failed)
    os.makedirs(split_dir, exist_ok=True)
    for name in layout.copied:
        shutil.copyfile(os.path.join(source_dir, name), os.path.join(split_dir, name))
    for name, file_rows in rows.items():
        kept = [" ".join([_as_mp4(fields[0].replace("\\", "/"))] + fields[1:]) for fields in file_rows
                if _row_video(layout, name, fields)[0] not in dropped]
        write_lines(os.path.join(split_dir, name), kept)
    write_lines(os.path.join(out, "missing.txt"), missing)
    write_lines(os.path.join(out, "failed.txt"), (f"{video}\t{error}" for video, error in failed.items()))
    return SplitPrepReport(len(used), counts, missing, failed, split_dir, names)
