"""Epoch checkpoints of model, optimizer and training state, with corrupt-file fallback.

Written on tf.train.CheckpointManager rather than keras.callbacks.BackupAndRestore
because resuming here must also (a) restore extra trackables that techniques
register (masks thresholds, RNG state of callbacks), (b) tell the caller the
epoch to resume from before `fit` builds its data pipeline, and (c) skip a
corrupt or truncated checkpoint, naming it, and fall back to the previous one.
"""
from __future__ import annotations

import math
import os

import tensorflow as tf
import tf_keras as keras
from absl import logging

from tfcompress.training.strategy import is_chief, task_index

# What TensorFlow's checkpoint reader raises for truncated, corrupt or mismatching files.
CORRUPT_CHECKPOINT_ERRORS = (tf.errors.OpError, ValueError, AssertionError, IndexError, KeyError)


class CheckpointError(RuntimeError):
    """No checkpoint in a directory could be restored."""


class EpochCheckpoint(keras.callbacks.Callback):
    """Save model, optimizer, epoch and extra trackables at the end of every epoch."""

    def __init__(self, directory: str, model: keras.Model, extra: dict | None = None,
                 max_to_keep: int = 3):
        super().__init__()
        self.directory = directory
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer,
                                              epoch=self.epoch, **(extra or {}))
        # Under MultiWorkerMirroredStrategy every worker must call save(); the chief
        # writes `directory`, the others `directory/_worker_<index>` (kept so that
        # replicas can be compared).
        target = directory if is_chief() else os.path.join(directory, f"_worker_{task_index()}")
        self.manager = tf.train.CheckpointManager(self.checkpoint, target, max_to_keep=max_to_keep)

    def restore_latest(self, for_inference: bool = False) -> int:
        """Restore the newest readable checkpoint; return the epoch to resume from (0 if none).

        A checkpoint that cannot be read is logged by name and the previous one is
        tried. `for_inference` skips the optimizer's state (no warnings about its
        unused slots).
        """
        state = tf.train.get_checkpoint_state(self.directory)
        candidates = list(reversed(state.all_model_checkpoint_paths)) if state else []
        failures = []
        for path in candidates:
            try:
                status = self.checkpoint.restore(path).assert_existing_objects_matched()
                if for_inference:
                    status.expect_partial()
            except CORRUPT_CHECKPOINT_ERRORS as error:
                failures.append(f"{path}: {type(error).__name__}: {str(error).splitlines()[0]}")
                logging.warning("checkpoint %s is corrupt or does not match the model (%s); "
                                "trying the previous one", path, type(error).__name__)
                continue
            print(f"{'loaded' if for_inference else 'resumed from'} {path} "
                  f"(epoch {int(self.epoch.numpy())})", flush=True)
            return int(self.epoch.numpy())
        if failures:
            raise CheckpointError("no checkpoint could be restored:\n  " + "\n  ".join(failures))
        return 0

    def on_epoch_end(self, epoch, logs=None):
        """Record that `epoch + 1` epochs are done and save, unless the epoch's loss is not finite."""
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            logging.warning("epoch %d ended with loss %s: not saved", epoch + 1, loss)
            return
        self.epoch.assign(epoch + 1)
        self.manager.save(checkpoint_number=epoch + 1)
