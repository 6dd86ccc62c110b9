"""Precise BatchNorm: recompute running statistics as a true average over many training batches.

Running statistics are an EMA over the last iterations of weights that kept changing; before an
evaluation PySlowFast replaces them by the plain mean over `BN.NUM_BATCHES_PRECISE` batches of
the final weights (Wu & Johnson, "Rethinking Batch in BatchNorm").

Kept here rather than calling `fvcore.nn.precise_bn.update_bn_stats`, which would change the numbers:
fvcore estimates the population variance (the spread of the per-batch means included) where these
statistics are the plain average of per-batch variances, it stops with an assertion when the loader
ends before `num_batches`, and it has no all-reduce across ranks.
"""
from __future__ import annotations

import itertools
from typing import Callable, Iterable

import torch
from torch import nn

from video_rs.engine.distributed import is_dist


@torch.no_grad()
def update_bn_stats(model: nn.Module, inputs: Iterable[torch.Tensor], num_batches: int,
                    forward: Callable[[torch.Tensor], torch.Tensor] | None = None) -> int:
    """Set every BN layer's running mean/var to their average over `num_batches` input batches.

    `inputs` yields ready model inputs; `forward` defaults to `model`. Returns the batches used
    (fewer when `inputs` runs out). Averaged across ranks under DDP so every rank ends equal.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not bns:
        return 0
    was_training = model.training
    model.eval()  # statistics of the network as evaluated: dropout and stochastic depth off
    momenta = [bn.momentum for bn in bns]
    sums_mean = [torch.zeros_like(bn.running_mean) for bn in bns]
    sums_var = [torch.zeros_like(bn.running_var) for bn in bns]
    for bn in bns:
        bn.train()
        bn.momentum = 1.0  # running stats := this batch's statistics, read back after each forward
    used = 0
    run = forward or model
    for batch in itertools.islice(inputs, num_batches):
        run(batch)
        for i, bn in enumerate(bns):
            sums_mean[i] += bn.running_mean
            sums_var[i] += bn.running_var
        used += 1
    if is_dist():  # average over every rank's batches so all ranks keep equal statistics
        flat = torch.cat(sums_mean + sums_var + [torch.tensor([float(used)], device=sums_mean[0].device)])
        torch.distributed.all_reduce(flat)
        used_total = flat[-1].item()
        chunks = list(flat[:-1].split([t.numel() for t in sums_mean + sums_var]))
        sums_mean, sums_var = chunks[: len(bns)], chunks[len(bns):]
    else:
        used_total = float(used)
    for i, bn in enumerate(bns):
        if used_total:
            bn.running_mean.copy_(sums_mean[i] / used_total)
            bn.running_var.copy_(sums_var[i] / used_total)
        bn.momentum = momenta[i]
    model.train(was_training)
    return used
