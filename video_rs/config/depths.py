"""Bottleneck blocks per stage for each RESNET.DEPTH: the one table the validator and the model both read.

It lives with the config because the validator needs it to check RESNET.DEPTH and the per-block
RESNET.TEMPORAL_KERNELS at start-up, and the config imports nothing of the package.
"""

# depth -> bottleneck blocks per stage (res2..res5), from the 3D ResNet-RS architecture specification's table
STAGE_BLOCKS = {
    26: (2, 2, 2, 2),
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
    200: (3, 24, 36, 3),
    270: (4, 29, 53, 4),
    300: (4, 36, 54, 4),
    350: (4, 36, 72, 4),
    420: (4, 44, 87, 4),
}
