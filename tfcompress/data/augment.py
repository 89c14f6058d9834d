"""Standard training augmentations as stateless functions `(image, seed) -> image`.

Every random draw comes from TensorFlow's stateless image ops, so an example's
augmentation is a function of the image and its int64 seed pair only: the
same seeds give the same batches on any worker and after a restart.
"""
from __future__ import annotations

import tensorflow as tf

from tfcompress.data.source import Augment

# Inception-style random-resized-crop ranges used for ImageNet training.
CROP_AREA = (0.08, 1.0)
CROP_ASPECT = (3 / 4, 4 / 3)


def translate(pad: int) -> Augment:
    """Random translation by up to `pad` pixels each way (zero padding, then a random crop back)."""
    def apply(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
        return tf.image.stateless_random_crop(padded, tf.shape(image), seed=seed)
    return apply


def small_shift(side: int) -> Augment:
    """Digit and video-frame augmentation for images of `side` pixels: a random translation of up
    to about a twelfth of the side (1 pixel at 8x8, 2 at 28 or 32). No flips: a mirrored digit is
    another glyph, and a fixed camera's scene is not mirrored."""
    return translate(max(1, side // 12))


def crop_flip(pad: int = 4) -> Augment:
    """CIFAR's standard augmentation: random crop after `pad`-pixel zero padding, random horizontal flip."""
    shift = translate(pad)

    def apply(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        return tf.image.stateless_random_flip_left_right(shift(image, crop_seed), flip_seed)
    return apply


def resized_crop_flip(size: int) -> Augment:
    """ImageNet's standard augmentation: a random crop of 8-100% of the area and 3/4-4/3 aspect,
    resized (bilinear) to `size` squared, then a random horizontal flip."""
    whole = tf.constant([[[0.0, 0.0, 1.0, 1.0]]])

    def apply(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        box_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        begin, extent, _ = tf.image.stateless_sample_distorted_bounding_box(
            tf.shape(image), whole, seed=box_seed, area_range=CROP_AREA, aspect_ratio_range=CROP_ASPECT,
            max_attempts=10, use_image_if_no_bounding_boxes=True)
        crop = tf.image.resize(tf.slice(image, begin, extent), (size, size), method="bilinear")
        return tf.image.stateless_random_flip_left_right(crop, flip_seed)
    return apply
