"""MaskedLayer: a Keras wrapper that multiplies a layer's kernel by a non-trainable 0/1 mask.

Our own wrapper rather than tfmot's `PruneLowMagnitude` (whose mask variables
rigl_tf2 reuses) because tfmot's wrapper (a) updates its mask from a pruning
schedule inside `call` and refuses to train without the `UpdatePruningStep`
callback, which fights a callback that rewires on its own schedule; (b) starts
from an all-ones mask, whereas sparse training starts from a random sparse one;
(c) zeroes the weights in place instead of masking the forward, so gradients of
masked weights are non-zero and momentum can revive them; and (d) accepts only
layers in its registry, not our SpectralConv. `strip` still returns plain Keras
layers, so exported models need nothing from this package.
"""
from __future__ import annotations

import contextlib

import tensorflow as tf
import tf_keras as keras

GRANULARITIES = ("weight", "kernel")


@keras.saving.register_keras_serializable(package="tfcompress")
class MaskedLayer(keras.layers.Wrapper):
    """Wrap a layer with a `kernel` so that its forward uses `kernel * mask`.

    The mask is a non-trainable variable of the kernel's shape, so the
    gradients of masked weights are exactly zero and checkpoints save it.
    `granularity="kernel"` makes the unit of sparsity a whole spatial patch
    (all `kh x kw` weights of one input/output channel pair) of a convolution;
    Dense kernels always use single weights. The initial mask keeps a random
    `density` fraction of units (stateless, from `seed`).
    """

    def __init__(self, layer: keras.layers.Layer, density: float = 1.0, granularity: str = "weight",
                 seed: int = 0, **kwargs):
        if not isinstance(layer, keras.layers.Layer):
            raise ValueError(f"MaskedLayer wraps a Keras layer, got {layer!r}")
        if not 0.0 < density <= 1.0:
            raise ValueError(f"density must be in (0, 1], got {density} (sparsity {1 - density})")
        if granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
        kwargs.setdefault("name", f"masked_{layer.name}")
        super().__init__(layer, **kwargs)
        self.density = float(density)
        self.granularity = granularity
        self.seed = int(seed)
        self.gradient_probe = None  # see `probe_gradients`

    def build(self, input_shape):
        """Build the wrapped layer, then the mask from its kernel's shape."""
        if not self.layer.built:
            self.layer.build(input_shape)
        kernel = getattr(self.layer, "kernel", None)
        if not isinstance(kernel, tf.Variable):
            raise ValueError(f"MaskedLayer needs a layer with a `kernel` variable; "
                             f"{self.layer.name!r} ({type(self.layer).__name__}) has none")
        self.unit_axes = (tuple(range(kernel.shape.rank - 2))
                          if self.granularity == "kernel" and kernel.shape.rank > 2 else ())
        self.mask = self.add_weight(
            "mask", shape=kernel.shape, dtype=kernel.dtype, trainable=False,
            initializer=lambda shape, dtype: self.from_units(
                random_units(self.unit_shape, self.density, [self.seed, 0], dtype)),
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        super().build(input_shape)

    @property
    def kernel(self) -> tf.Variable:
        """The wrapped layer's kernel variable (masked weights are kept at zero)."""
        return self.layer.kernel

    @property
    def unit_shape(self) -> tuple:
        """Shape of the mask at its granularity (spatial axes reduced for `kernel`)."""
        return tuple(1 if axis in self.unit_axes else dim
                     for axis, dim in enumerate(self.layer.kernel.shape))

    def to_units(self, values: tf.Tensor) -> tf.Tensor:
        """Sum `values` over each unit (identity for single-weight units)."""
        if not self.unit_axes:
            return values
        return tf.reduce_sum(values, axis=self.unit_axes, keepdims=True)

    def from_units(self, units: tf.Tensor) -> tf.Tensor:
        """Broadcast per-unit values back to the kernel's shape."""
        return tf.broadcast_to(units, self.layer.kernel.shape)

    def call(self, inputs, *args, **kwargs):
        """The wrapped layer's call with `kernel * mask` (plus the gradient probe, if set)."""
        masked = self.layer.kernel * tf.cast(self.mask, self.layer.kernel.dtype)
        if self.gradient_probe is not None:
            masked = masked + self.gradient_probe
        with _kernel_replaced(self.layer, masked):
            return self.layer(inputs, *args, **kwargs)

    def compute_output_shape(self, input_shape):
        """That of the wrapped layer."""
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        """Config with the wrapped layer, density, granularity and seed."""
        return {**super().get_config(), "density": self.density,
                "granularity": self.granularity, "seed": self.seed}


@contextlib.contextmanager
def _kernel_replaced(layer: keras.layers.Layer, tensor: tf.Tensor):
    """Let `layer.kernel` be `tensor` for one call, without touching variable tracking.

    Keras tracks attributes set on a layer; with tracking paused the swap is a
    plain attribute assignment, so the kernel variable stays the checkpointed one.
    """
    variable = layer.kernel
    layer._self_setattr_tracking = False  # pylint: disable=protected-access
    try:
        layer.kernel = tensor
        yield
    finally:
        layer.kernel = variable
        layer._self_setattr_tracking = True  # pylint: disable=protected-access


def random_units(shape: tuple, density: float, seed, dtype=tf.float32) -> tf.Tensor:
    """A 0/1 tensor of `shape` with exactly round(density * size) ones at random places."""
    size = 1
    for dim in shape:
        size *= int(dim)
    keep = int(round(density * size))
    order = tf.argsort(tf.random.stateless_uniform([size], seed=seed))
    flat = tf.scatter_nd(order[:keep, None], tf.ones([keep], dtype), [size])
    return tf.reshape(flat, shape)


def masked_layers(model: keras.Model) -> list[MaskedLayer]:
    """Every MaskedLayer of `model`, nested models included, in layer order."""
    found = []
    for layer in model.layers:
        if isinstance(layer, MaskedLayer):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(masked_layers(layer))
    return found
