"""Stop a run on a non-finite loss, naming the step, and keep the last good checkpoint."""
from __future__ import annotations

import math

import tf_keras as keras


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss."""


class NonFiniteLossGuard(keras.callbacks.Callback):
    """Like keras.callbacks.TerminateOnNaN, but remembers the step and epoch for the error.

    It must come before the checkpoint callback so that the epoch with the bad
    loss is never saved.
    """

    def __init__(self):
        super().__init__()
        self.bad_step = None
        self.bad_loss = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        """Track the epoch for the message."""
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        """Stop training at the first non-finite loss."""
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)) and self.bad_step is None:
            self.bad_step = int(self.model.optimizer.iterations.numpy())
            self.bad_loss = float(loss)
            self.model.stop_training = True

    @property
    def triggered(self) -> bool:
        """Whether a non-finite loss was seen."""
        return self.bad_step is not None

    def raise_if_triggered(self, last_checkpoint: str | None) -> None:
        """Raise NonFiniteLossError naming the step and the checkpoint that was kept."""
        if self.triggered:
            raise NonFiniteLossError(
                f"loss became {self.bad_loss} at step {self.bad_step} (epoch {self._epoch + 1}); "
                f"training stopped. Last good checkpoint: {last_checkpoint or 'none'}")
