"""From a dataset's `Source` to final examples, and from examples to shuffled, augmented, prefetched batches."""
from __future__ import annotations

import tensorflow as tf

from tfcompress.data.images import standardizer
from tfcompress.data.source import Augment, Source

# Largest shuffle buffer: whole-set shuffles for the small sets, a window for ImageNet.
MAX_SHUFFLE_BUFFER = 10_000


def finish(source: Source, augment: bool, limit: int | None) -> tuple[tf.data.Dataset, Augment | None]:
    """The first `limit` examples of `source` and the augmentation to apply to each during training.

    Without augmentation the examples come out final (prepared and
    standardised) and the augmentation is None. With it, the examples are
    [0, 1] images and the returned function augments and then standardises,
    so padding and crops act on pixels, not on standardised values.
    """
    examples = source.examples if limit is None else source.examples.take(limit)
    standardize = None if source.mean is None else standardizer(source.mean, source.std)
    if augment:
        if standardize is None:
            return examples, source.augment
        return examples, lambda x, seed: standardize(source.augment(x, seed))
    steps = [step for step in (source.prepare, standardize) if step is not None]
    if steps:
        def transform(x, y):
            for step in steps:
                x = step(x)
            return x, y
        examples = examples.map(transform, num_parallel_calls=tf.data.AUTOTUNE)
    return examples, None


def batches(examples: tf.data.Dataset, augment: Augment | None, *, num_examples: int, batch_size: int,
            shuffle: bool, seed: int) -> tf.data.Dataset:
    """Shuffled (seeded, reshuffled every epoch), augmented, batched and prefetched examples.

    Each example's augmentation seed comes from `tf.data.Dataset.random(seed)`,
    which draws new seeds every epoch and the same sequence for the same seed.
    """
    if shuffle:
        buffer = max(1, min(num_examples, MAX_SHUFFLE_BUFFER))
        examples = examples.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if augment is not None:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        examples = tf.data.Dataset.zip(examples, seeds).map(
            lambda xy, pair: (augment(xy[0], pair), xy[1]), num_parallel_calls=tf.data.AUTOTUNE)
    return examples.batch(batch_size, drop_remainder=False).prefetch(tf.data.AUTOTUNE)
