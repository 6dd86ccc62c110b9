#!/usr/bin/env python
"""Prepare downloaded Kinetics videos: resize to a short side (parallel, resumable) and write our CSVs.

    python datasets/prepare_kinetics.py --annotations kinetics400/train.csv --videos raw/train \\
        --out /data/k400_256 --split train --short-side 256 --gop 32 --workers 16
    python datasets/prepare_kinetics.py --annotations kinetics400/validate.csv --videos raw/val \\
        --out /data/k400_256 --split val --short-side 256 --gop 32 --workers 16

Writes OUT/<split>/<clip>.mp4, OUT/<split>.csv ("<split>/<clip>.mp4 <label index>", paths relative
to OUT, so DATA.PATH_TO_DATA_DIR = OUT and PATH_PREFIX empty), OUT/classes.txt (sorted class names
of the first split prepared; later splits reuse it), and OUT/<split>_missing.txt /
OUT/<split>_failed.txt listing clips not found on disk or not decodable. Re-running skips finished
videos. Use --no-resize to only build the CSVs from files already prepared elsewhere. Rows without a
label (an unlabeled test list) get label -1, which the training/evaluation readers refuse: such a
split is for tools/predict.py only.
"""
import argparse
import functools
import os
import sys

from video_rs.data.prepare import (CopyFormat, add_resize_arguments, index_videos, read_official_kinetics_csv,
                                   resize_all, write_lines)
from video_rs.engine.logging import progress


def _class_names(out: str, rows) -> list[str]:
    path = os.path.join(out, "classes.txt")
    if os.path.isfile(path):
        return [line.strip() for line in open(path, encoding="utf-8") if line.strip()]
    names = sorted({row.label for row in rows if row.label})
    if not names:
        raise SystemExit(f"{path} does not exist and the annotations have no labels to build it from")
    write_lines(path, names)
    return names


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--annotations", required=True, help="official label,youtube_id,time_start,time_end,split CSV")
    parser.add_argument("--videos", required=True, help="folder with the downloaded clips (searched recursively)")
    parser.add_argument("--split", required=True, help="name of the split written: train, val or test")
    add_resize_arguments(parser)
    parser.add_argument("--no-resize", action="store_true", help="only write the CSVs, for clips already in OUT")
    args = parser.parse_args(argv)

    rows = read_official_kinetics_csv(args.annotations)
    os.makedirs(args.out, exist_ok=True)
    names = _class_names(args.out, rows)
    by_name = {name: index for index, name in enumerate(names)}
    found = index_videos(args.out if args.no_resize else args.videos)
    jobs, missing, planned = [], [], []
    copy_format = CopyFormat.from_args(args)
    for row in rows:
        src = next((found[stem] for stem in row.stems if stem in found), None)
        if src is None or (row.label and row.label not in by_name):
            missing.append(f"{row.stems[0]} {row.label}" + ("" if src else " (no file)"))
            continue
        dst = os.path.join(args.out, args.split, f"{row.stems[0]}.mp4")
        planned.append((os.path.relpath(dst, args.out), by_name.get(row.label, -1)))
        jobs.append((src, dst, copy_format))

    bar = functools.partial(progress, desc="resize", leave=True)
    failed = {} if args.no_resize else resize_all(jobs, args.workers, progress=bar)[1]
    kept = [(path, label) for path, label in planned if os.path.join(args.out, path) not in failed]
    write_lines(os.path.join(args.out, f"{args.split}.csv"), (f"{path} {label}" for path, label in kept))
    for suffix, lines in (("missing", missing), ("failed", [f"{k}\t{v}" for k, v in failed.items()])):
        write_lines(os.path.join(args.out, f"{args.split}_{suffix}.txt"), lines)
    print(f"{args.split}: {len(kept)} videos in {args.split}.csv, {len(missing)} missing, {len(failed)} failed "
          f"(of {len(rows)} annotated); classes: {len(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
