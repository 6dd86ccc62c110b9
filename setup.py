"""Installs the `video_rs` library; the pinned dependency set (the README's install) lives in requirements.txt."""
from setuptools import find_packages, setup

setup(
    name="video_rs",
    version="0.1.0",
    description="3D ResNet-RS video classification: models, data pipeline, RS training recipe",
    python_requires=">=3.10",
    packages=find_packages(include=["video_rs", "video_rs.*"]),
    install_requires=[
        "torch>=2.4",
        "torchvision",
        "decord",
        "av",
        "fvcore",
        "iopath",
        "yacs",
        "tensorboard",
        "tqdm",
        "matplotlib",
        "numpy",
    ],
    extras_require={
        # the peer-model rows of `tools/benchmark.py --compare` (slow_r50, x3d_m, x3d_l); nothing else imports it
        "bench": ["pytorchvideo"],
        # building the 2D ImageNet ResNet(-RS) weights that `tools/convert_weights.py` inflates; the converter
        # itself reads their state dict without timm
        "timm": ["timm"],
    },
)
