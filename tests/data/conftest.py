"""tests/data only: one torch thread (the machine's cores are shared; uint8 resizes are fastest single-threaded)."""
import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
