"""HebbianSparseConv2D: a convolution rewired by the co-activation of its inputs and outputs.

The connection mask is the sparse package's (`MaskedLayer`: forward with
`kernel * mask`, mask a non-trainable variable), so `tfcompress.sparse.stats`
and `strip` work on these layers too. What this layer adds:

- in training calls, every `accumulate_every`-th call adds `coactivation(x, y)` of
  its binarised input and output to `strengths`, under a `tf.cond`, so other
  steps cost one counter increment;
- `rewire()`: per (c, f) kernel slice, the strongest `k1` connections keep
  their weights, ranks `k1..k2` are re-initialised from the kernel initializer,
  the rest are disconnected (weight and optimizer slots zeroed), through the
  sparse methods' own apply path (`tfcompress.sparse.rewiring`); strengths
  reset. The `HebbianRewiring` callback calls it every `rewire_every` steps;
  a layer trained past a due rewiring without it prints a warning (once).

Why rewiring is a callback and not part of `call`: under `tf.distribute`,
writing a mirrored variable (kernel, mask) from replica context is a
synchronisation point, and TensorFlow refuses synchronisation points inside
`tf.cond`. So the per-step work touches only per-replica (`ON_READ`)
variables: the call counter and the strengths (`SUM` aggregation, so reading
them in cross-replica context adds the replicas' counts without any per-step
communication). The rewiring runs in cross-replica context, from those
summed strengths and stateless draws, so every replica and worker gets the
same mask and weights.
"""
from __future__ import annotations

import functools
import math
import sys
import zlib
from collections.abc import Callable

import tensorflow as tf
import tf_keras as keras

from tfcompress.conv_dropin import check_conv_arguments
from tfcompress.hebbian.coactivation import coactivation, normalise_padding
from tfcompress.sparse.masks import MaskedLayer
from tfcompress.sparse.rewiring import NEW_WEIGHTS_DRAW, apply_rewiring, stateless_seed

# Conv2D arguments this layer forwards to (and serialises from) its inner Conv2D.
CONV_ARGUMENTS = ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
                  "groups", "activation", "use_bias", "kernel_initializer", "bias_initializer",
                  "kernel_regularizer", "bias_regularizer", "activity_regularizer",
                  "kernel_constraint", "bias_constraint")
# Fractions are turned into counts with ceil(fraction * n - EPSILON), so 0.15 * 20 stays 3.
EPSILON = 1e-9


def slice_counts(slice_size: int, k1: float, k2: float) -> tuple[int, int]:
    """(connections kept, connections kept + re-initialised) per slice of `slice_size` weights.

    Each is the smallest count holding at least that fraction of the slice:
    `ceil(k * slice_size)`, so a 3x3 slice keeps 1 and re-initialises 1 at the
    defaults (k1 = 0.10, k2 = 0.15), a 5x5 slice keeps 3 and re-initialises 1.
    """
    return (math.ceil(k1 * slice_size - EPSILON), math.ceil(k2 * slice_size - EPSILON))


def slice_ranks(strengths: tf.Tensor) -> tf.Tensor:
    """Rank (0 = strongest) of every weight within its (c, f) slice of a (kh, kw, C, F) tensor.

    Ties go to the lower flat (dy, dx) index (row-major over the kernel window).
    """
    kh, kw, channels, filters = strengths.shape
    per_slice = tf.transpose(tf.reshape(strengths, [kh * kw, channels * filters]))
    # tf.argsort DESCENDING runs on top_k, which orders equal values by index.
    order = tf.argsort(per_slice, axis=-1, direction="DESCENDING", stable=True)
    ranks = tf.argsort(order, axis=-1, stable=True)
    return tf.reshape(tf.transpose(ranks), [kh, kw, channels, filters])


def _check_fractions(k1: float, k2: float) -> None:
    if not all(isinstance(k, (int, float)) and not isinstance(k, bool) for k in (k1, k2)) or \
            not 0.0 < k1 <= k2 <= 1.0:
        raise ValueError(f"need 0 < k1 <= k2 <= 1, got k1={k1!r}, k2={k2!r}")


