"""Tiny real runs for the engine tests: two small synthetic datasets (real mp4 files) and a config maker.

The model is a 3D ResNet-RS-26 at 1/8 width on 4-frame 32-pixel clips, so a whole epoch takes
about a second on a CPU core while still running the real decoder, loader and network.
"""
import socket

import pytest

from video_rs.config import load_cfg


def _dataset(tmp_path_factory, name, num_classes, seed):
    from video_rs.data.synthetic import generate_synthetic_dataset

    root = tmp_path_factory.mktemp(name)
    generate_synthetic_dataset(str(root), num_classes=num_classes, videos_per_class=(4, 2, 2), num_frames=20,
                               size=(36, 44), fps=30, seed=seed)
    return str(root)


@pytest.fixture(scope="session")
def data_three_classes(tmp_path_factory):
    return _dataset(tmp_path_factory, "synthetic3", 3, seed=0)


@pytest.fixture(scope="session")
def data_two_classes(tmp_path_factory):
    return _dataset(tmp_path_factory, "synthetic2", 2, seed=1)


def tiny_cfg(data_dir: str, output_dir: str, num_classes: int, *opts):
    """A frozen config for a seconds-long CPU run; `opts` override anything."""
    base = [
        "DEVICE", "cpu", "OUTPUT_DIR", output_dir, "RNG_SEED", "1", "LOG_PERIOD", "2",
        "RESNET.DEPTH", "26", "RESNET.WIDTH_MULTIPLIER", "0.125", "MODEL.NUM_CLASSES", str(num_classes),
        "DATA.PATH_TO_DATA_DIR", data_dir, "DATA.NUM_FRAMES", "4", "DATA.SAMPLING_RATE", "2",
        "DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "32", "DATA.TRAIN_JITTER_SCALES", "[32, 40]",
        "DATA.DECODING_BACKEND", "pyav", "DATA_LOADER.NUM_WORKERS", "0", "DATA_LOADER.PIN_MEMORY", "False",
        "TRAIN.BATCH_SIZE", "4", "TRAIN.EVAL_PERIOD", "1", "TRAIN.CHECKPOINT_PERIOD", "1",
        "SOLVER.BASE_LR", "0.05", "SOLVER.MAX_EPOCH", "2", "SOLVER.WARMUP_EPOCHS", "0.5",
        "MODEL_EMA.DECAY", "0.9", "TEST.NUM_ENSEMBLE_VIEWS", "2", "TEST.NUM_SPATIAL_CROPS", "3",
        "TEST.BATCH_SIZE", "4", "TEST.SPLIT", "test",
    ]
    return load_cfg(None, base + [str(o) for o in opts])


@pytest.fixture(scope="session")
def make_cfg():
    """`make_cfg(data_dir, output_dir, num_classes, *KEY_VALUE_overrides)` -> frozen tiny config."""
    return tiny_cfg


@pytest.fixture(scope="session")
def two_epoch_run(data_three_classes, tmp_path_factory):
    """(cfg, summary, final weights) of an uninterrupted 2-epoch run ending with the multi-view test."""
    from video_rs.engine.train import main

    cfg = tiny_cfg(data_three_classes, str(tmp_path_factory.mktemp("run")), 3, "MODEL.DROPOUT_RATE", "0.0")
    summary = main(cfg)
    return cfg, summary, {k: v.clone() for k, v in summary["model"].state_dict().items()}


@pytest.fixture
def free_port():
    """`free_port()` -> a TCP port nothing listens on, for a torch.distributed rendezvous."""
    def pick() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    return pick
