"""Models: the 3D ResNet(-RS) family. `build_model(cfg)` is what the trainer calls."""
from video_rs.models.resnet3d import (
    MODEL_ENTRYPOINTS,
    STAGE_BLOCKS,
    VARIANTS,
    ResNet3D,
    build_model,
    create_model,
    list_models,
    model_kwargs_from_cfg,
)

__all__ = [
    "MODEL_ENTRYPOINTS", "STAGE_BLOCKS", "VARIANTS", "ResNet3D", "build_model", "create_model", "list_models",
    "model_kwargs_from_cfg",
]
