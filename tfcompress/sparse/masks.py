"""MaskedLayer: a Keras wrapper that multiplies a layer's kernel by a non-trainable 0/1 mask.

The masked kernel is the layer's main one (`kernel_attribute`): `kernel` of
Dense/Conv layers and custom layers, `depthwise_kernel` of a depthwise
convolution, `pointwise_kernel` of a separable convolution (the weight
tfmot's prune_registry prunes; the small depthwise kernel stays dense).

Our own wrapper rather than tfmot's `PruneLowMagnitude` (whose mask variables
rigl_tf2 reuses) because tfmot's wrapper (a) updates its mask from a pruning
schedule inside `call` and refuses to train without the `UpdatePruningStep`
callback, which fights a callback that rewires on its own schedule; (b) starts
from an all-ones mask, whereas sparse training starts from a random sparse one;
(c) zeroes the weights in place instead of masking the forward, so gradients of
masked weights are non-zero and momentum can revive them; and (d) masks nothing
in a DepthwiseConv2D (its registry lists no weight for it). `strip` still
returns plain Keras layers, so exported models need nothing from this package.
"""
from __future__ import annotations

import contextlib

import tensorflow as tf
import tf_keras as keras

GRANULARITIES = ("weight", "kernel")
# Where a layer's main kernel lives, first match wins (see the module docstring).
KERNEL_ATTRIBUTES = ("pointwise_kernel", "depthwise_kernel", "kernel")


def kernel_attribute(layer: keras.layers.Layer) -> str | None:
    """The name of `layer`'s main kernel variable (first of KERNEL_ATTRIBUTES it has), or None."""
    for name in KERNEL_ATTRIBUTES:
        if isinstance(getattr(layer, name, None), tf.Variable):
            return name
    return None


@keras.saving.register_keras_serializable(package="tfcompress")
class MaskedLayer(keras.layers.Wrapper):
    """Wrap a layer with a kernel so that its forward uses `kernel * mask`.

    The masked kernel is the layer's `kernel_attribute` (`kernel`,
    `depthwise_kernel` or a separable convolution's `pointwise_kernel`); the
    wrapper's `kernel` property is that variable, whatever its name in the
    layer, whose `call` must read it from that attribute (Keras' layers and
    tfcompress's do). The mask is a non-trainable variable of the kernel's
    shape, so the gradients of masked weights are exactly zero and
    checkpoints save it.
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
        self.kernel_name = None  # the masked attribute of `layer`, known once it is built

    def build(self, input_shape):
        """Build the wrapped layer, then the mask from its kernel's shape."""
        if not self.layer.built:
            self.layer.build(input_shape)
        self.kernel_name = kernel_attribute(self.layer)
        if self.kernel_name is None:
            raise ValueError(f"MaskedLayer needs a layer with a kernel variable (one of "
                             f"{KERNEL_ATTRIBUTES}); {self.layer.name!r} "
                             f"({type(self.layer).__name__}) has none")
        kernel = self.kernel
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
        """The wrapped layer's masked kernel variable (masked weights are kept at zero)."""
        return getattr(self.layer, self.kernel_name)

    @property
    def kernel_initializer(self) -> keras.initializers.Initializer:
        """The wrapped layer's initializer of the masked kernel (`depthwise_initializer`, ...)."""
        prefix = self.kernel_name[:-len("kernel")]
        return getattr(self.layer, f"{prefix or 'kernel_'}initializer")

    @property
    def unit_shape(self) -> tuple:
        """Shape of the mask at its granularity (spatial axes reduced for `kernel`)."""
        return tuple(1 if axis in self.unit_axes else dim
                     for axis, dim in enumerate(self.kernel.shape))

    def to_units(self, values: tf.Tensor) -> tf.Tensor:
        """Sum `values` over each unit (identity for single-weight units)."""
        if not self.unit_axes:
            return values
        return tf.reduce_sum(values, axis=self.unit_axes, keepdims=True)

    def from_units(self, units: tf.Tensor) -> tf.Tensor:
        """Broadcast per-unit values back to the kernel's shape."""
        return tf.broadcast_to(units, self.kernel.shape)

    @property
    def dense_gradient(self) -> tf.Variable | None:
        """dL/d(kernel * mask) of the last training step, masked positions included (summed over
        replicas when read in cross-replica context); None unless `record_gradients` was called."""
        return getattr(self, "_dense_gradient", None)

    def record_gradients(self) -> bool:
        """Keep `dense_gradient` from the next traced training step on; True if newly enabled.

        RigL grows where this dense gradient of the current batch is largest.
        The variable is per replica (the backward pass writes it without any
        communication) and is not a layer weight: transient state, kept out of
        `get_weights`, saved models and checkpoints.
        """
        if self.dense_gradient is not None:
            return False
        variable = tf.Variable(tf.zeros(self.kernel.shape, self.kernel.dtype), trainable=False,
                               name=f"{self.name}_dense_gradient",
                               synchronization=tf.VariableSynchronization.ON_READ,
                               aggregation=tf.VariableAggregation.SUM)
        # object.__setattr__: Keras would otherwise track it as a weight of the layer.
        object.__setattr__(self, "_dense_gradient", variable)
        return True

    def call(self, inputs, *args, **kwargs):
        """The wrapped layer's call with `kernel * mask` (recording its gradient, if asked)."""
        masked = self.kernel * tf.cast(self.mask, self.kernel.dtype)
        if self.dense_gradient is not None:
            masked = _recording_gradient(masked, self.dense_gradient)
        with _kernel_replaced(self.layer, self.kernel_name, masked):
            return self.layer(inputs, *args, **kwargs)

    def compute_output_shape(self, input_shape):
        """That of the wrapped layer."""
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        """Config with the wrapped layer, density, granularity and seed."""
        return {**super().get_config(), "density": self.density,
                "granularity": self.granularity, "seed": self.seed}


