"""Optimizers and learning-rate schedules by name."""
from __future__ import annotations

import tf_keras as keras

from tfcompress.training.config import TrainConfig


def make_optimizer(config: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The optimizer of `--optimizer` with the schedule of `--lr_schedule`.

    `step` divides the rate by 10 at 50% and 75% of training, `cosine` decays it
    to zero over all steps, `plateau` keeps it a variable that
    `keras.callbacks.ReduceLROnPlateau` (see `schedule_callbacks`) lowers.
    """
    total = max(1, config.epochs * steps_per_epoch)
    if config.lr_schedule == "step":
        lr = keras.optimizers.schedules.PiecewiseConstantDecay(
            [total // 2, (3 * total) // 4], [config.lr, config.lr * 0.1, config.lr * 0.01])
    elif config.lr_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(config.lr, total)
    else:
        lr = config.lr
    if config.optimizer == "adam":
        return keras.optimizers.Adam(lr)
    momentum = config.momentum if config.optimizer == "momentum" else 0.0
    return keras.optimizers.SGD(lr, momentum=momentum)


def schedule_callbacks(config: TrainConfig) -> list[keras.callbacks.Callback]:
    """Callbacks that the schedule needs (ReduceLROnPlateau for `plateau`)."""
    if config.lr_schedule == "plateau":
        return [keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=10,
                                                  min_lr=config.lr * 1e-4)]
    return []
