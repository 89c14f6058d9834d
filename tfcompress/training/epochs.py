"""A training stream that can resume at any epoch and replays exactly the same batches.

`model.fit` iterates one dataset across epochs; tf.data's own reshuffling then
depends on how many epochs the iterator has already produced, which a resumed
process does not know. Here every epoch is built from its own seed (shuffle
seed and stateless augmentation seeds derived from `seed` and the epoch
number), so epochs `[first, last)` come out identical whether or not the
process was restarted in between.
"""
from __future__ import annotations

import math
from typing import Callable

import tensorflow as tf
import tf_keras as keras

Augment = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow for a run.

    TensorFlow's global seed is `seed + 1`: `random_seed.get_seed` compares the
    seed pair with `(0, 0)` in Python, which raises for the tensor shuffle seeds
    of `epoch_stream` when the global seed is 0.
    """
    keras.utils.set_random_seed(seed)
    tf.random.set_seed(seed + 1)


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """Batches in one epoch (the last one may be smaller)."""
    return math.ceil(num_examples / batch_size)


def epoch_stream(examples: tf.data.Dataset, num_examples: int, batch_size: int, seed: int,
                 first_epoch: int, last_epoch: int, augment: Augment | None = None,
                 cache: bool = True) -> tf.data.Dataset:
    """Batches of epochs `first_epoch .. last_epoch - 1`, each shuffled from its own seed.

    `examples` yields unbatched `(x, y)`; `augment(x, seed)` must be stateless
    (a function of `x` and the int64 seed pair only). `cache` keeps the examples
    in memory after the first epoch (turn it off for sets larger than memory).
    """
    if first_epoch >= last_epoch:
        raise ValueError(f"nothing to train: first epoch {first_epoch} >= last epoch {last_epoch}")
    if cache:
        examples = examples.cache()

    def one_epoch(epoch):
        epoch_seed = tf.cast(seed, tf.int64) * 1_000_003 + epoch
        data = examples.shuffle(num_examples, seed=epoch_seed, reshuffle_each_iteration=False)
        if augment is not None:
            data = data.enumerate().map(
                lambda i, xy: (augment(xy[0], tf.stack([epoch_seed, i])), xy[1]),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return data.batch(batch_size)

    return (tf.data.Dataset.range(first_epoch, last_epoch)
            .flat_map(one_epoch)
            .prefetch(tf.data.AUTOTUNE))
