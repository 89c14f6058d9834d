"""Hebbian suite: the strength update vs the seed's grouped convolution, and the training step.

Measured in one process on whatever device TensorFlow picks:

(a) ``strength_update``: `tfcompress.hebbian.coactivation` (one
    Conv2DBackpropFilter) against `grouped_conv_strengths`, a TensorFlow port
    of the seed's method, at the seed's shape (a CIFAR batch of 32, 3 -> 6
    channels, 5x5 'valid', 32x32) and at a ResNet layer (64 -> 64, 3x3 'same',
    32x32, batch 32). Both are checked to give the same strengths first.
(b) ``train_step``: `update_every` consecutive training steps (forward,
    backward, SGD) of one HebbianSparseConv2D layer, so exactly one of them
    accumulates strengths, against as many steps of a keras Conv2D of the
    same shape; plus one rewiring, timed on its own (it runs once per
    `rewire_every` steps).
Ratios: (a) grouped-conv seconds / op seconds (target >= 10); (b) Hebbian /
Conv2D seconds per step (target <= 1.3).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfcompress.benchmarks import SuiteResult, device_name, time_fn
from tfcompress.hebbian import HebbianSparseConv2D, binarise, coactivation

# Most elements the port's (N, H', W', C*F*kh*kw) product may hold at once.
GROUPED_CHUNK_ELEMENTS = 1 << 27


@dataclasses.dataclass(frozen=True)
class Case:
    """One convolution shape: batch, side, in/out channels, kernel, padding."""

    label: str
    batch: int
    size: int
    channels: int
    filters: int
    kernel: int
    padding: str

    def describe(self) -> str:
        """Short text for CSV rows and ratio names."""
        return (f"N={self.batch} {self.size}x{self.size} {self.channels}->{self.filters} "
                f"{self.kernel}x{self.kernel} {self.padding}")


FULL = (Case("seed", 32, 32, 3, 6, 5, "valid"), Case("resnet", 32, 32, 64, 64, 3, "same"))
QUICK = (Case("seed", 2, 8, 3, 6, 5, "valid"), Case("resnet", 2, 6, 4, 4, 3, "same"))
UPDATE_EVERY = 20


def grouped_conv_strengths(x: tf.Tensor, y: tf.Tensor, kernel_size: int, padding: str) -> tf.Tensor:
    """TF port of the seed's strength update (stride 1): a grouped convolution of unit kernels.

    The seed repeats the binarised input once per output channel (C*F
    channels), runs a convolution with C*F groups whose kernels are
    single-unit (one-hot) kernels, one per window position, so that output
    channel ((c*F + f)*kh*kw + k) holds input c under window position k at
    every output position; multiplies that by the binarised output of channel
    f and sums over batch and positions. A grouped convolution with one input
    channel per group is a depthwise convolution here. Batches are processed
    in chunks so that the (N, H', W', C*F*kh*kw) product fits in memory (its
    time is linear in the batch either way). Returns (kh, kw, C, F).
    """
    xb, yb = binarise(x), binarise(y)
    channels, filters, window = xb.shape[-1], yb.shape[-1], kernel_size * kernel_size
    unit_kernels = tf.tile(tf.reshape(tf.eye(window), [kernel_size, kernel_size, 1, window]),
                           [1, 1, channels * filters, 1])
    positions = int(np.prod(yb.shape[1:3]))
    chunk = max(1, GROUPED_CHUNK_ELEMENTS // (positions * channels * filters * window))
    total = tf.zeros([channels, filters, window])
    for start in range(0, xb.shape[0], chunk):
        repeated = tf.repeat(xb[start:start + chunk], filters, axis=-1)  # channel c*F + f
        patches = tf.nn.depthwise_conv2d(repeated, unit_kernels, [1, 1, 1, 1], padding.upper())
        patches = tf.reshape(patches, [-1, positions, channels, filters, window])
        outputs = tf.reshape(yb[start:start + chunk], [-1, positions, 1, filters, 1])
        total += tf.reduce_sum(patches * outputs, axis=[0, 1])
    return tf.reshape(tf.transpose(total, [2, 0, 1]), [kernel_size, kernel_size, channels, filters])


def _inputs(case: Case) -> tuple[tf.Tensor, tf.Tensor]:
    """A random input and the output of a random convolution of it."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((case.batch, case.size, case.size, case.channels),
                                        dtype=np.float32))
    kernel = rng.standard_normal((case.kernel, case.kernel, case.channels, case.filters),
                                 dtype=np.float32)
    return x, tf.nn.conv2d(x, kernel, 1, case.padding.upper())


