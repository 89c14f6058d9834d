"""The default dataset: scikit-learn's bundled 8x8 handwritten digits (1797 images, no download).

Pixels 0..16 are scaled to [0, 1] and not standardised (as for MNIST). The
train/test split is fixed: stratified 80/20 with `SPLIT_SEED`, independent of
the `seed` that orders and augments batches. `image_size` 28 or 32 upsamples
(bilinear) to MNIST or CIFAR shapes; `channels=3` repeats the grey channel.
"""
from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from tfcompress.data import augment
from tfcompress.data.images import output_channels, reshape_image, to_unit
from tfcompress.data.source import DatasetInfo, Request, Source

NUM_CLASSES = 10
SIDE = 8
MAX_PIXEL = 16.0
TEST_FRACTION = 0.2
SPLIT_SEED = 0


@functools.lru_cache(maxsize=1)
def _split() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{'train'|'test': (images (N, 8, 8) float64 0..16, labels (N,) int)} from the fixed split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.images, digits.target, test_size=TEST_FRACTION, stratify=digits.target,
        random_state=SPLIT_SEED)
    return {"train": (x_train, y_train), "test": (x_test, y_test)}


def describe(request: Request) -> DatasetInfo:
    """Shape, classes and split sizes of the digits as `request` shapes them."""
    side = request.image_size or SIDE
    channels = output_channels(request.name, 1, request.channels)
    split = _split()
    return DatasetInfo(request.name, (side, side, channels), NUM_CLASSES,
                       len(split["train"][1]), len(split["test"][1]))


def read(request: Request, split: str) -> Source:
    """One split of the digits, resized once up front (the whole set is ~1 MB)."""
    images, labels = _split()[split]
    channels = output_channels(request.name, 1, request.channels)
    x = reshape_image(to_unit(images[..., np.newaxis], MAX_PIXEL), request.image_size, channels)
    examples = tf.data.Dataset.from_tensor_slices((x, tf.constant(labels, tf.int32)))
    side = request.image_size or SIDE
    return Source(examples, len(labels), augment=augment.small_shift(side))
