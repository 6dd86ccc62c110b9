"""Installs the `video_rs` library; the pinned dependency set lives in requirements.txt."""
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
        "pytorchvideo",
        "decord",
        "av",
        "fvcore",
        "iopath",
        "yacs",
        "timm",
        "tensorboard",
        "tqdm",
        "matplotlib",
        "numpy",
    ],
)
