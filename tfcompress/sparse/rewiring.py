"""The one path that applies a rewiring to a MaskedLayer: mask, weights, re-initialising draws, slots.

Every rewiring decides, per unit of the mask (a weight or a kernel patch),
which connections keep their weights, which (re)start and which are cut:
the sparse methods from drop and grow scores (`methods.MaskMethod.update`),
HebbianSparseConv2D from co-activation ranks (`HebbianSparseConv2D.rewire`).
`apply_rewiring` writes that decision, as rigl's `generic_mask_update` does.
Draws are stateless (`stateless_seed`), so replicas, workers and resumed
runs compute the same weights.
"""
from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from tfcompress.sparse.masks import MaskedLayer
from tfcompress.sparse.slots import optimizer_slots

# Salts of the stateless draws, so that the draws of one layer at one step differ.
GROW_DRAW, NEW_WEIGHTS_DRAW, NOISE_DRAW = 1, 2, 3


def stateless_seed(seed: int, index: int, salt: int, step: int) -> tf.Tensor:
    """The stateless seed of draw `salt` for layer `index` at `step` of a run seeded `seed`."""
    return tf.constant([seed * 1_000_003 + index * 16 + salt, step], tf.int64)


def initializer_draw(layer: MaskedLayer, seed: tf.Tensor) -> tf.Tensor:
    """A kernel-shaped draw of `layer`'s kernel initializer, seeded by the stateless `seed`."""
    initializer = layer.kernel_initializer
    integer = int(seed.numpy().sum() % (2**31 - 1))
    return type(initializer).from_config({**initializer.get_config(), "seed": integer})(
        layer.kernel.shape, layer.kernel.dtype)


def apply_rewiring(layer: MaskedLayer, keep, grow, optimizer: keras.optimizers.Optimizer | None = None,
                   init_seed: tf.Tensor | None = None) -> None:
    """Rewire `layer`: `keep` units keep their weights, `grow` units restart, every other unit is cut.

    `keep` and `grow` are disjoint boolean arrays at the mask's unit shape
    (`layer.unit_shape`). Restarting weights are zero, or a draw of the
    layer's kernel initializer with `init_seed` ("big new weights"); cut
    weights become zero, and the new mask is `keep | grow`. The slots of
    `optimizer` (momentum, Adam's m and v) are zeroed everywhere but on kept
    units, so no stale momentum revives or pushes a connection. Call it
    eagerly, in cross-replica context under a strategy.
    """
    keep = layer.from_units(tf.cast(keep, tf.bool))
    grow = layer.from_units(tf.cast(grow, tf.bool))
    kernel = layer.kernel
    start = tf.zeros_like(kernel) if init_seed is None else initializer_draw(layer, init_seed)
    kernel.assign(tf.where(grow, start, tf.where(keep, kernel, tf.zeros_like(kernel))))
    for slot in optimizer_slots(optimizer, kernel) if optimizer else []:
        slot.assign(tf.where(keep, slot, tf.zeros_like(slot)))
    layer.mask.assign(tf.cast(keep | grow, layer.mask.dtype))