def _row(case: Case, measure: str, variant: str, seconds: float, repeats: int) -> dict:
    return {"case": case.label, "shape": case.describe(), "measure": measure, "variant": variant,
            "seconds": seconds, "repeats": repeats, "device": device_name()}


def strength_update(case: Case, repeats: int, result: SuiteResult) -> None:
    """(a) One strength update: the op vs the grouped-convolution port (checked equal first)."""
    x, y = _inputs(case)
    op = tf.function(lambda x, y: coactivation(x, y, case.kernel, 1, case.padding))
    port = tf.function(lambda x, y: grouped_conv_strengths(x, y, case.kernel, case.padding))
    if not np.array_equal(op(x, y).numpy(), port(x, y).numpy()):
        raise RuntimeError(f"the grouped-convolution port disagrees with coactivation at "
                             f"{case.describe()}")
    seconds = {}
    for variant, fn in (("conv2d_backprop_filter", op), ("grouped_conv_port", port)):
        seconds[variant] = time_fn(lambda: tf.reduce_sum(fn(x, y)), repeats)
        result.rows.append(_row(case, "strength_update", variant, seconds[variant], repeats))
    result.add_ratio(f"(a) strength update speed-up over the grouped-conv port, {case.describe()}",
                     seconds["grouped_conv_port"] / seconds["conv2d_backprop_filter"], ">= 10")


def _steps(layer: keras.layers.Layer, x: tf.Tensor, count: int):
    """A no-argument callable running `count` SGD training steps of `layer` on `x`."""
    layer.build(x.shape)
    optimizer = keras.optimizers.SGD(1e-3)
    cotangent = tf.random.stateless_normal(layer.compute_output_shape(x.shape), seed=[0, 1])

    @tf.function
    def steps(x, cotangent):
        loss = tf.constant(0.0)
        for _ in range(count):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(layer(x, training=True) * cotangent)
            optimizer.apply_gradients(zip(tape.gradient(loss, layer.trainable_variables),
                                          layer.trainable_variables))
        return loss

    return lambda: steps(x, cotangent)


def train_step(case: Case, repeats: int, result: SuiteResult) -> None:
    """(b) Training steps with one strength update per `UPDATE_EVERY`, vs Conv2D; one rewiring."""
    x, _ = _inputs(case)
    args = (case.filters, case.kernel)
    kwargs = dict(padding=case.padding, kernel_initializer="he_uniform")
    hebbian = HebbianSparseConv2D(*args, update_every=UPDATE_EVERY, **kwargs)
    seconds = {}
    for variant, layer in (("Conv2D", keras.layers.Conv2D(*args, **kwargs)),
                           ("HebbianSparseConv2D", hebbian)):
        seconds[variant] = time_fn(_steps(layer, x, UPDATE_EVERY), repeats) / UPDATE_EVERY
        result.rows.append(_row(case, f"train_step (updates every {UPDATE_EVERY})", variant,
                                seconds[variant], repeats))
    result.add_ratio(f"(b) training step time, HebbianSparseConv2D (update every {UPDATE_EVERY}) "
                     f"/ Conv2D, {case.describe()}",
                     seconds["HebbianSparseConv2D"] / seconds["Conv2D"], "<= 1.3")
    rewire = time_fn(lambda: hebbian.rewire() or hebbian.mask[0, 0, 0, 0], repeats)
    result.rows.append(_row(case, "rewire", "HebbianSparseConv2D", rewire, repeats))
    result.notes.append(f"(b) one rewiring at {case.describe()}: {rewire * 1e3:.2f} ms "
                        f"({rewire / seconds['Conv2D']:.1f} dense steps)")


def run(quick: bool = False, repeats: int = 5) -> SuiteResult:
    """Run (a) and (b) at full or quick sizes; rows and ratios for ``bin/benchmark.py``."""
    result = SuiteResult()
    for case in QUICK if quick else FULL:
        strength_update(case, repeats, result)
        train_step(case, repeats, result)
    return result
