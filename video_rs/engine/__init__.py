"""Training and evaluation: `train(cfg)`, `test(cfg)`, and `main(cfg)` (train, then the multi-view test)."""
from video_rs.engine.evaluate import test, validate
from video_rs.engine.train import NonFiniteLossError, main, train, train_and_test

__all__ = ["NonFiniteLossError", "main", "test", "train", "train_and_test", "validate"]