def _recording_gradient(tensor: tf.Tensor, variable: tf.Variable) -> tf.Tensor:
    """`tensor`, whose incoming gradient is also written to `variable` in the backward pass."""

    @tf.custom_gradient
    def identity(x):
        def gradient(upstream):
            with tf.control_dependencies([variable.assign(tf.cast(upstream, variable.dtype))]):
                return tf.identity(upstream)

        return tf.identity(x), gradient

    return identity(tensor)


@contextlib.contextmanager
def _kernel_replaced(layer: keras.layers.Layer, name: str, tensor: tf.Tensor):
    """Let `layer.<name>` be `tensor` for one call, without touching variable tracking.

    Keras tracks attributes set on a layer; with tracking paused the swap is a
    plain attribute assignment, so the kernel variable stays the checkpointed one.
    """
    variable = getattr(layer, name)
    layer._self_setattr_tracking = False  # pylint: disable=protected-access
    try:
        setattr(layer, name, tensor)
        yield
    finally:
        setattr(layer, name, variable)
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


def unwrap(layer: keras.layers.Layer) -> tuple[keras.layers.Layer, dict]:
    """The layer inside every mask wrapper around `layer`, and `{weight.ref(): mask}` of what they mask.

    Mask wrappers: MaskedLayer and its subclasses (HebbianSparseConv2D), and
    tfmot's `PruneLowMagnitude`, found by its `pruning_vars` (weight, mask,
    threshold) so that this package need not import tfmot (1.5 s). Where
    wrappers nest (tfmot's around a HebbianSparseConv2D), the masks of one
    weight are multiplied. A layer that is no wrapper comes back as is, with
    no masks.
    """
    masks = {}
    while True:
        if isinstance(layer, MaskedLayer):
            pairs = [(layer.kernel, layer.mask)]
        elif isinstance(layer, keras.layers.Wrapper) and hasattr(layer, "pruning_vars"):
            pairs = [(weight, mask) for weight, mask, _ in layer.pruning_vars]
        else:
            return layer, masks
        for weight, mask in pairs:
            key = weight.ref()
            masks[key] = mask if key not in masks else masks[key] * tf.cast(mask, masks[key].dtype)
        layer = layer.layer


def masked_layers(model: keras.Model) -> list[MaskedLayer]:
    """Every MaskedLayer of `model`, nested models included, in layer order."""
    found = []
    for layer in model.layers:
        if isinstance(layer, MaskedLayer):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(masked_layers(layer))
    return found
