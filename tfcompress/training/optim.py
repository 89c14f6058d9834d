"""Optimizers and learning-rate schedules by name."""
from __future__ import annotations

import tf_keras as keras

from tfcompress.training.config import TrainConfig


def make_optimizer(config: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The optimizer of `--optimizer` with the schedule of `--lr_schedule` (`learning_rate`).

    Under `plateau` the rate is a variable that `keras.callbacks.ReduceLROnPlateau`
    (see `schedule_callbacks`) lowers.
    """
    lr = learning_rate(config.lr, config.lr_schedule, config.epochs * steps_per_epoch)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(lr)
    momentum = config.momentum if config.optimizer == "momentum" else 0.0
    return keras.optimizers.SGD(lr, momentum=momentum)


def learning_rate(lr: float, schedule: str, total_steps: int):
    """`lr` under `schedule` over `total_steps` optimizer steps: a float or a Keras schedule.

    `step` divides it by 10 at 50% and 75% of the steps, `cosine` decays it to
    zero; `constant` and `plateau` (lowered by a callback) keep it a float.
    """
    total = max(1, total_steps)
    if schedule == "step":
        return keras.optimizers.schedules.PiecewiseConstantDecay(
            [total // 2, (3 * total) // 4], [lr, lr * 0.1, lr * 0.01])
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(lr, total)
    return lr


def schedule_callbacks(config: TrainConfig) -> list[keras.callbacks.Callback]:
    """Callbacks that the schedule needs (ReduceLROnPlateau for `plateau`)."""
    if config.lr_schedule == "plateau":
        return [keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=10,
                                                  min_lr=config.lr * 1e-4)]
    return []
