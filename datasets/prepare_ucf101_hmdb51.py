#!/usr/bin/env python
"""Prepare UCF101 / HMDB51: resize the videos of the official splits to mp4 (parallel, resumable).

    python datasets/prepare_ucf101_hmdb51.py --dataset ucf101 --videos /data/raw/UCF-101 \\
        --splits /data/raw/ucfTrainTestlist --out /data/ucf101_256 --short-side 256 --gop 32 --workers 16
    python datasets/prepare_ucf101_hmdb51.py --dataset hmdb51 --videos /data/raw/hmdb51_org \\
        --splits /data/raw/testTrainMulti_7030_splits --out /data/hmdb51_256 --short-side 256 --gop 32 --workers 16

Every video a split file uses (`<class>/<name>.avi`) becomes OUT/<class>/<name>.mp4 (H.264, short side
--short-side, a keyframe every --gop frames, audio dropped). The split files are written to
OUT/ucfTrainTestlist/ (with classInd.txt) or OUT/testTrainMulti_7030_splits/ naming the .mp4 files,
so training needs only `DATA.PATH_TO_DATA_DIR OUT` (DATA.PATH_PREFIX empty). OUT/missing.txt and
OUT/failed.txt list videos not found under --videos or not decodable; their rows are left out of the
written split files. Re-running skips videos already done (outputs that exist and decode).
"""
import argparse
import functools
import sys

from video_rs.data.prepare import SPLIT_LAYOUTS, CopyFormat, add_resize_arguments, prepare_split_dataset
from video_rs.engine.logging import progress


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, choices=sorted(SPLIT_LAYOUTS))
    parser.add_argument("--videos", required=True, help="the unpacked videos: <class>/<name>.avi below it")
    parser.add_argument("--splits", required=True, help="folder of the official split files (or its parent)")
    add_resize_arguments(parser)
    args = parser.parse_args(argv)

    try:
        report = prepare_split_dataset(args.dataset, args.videos, args.splits, args.out,
                                       copy_format=CopyFormat.from_args(args), workers=args.workers,
                                       progress=functools.partial(progress, desc="resize", leave=True))
    except (FileNotFoundError, ValueError) as err:  # no split files, or --out would overwrite them
        parser.error(str(err))
    print(report.summary(args.dataset))
    return 0


if __name__ == "__main__":
    sys.exit(main())
