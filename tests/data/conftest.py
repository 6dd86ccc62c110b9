"""tests/data only: one torch thread (the machine's cores are shared; uint8 resizes are fastest single-threaded)."""
import pytest
import torch
from video_formats import FORMAT_CASES, write_format_case


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def format_video(tmp_path_factory):
    """`format_video(name) -> path` of FORMAT_CASES[name], written once per session (skips when this PyAV
    build has no encoder for it)."""
    import os

    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its whole configuration otherwise
    folder = tmp_path_factory.mktemp("formats")
    written: dict[str, str] = {}

    def get(name: str) -> str:
        if name not in written:
            written[name] = write_format_case(str(folder / FORMAT_CASES[name].file), FORMAT_CASES[name])
        return written[name]

    return get