def _check_period(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


@keras.saving.register_keras_serializable(package="tfcompress")
class HebbianSparseConv2D(MaskedLayer):
    """A sparse Conv2D (channels_last) whose connections follow input/output co-activation.

    Arguments and defaults as `keras.layers.Conv2D` (a Conv2D config loads with
    `from_config`; only channels_last, dilation_rate 1 and groups 1), plus:
    `k1`, `k2`: fractions of each (c, f) kernel slice kept and kept +
    re-initialised at a rewiring (`slice_counts`), 0 < k1 <= k2 <= 1;
    `accumulate_every`: strengths are accumulated on every `accumulate_every`-th
    training call; `rewire_every` (default 10 * accumulate_every): training steps
    between rewirings, done by the `HebbianRewiring` callback;
    `threshold`: input and output (after `activation`; the seed's
    sigmoid(y) > 0.5 is y > 0, with no activation) count as active where
    `> threshold`; `seed`: of the re-initialising draws. The layer starts
    dense (mask of ones); each rewiring leaves `slice_counts(kh * kw, k1, k2)[1]`
    connections per slice. Re-initialised connections are drawn from
    `kernel_initializer` (Conv2D's default, glorot_uniform); in ReLU networks
    "he_uniform" recovers faster from each rewiring.
    """

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid",
                 data_format: str | None = None, dilation_rate=1, groups: int = 1,
                 activation=None, use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 k1: float = 0.10, k2: float = 0.15, accumulate_every: int = 20,
                 rewire_every: int | None = None, threshold: float = 0.0, seed: int = 0,
                 **kwargs):
        _check_fractions(k1, k2)
        check_conv_arguments(type(self).__name__, 2, data_format, dilation_rate, groups)
        self.accumulate_every = _check_period("accumulate_every", accumulate_every, 1)
        self.rewire_every = _check_period(
            "rewire_every", 10 * self.accumulate_every if rewire_every is None else rewire_every,
            self.accumulate_every)
        conv = keras.layers.Conv2D(filters, kernel_size, strides=strides,
                                   padding=normalise_padding(padding), activation=activation,
                                   use_bias=use_bias, kernel_initializer=kernel_initializer,
                                   bias_initializer=bias_initializer,
                                   kernel_regularizer=kernel_regularizer,
                                   bias_regularizer=bias_regularizer,
                                   activity_regularizer=activity_regularizer,
                                   kernel_constraint=kernel_constraint,
                                   bias_constraint=bias_constraint,
                                   name=kwargs.get("name"), dtype=kwargs.get("dtype"))
        kwargs["name"] = kwargs.get("name") or f"hebbian_{conv.name}"
        super().__init__(conv, density=1.0, granularity="weight", seed=seed, **kwargs)
        self.k1, self.k2 = float(k1), float(k2)
        self.threshold = float(threshold)
        kh, kw = conv.kernel_size
        self.counts = slice_counts(kh * kw, self.k1, self.k2)

    def build(self, input_shape):
        """The masked Conv2D, then the call counter, strengths and rewiring counter."""
        super().build(input_shape)
        per_replica = tf.VariableSynchronization.ON_READ
        self.step = self.add_weight("step", shape=(), dtype=tf.int64, initializer="zeros",
                                    trainable=False, synchronization=per_replica,
                                    aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.strengths = self.add_weight("strengths", shape=self.kernel.shape, dtype=tf.float32,
                                         initializer="zeros", trainable=False,
                                         synchronization=per_replica,
                                         aggregation=tf.VariableAggregation.SUM)
        self.rewires = self.add_weight("rewires", shape=(), dtype=tf.int64, initializer="zeros",
                                       trainable=False,
                                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

    def call(self, inputs, training=None):
        """Masked convolution; in training, count co-activations every `accumulate_every` calls."""
        outputs = super().call(inputs)
        if training is not None and training is not False:
            active = tf.cast(training, tf.bool)
            step = self.step.assign_add(tf.cast(active, tf.int64))

            # The branch reads the layer's own input and output: both are computed for the
            # training step anyway, so a strength update costs one Conv2DBackpropFilter (and
            # the binarising compares). They enter the branch through stop_gradient, so no
            # GradientTape records the cond (cond_v2 would then return its intermediates for
            # the backward pass, as zeros from the other branch).
            x, y = tf.stop_gradient(inputs), tf.stop_gradient(outputs)

            def accumulate():
                self.strengths.assign_add(coactivation(
                    x, y, self.layer.kernel_size, self.layer.strides, self.layer.padding,
                    self.threshold))
                self._warn_if_not_rewired(step)
                return tf.constant(True)

            tf.cond(tf.logical_and(active, step % self.accumulate_every == 0), accumulate,
                    lambda: tf.constant(False))
        return outputs

    def _warn_if_not_rewired(self, step: tf.Tensor) -> None:
        """Print a warning (stderr) if a rewiring was due before `step` and none ran.

        Checked at strength updates only (no cost on other steps), and printed
        once: at the first update after the first missed rewiring.
        """
        rewires = tf.convert_to_tensor(self.rewires)
        missed = tf.logical_and((step - 1) // self.rewire_every > rewires,
                                (step - 1 - self.accumulate_every) // self.rewire_every <= rewires)

        def warn():
            tf.print(f"WARNING: HebbianSparseConv2D {self.name!r} is at training step", step,
                     "but has not been rewired since step", rewires * self.rewire_every,
                     f"(rewire_every={self.rewire_every}): its connections only change when "
                     f"tfcompress.hebbian.HebbianRewiring() is among model.fit's callbacks "
                     f"(bin/train.py --conv=hebbian adds it) or layer.rewire() is called when "
                     f"layer.due().", output_stream=sys.stderr)
            return tf.constant(True)

        tf.cond(missed, warn, lambda: tf.constant(False))

    def get_prunable_weights(self) -> list[tf.Variable]:
        """The conv kernel: tfmot's `PrunableLayer` protocol (its wrapper checks for this method)."""
        return [self.kernel]

    def due(self) -> bool:
        """Whether a rewiring is due: `rewire_every` more steps have passed since the last one."""
        return int(self.step.numpy()) // self.rewire_every > int(self.rewires.numpy())

    def rewire(self, optimizer: keras.optimizers.Optimizer | None = None) -> None:
        """Keep the top k1 of each slice by strength, re-initialise ranks k1..k2, cut the rest.

        Call it eagerly, in cross-replica context under a strategy (as
        `HebbianRewiring` does). Slots of `optimizer` (momentum, ...) are
        zeroed except for kept weights; strengths restart from zero. The
        re-initialising draw is seeded by `seed`, the layer's name and the
        rewiring count, so replicas, workers and resumed runs agree.
        """
        kept, connected = self.counts
        ranks = slice_ranks(tf.convert_to_tensor(self.strengths))
        count = int(self.step.numpy()) // self.rewire_every
        seed = stateless_seed(self.seed, zlib.crc32(self.name.encode()) % (1 << 20), NEW_WEIGHTS_DRAW,
                              count)
        apply_rewiring(self, ranks < kept, (ranks >= kept) & (ranks < connected), optimizer, seed)
        self.strengths.assign(tf.zeros_like(self.strengths))
        self.rewires.assign(count)

    def get_config(self):
        """Conv2D arguments and the Hebbian ones (not the wrapped layer: it is made from these)."""
        conv = self.layer.get_config()
        # keras.layers.Layer's own config (name, trainable, dtype), not Wrapper's nested one.
        return {**keras.layers.Layer.get_config(self),
                **{key: conv[key] for key in CONV_ARGUMENTS},
                "k1": self.k1, "k2": self.k2, "accumulate_every": self.accumulate_every,
                "rewire_every": self.rewire_every, "threshold": self.threshold, "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        """The layer from `get_config`'s dictionary (also one saved with `update_every`, the
        former name of `accumulate_every`)."""
        config = dict(config)
        if "update_every" in config:
            config["accumulate_every"] = config.pop("update_every")
        return cls(**config)


def conv_factory(**hebbian_kwargs) -> Callable[..., HebbianSparseConv2D]:
    """A Conv2D-signature callable making HebbianSparseConv2D layers with `hebbian_kwargs`.

    For `tfcompress.models.build(..., conv_layer=conv_factory(k1=0.1, k2=0.15))`;
    keyword arguments given by the model override `hebbian_kwargs`.
    """

    # The layer takes the Conv2D keyword arguments the models pass; later keywords win.
    return functools.partial(HebbianSparseConv2D, **hebbian_kwargs)
