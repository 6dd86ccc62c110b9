"""video_rs: 3D ResNet-RS video classification (models, data pipeline, RS training recipe)."""
__version__ = "0.1.0"
