"""Image conventions shared by every image dataset: [0, 1] floats, square resizing, grey to RGB, standardisation."""
from __future__ import annotations

from typing import Sequence

import tensorflow as tf


def check_image_size(image_size: int | None) -> int | None:
    """`image_size` if it is None or a positive int, else a ValueError naming it."""
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int)
                                   or image_size < 1):
        raise ValueError(f"image_size={image_size!r}; expected None or a positive int (square side in pixels)")
    return image_size


def output_channels(name: str, native: int, channels: int | None) -> int:
    """Channels of `name`'s images after `channels` is applied: grey images may be repeated to 3."""
    if channels is None or channels == native:
        return native
    if native == 1 and channels == 3:
        return 3
    allowed = (native, 3) if native == 1 else (native,)
    raise ValueError(f"channels={channels!r} for {name!r}, whose images have {native} channel(s); "
                     f"expected None or one of {allowed}")


def to_unit(x: tf.Tensor, max_value: float) -> tf.Tensor:
    """Pixels in [0, max_value] as float32 in [0, 1]."""
    return tf.cast(x, tf.float32) / max_value


def reshape_image(x: tf.Tensor, image_size: int | None, channels: int) -> tf.Tensor:
    """Bilinear resize to `image_size` squared (None keeps the size) and grey repeated to `channels`.

    Works on one image (H, W, C) or a batch (N, H, W, C).
    """
    if image_size is not None:
        x = tf.image.resize(x, (image_size, image_size), method="bilinear")
    if channels == 3 and x.shape[-1] == 1:
        x = tf.image.grayscale_to_rgb(x)
    return x


def standardizer(mean: Sequence[float], std: Sequence[float]):
    """`x -> (x - mean) / std` per channel (a 1-element mean/std broadcasts over repeated grey)."""
    mean = tf.constant(mean, tf.float32)
    std = tf.constant(std, tf.float32)
    return lambda x: (x - mean) / std
