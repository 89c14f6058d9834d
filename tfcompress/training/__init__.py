"""Training runs: settings, resumable data stream, checkpoints, strategies, the `train` entry point."""
from tfcompress.training.config import TrainConfig, parse_model_args
from tfcompress.training.checkpoints import CheckpointError
from tfcompress.training.guards import NonFiniteLossError
from tfcompress.training.loop import RunDirError, TrainResult, build_model, load_run, resuming, train

__all__ = ["CheckpointError", "NonFiniteLossError", "RunDirError", "TrainConfig", "TrainResult", "build_model", "load_run", "parse_model_args", "resuming", "train"]
