"""torchrun environment -> process group, and the few collective helpers the engine needs.

One process per device (round-robin when there are more processes than GPUs). `torchrun` sets
RANK / WORLD_SIZE / LOCAL_RANK / LOCAL_WORLD_SIZE / MASTER_ADDR / MASTER_PORT; without them the run
is a single process and every helper degrades to a no-op, so the training loop reads the same either way.
"""
from __future__ import annotations

import datetime
import logging
import os
from typing import Any

import torch
import torch.distributed as dist

from video_rs.config import ConfigError

logger = logging.getLogger(__name__)


def is_dist() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    """This process's rank: the process group's once joined, torchrun's RANK before (0 outside torchrun)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", 0))


def get_world_size() -> int:
    """Processes in the run: the process group's size once joined, torchrun's WORLD_SIZE before (else 1)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", 1))


def is_main_process() -> bool:
    """Rank 0 alone writes files and prints."""
    return get_rank() == 0


def select_device(cfg) -> torch.device:
    """DEVICE "auto" picks CUDA when present; torchrun ranks take GPU LOCAL_RANK % device count.

    Round-robin rather than GPU LOCAL_RANK, so more ranks than GPUs (2 on 1 GPU: the DDP path's
    functional check) share devices instead of crashing; with one rank per GPU it is the same thing.
    """
    want = cfg.DEVICE
    if want == "cuda" or (want == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ConfigError("DEVICE is 'cuda' but no CUDA device is available (torch sees none); "
                              "use DEVICE cpu, or DEVICE auto to take a GPU when there is one")
        index = int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count()
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return torch.device("cpu")


def auto_backend(device: torch.device, local_world_size: int, device_count: int) -> str:
    """DIST_BACKEND "auto": nccl when each rank has its own GPU; gloo on CPU or when ranks share a GPU
    (NCCL refuses two ranks on one device)."""
    if device.type == "cuda" and local_world_size <= device_count:
        return "nccl"
    return "gloo"


def init_distributed(cfg, device: torch.device) -> None:
    """Join the torchrun process group when WORLD_SIZE > 1 (backend: cfg.DIST_BACKEND, "auto" as `auto_backend`)."""
    world = get_world_size()
    if world <= 1 or dist.is_initialized():
        return
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    device_count = torch.cuda.device_count() if device.type == "cuda" else 0
    if device.type == "cuda" and local_world > device_count and get_rank() == 0:
        logger.warning("%d processes share %d GPU(s): a functional check of the DDP path, not a scaling "
                       "measurement", local_world, device_count)
    backend = cfg.DIST_BACKEND
    if backend == "auto":
        backend = auto_backend(device, local_world, device_count)
    kwargs = {"device_id": device} if backend == "nccl" else {}
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=30), **kwargs)


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's `obj`, in rank order ([obj] in a single process)."""
    if not is_dist():
        return [obj]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def broadcast_object(obj: Any) -> Any:
    """Rank 0's `obj` on every rank (e.g. a decision only rank 0 can make after reading disk)."""
    if not is_dist():
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum over ranks of a short list of numbers (counts, loss sums)."""
    if not is_dist():
        return [float(v) for v in values]
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def broadcast_buffers(module: torch.nn.Module) -> None:
    """Rank 0's buffers (BN running statistics) everywhere.

    DDP syncs buffers at the start of each forward, so after the last step every rank holds the
    statistics of its own last batch; evaluating and saving need one set.
    """
    if not is_dist():
        return
    for buffer in module.buffers():
        dist.broadcast(buffer.data, src=0)
