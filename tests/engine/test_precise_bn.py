"""Precise BN sets running statistics to the plain average over the given batches."""
import torch
from torch import nn

from video_rs.engine.precise_bn import update_bn_stats


def test_running_stats_become_the_batch_average_and_mode_is_restored():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv3d(2, 2, 1, bias=False), nn.BatchNorm3d(2, momentum=0.1), nn.Dropout(0.5))
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(2).view(2, 2, 1, 1, 1))
    batches = [torch.randn(4, 2, 2, 3, 3) * (i + 1) + i for i in range(3)]
    model.eval()
    used = update_bn_stats(model, iter(batches + [torch.full((4, 2, 2, 3, 3), 1e6)]), num_batches=3)
    assert used == 3 and not model.training and model[1].momentum == 0.1
    means = torch.stack([b.mean(dim=(0, 2, 3, 4)) for b in batches]).mean(0)
    variances = torch.stack([b.transpose(0, 1).flatten(1).var(dim=1) for b in batches]).mean(0)
    assert torch.allclose(model[1].running_mean, means, atol=1e-5)
    assert torch.allclose(model[1].running_var, variances, atol=1e-4)
