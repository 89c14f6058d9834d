"""Hebbian suite: the strength update vs the seed's grouped convolution, and the training step.

Measured in one process on whatever device TensorFlow picks:

(a) ``strength_update``: `tfcompress.hebbian.coactivation` (one
    Conv2DBackpropFilter) against `grouped_conv_strengths`, a TensorFlow port
    of the seed's method, at the seed's shape (a CIFAR batch of 32, 3 -> 6
    channels, 5x5 'valid', 32x32) and at a ResNet layer (64 -> 64, 3x3 'same',
    32x32, batch 32). Both are checked to give the same strengths first. In
    the layer the update runs inside the training step's graph, so each timed
    call adds up the strengths of `Case.updates` distinct batches in one
    `tf.function` (same code for both sides): at the seed's tiny shape, one
    update per call would mostly time the Python-to-graph call itself.
(b) ``train_step``: `accumulate_every` consecutive training steps (forward,
    backward, SGD) of one HebbianSparseConv2D layer, so exactly one of them
    accumulates strengths, against as many steps of a keras Conv2D of the
    same shape, on a squared-error loss (its gradient needs the forward
    output, as any real loss's does). Plus one rewiring, timed on its own (it runs once per
    `rewire_every` steps).
The two sides of each ratio are timed alternately (one call of each per
repeat), so a change in the machine's load hits both. Ratios: (a)
grouped-conv seconds / op seconds (target >= 10); (b) Hebbian / Conv2D
seconds per step (target <= 1.3).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfcompress.benchmarks import SuiteResult, device_name, time_alternately, time_fn
from tfcompress.hebbian import HebbianSparseConv2D, binarise, coactivation

# Most elements the port's (N, H', W', C*F*kh*kw) product may hold at once.
GROUPED_CHUNK_ELEMENTS = 1 << 27


@dataclasses.dataclass(frozen=True)
class Case:
    """One convolution shape (batch, side, in/out channels, kernel, padding); updates per call."""

    label: str
    batch: int
    size: int
    channels: int
    filters: int
    kernel: int
    padding: str
    updates: int

    def describe(self) -> str:
        """Short text for CSV rows and ratio names."""
        return (f"N={self.batch} {self.size}x{self.size} {self.channels}->{self.filters} "
                f"{self.kernel}x{self.kernel} {self.padding}")


FULL = (Case("seed", 32, 32, 3, 6, 5, "valid", updates=16),
        Case("resnet", 32, 32, 64, 64, 3, "same", updates=1))
QUICK = (Case("seed", 2, 8, 3, 6, 5, "valid", updates=2),
         Case("resnet", 2, 6, 4, 4, 3, "same", updates=1))
ACCUMULATE_EVERY = 20


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


def _inputs(case: Case, batches: int = 1) -> tuple[tf.Tensor, tf.Tensor]:
    """`batches` random inputs and the outputs of a random convolution of them, stacked."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((batches, case.batch, case.size, case.size,
                                         case.channels), dtype=np.float32))
    kernel = rng.standard_normal((case.kernel, case.kernel, case.channels, case.filters),
                                 dtype=np.float32)
    return x, tf.stack([tf.nn.conv2d(batch, kernel, 1, case.padding.upper()) for batch in x])


def _row(case: Case, measure: str, variant: str, seconds: float, repeats: int) -> dict:
    return {"case": case.label, "shape": case.describe(), "measure": measure, "variant": variant,
            "seconds": seconds, "repeats": repeats, "device": device_name()}


def _summed(method: Callable, xs: tf.Tensor, ys: tf.Tensor) -> Callable[[], tf.Tensor]:
    """A graph adding up `method(x, y)` over the stacked batches, as the layer accumulates it."""

    batches = list(zip(xs, ys))  # eager slices, captured by the graph as they are

    @tf.function(autograph=False)
    def total():
        return tf.reduce_sum(tf.add_n([method(x, y) for x, y in batches]))

    return total


def strength_update(case: Case, repeats: int, result: SuiteResult) -> None:
    """(a) One strength update: the op vs the grouped-convolution port (checked equal first)."""
    xs, ys = _inputs(case, case.updates)
    methods = {"conv2d_backprop_filter": lambda x, y: coactivation(x, y, case.kernel, 1,
                                                                   case.padding),
               "grouped_conv_port": lambda x, y: grouped_conv_strengths(x, y, case.kernel,
                                                                        case.padding)}
    if not np.array_equal(*(method(xs[0], ys[0]).numpy() for method in methods.values())):
        raise RuntimeError(f"the grouped-convolution port disagrees with coactivation at "
                           f"{case.describe()}")
    totals = {variant: _summed(method, xs, ys) for variant, method in methods.items()}
    seconds = {variant: total / case.updates
               for variant, total in time_alternately(totals, repeats).items()}
    for variant, value in seconds.items():
        result.rows.append(_row(case, "strength_update", variant, value, repeats))
    result.add_ratio(f"(a) strength update speed-up over the grouped-conv port, {case.describe()}",
                     seconds["grouped_conv_port"] / seconds["conv2d_backprop_filter"], ">= 10")


def _steps(layer: keras.layers.Layer, x: tf.Tensor, count: int) -> Callable[[], tf.Tensor]:
    """A no-argument callable running `count` SGD training steps of `layer` on `x`."""
    layer.build(x.shape)
    optimizer = keras.optimizers.SGD(1e-3)
    target = tf.random.stateless_normal(layer.compute_output_shape(x.shape), seed=[0, 1])

    @tf.function
    def steps(x, target):
        # A squared error, whose gradient needs the forward output as real losses do, summed
        # over the steps: with a linear loss and only the last step's value returned, Grappler
        # would drop the other forward passes.
        total = tf.constant(0.0)
        for _ in range(count):
            with tf.GradientTape() as tape:
                loss = 0.5 * tf.reduce_sum(tf.square(layer(x, training=True) - target))
            optimizer.apply_gradients(zip(tape.gradient(loss, layer.trainable_variables),
                                          layer.trainable_variables))
            total += loss
        return total

    return lambda: steps(x, target)


def train_step(case: Case, repeats: int, result: SuiteResult) -> None:
    """(b) Training steps with one strength update per `ACCUMULATE_EVERY`, vs Conv2D; one rewiring."""
    x = _inputs(case)[0][0]
    args = (case.filters, case.kernel)
    kwargs = dict(padding=case.padding, kernel_initializer="he_uniform")
    hebbian = HebbianSparseConv2D(*args, accumulate_every=ACCUMULATE_EVERY, **kwargs)
    layers = {"Conv2D": keras.layers.Conv2D(*args, **kwargs), "HebbianSparseConv2D": hebbian}
    seconds = {variant: total / ACCUMULATE_EVERY for variant, total in time_alternately(
        {variant: _steps(layer, x, ACCUMULATE_EVERY) for variant, layer in layers.items()},
        repeats).items()}
    for variant, value in seconds.items():
        result.rows.append(_row(case, f"train_step (updates every {ACCUMULATE_EVERY})", variant,
                                value, repeats))
    result.add_ratio(f"(b) training step time, HebbianSparseConv2D (update every {ACCUMULATE_EVERY}) "
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
