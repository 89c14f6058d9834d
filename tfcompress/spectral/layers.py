"""SpectralConv1D / SpectralConv2D: Keras convolutions computed band-limited in frequency space.

Drop-in for ``keras.layers.Conv1D``/``Conv2D``: the same arguments and defaults
(padding "valid"), a Conv layer's config loads with ``from_config``, and the
same kernel shape (*k, C, F) and initialisers, so ``set_weights`` from a Conv
layer works. Only channels_last, dilation_rate 1 and groups 1 are supported;
other values are errors.
The kept rfft coefficients are fixed at build time (``bands``), so the spatial
input size must be known when the layer is built. Inside the layer everything
runs in float32, also under a mixed-precision policy (inputs are cast in, the
output is cast to the compute dtype).
"""
import functools
import math
from typing import Callable

import tensorflow as tf
import tf_keras as keras

from tfcompress.conv_dropin import check_conv_arguments, int_tuple
from tfcompress.spectral import bands, transforms
from tfcompress.spectral.fft_conv import PADDINGS, SpectralPlan, apply_plan, make_plan
from tfcompress.spectral.plan import check_fft_size
from tfcompress.spectral.op import IMPLEMENTATIONS
from tfcompress.spectral.transform_cost import transform_flops

# The transforms hold no Python control flow on tensors: autograph's conversion of them, when
# Keras converts a layer's call, only costs time (a spectral DenseNet-BC-100 built 3x slower).
_apply_plan = tf.autograph.experimental.do_not_convert(apply_plan)


class _SpectralConv(keras.layers.Layer):
    """Band-limited convolution of spatial rank ``self.rank`` (see SpectralConv2D)."""

    rank: int

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid",
                 data_format: str | None = None, dilation_rate=1, groups: int = 1,
                 activation=None, use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, compress_rate: float = 0.0,
                 preserve_energy: float | None = None, next_power2: bool = False,
                 implementation: str = "auto", fft_size: str = "minimal", **kwargs):
        # Float32 inside the spectral path under any policy: Keras must not cast
        # the inputs (here) or the variables (add_weight) to the compute dtype;
        # call() casts in and out.
        kwargs["autocast"] = False
        super().__init__(**kwargs)
        if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
            raise ValueError(f"filters must be a positive int, got {filters!r}")
        if not isinstance(padding, str) or padding.lower() not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
        check_conv_arguments(type(self).__name__, self.rank, data_format, dilation_rate, groups)
        bands.check_compress_rate(compress_rate)
        check_fft_size(fft_size)
        if preserve_energy is not None:
            bands.check_preserve_energy(preserve_energy)
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, "
                             f"got {implementation!r}")
        self.filters = filters
        self.kernel_size = int_tuple(kernel_size, self.rank, "kernel_size")
        self.strides = int_tuple(strides, self.rank, "strides")
        self.padding = padding.lower()
        self.compress_rate = float(compress_rate)
        self.preserve_energy = None if preserve_energy is None else float(preserve_energy)
        self.next_power2 = bool(next_power2)
        self.fft_size = fft_size
        self.use_bias = bool(use_bias)
        # A plain attribute read when call() is traced: the portable export sets
        # it to "tf" and re-traces so the SavedModel needs no op library.
        self.implementation = implementation
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.plan: SpectralPlan | None = None
        self._rate_variable = None

    def build(self, input_shape) -> None:
        """Create kernel (*k, C, F), bias, the static band and (preserve_energy) the rate variable."""
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank != self.rank + 2 or input_shape[-1] is None:
            raise ValueError(f"{type(self).__name__} expects inputs (batch, {self.rank} spatial "
                             f"axes, channels) with known channels, got shape {input_shape}")
        spatial = tuple(input_shape[1:-1])
        self.plan = self._make_plan(input_shape)
        channels = input_shape[-1]
        self.kernel = self.add_weight(
            "kernel", shape=(*self.kernel_size, channels, self.filters), dtype=tf.float32,
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint, trainable=True, autocast=False)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                "bias", shape=(self.filters,), dtype=tf.float32,
                initializer=self.bias_initializer, regularizer=self.bias_regularizer,
                constraint=self.bias_constraint, trainable=True, autocast=False)
        if self.preserve_energy is not None:
            # Written by every replica in call(); reads average over replicas,
            # as for BatchNormalization's moving statistics.
            self._rate_variable = self.add_weight(
                "compress_rate_reached", shape=(), dtype=tf.float32, initializer="zeros",
                trainable=False, synchronization=tf.VariableSynchronization.ON_READ,
                aggregation=tf.VariableAggregation.MEAN)
        self.input_spec = keras.layers.InputSpec(shape=(None, *spatial, channels))
        super().build(input_shape)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        """Band-limited convolution of ``inputs`` (float, channels_last) in float32."""
        if not inputs.dtype.is_floating:
            raise ValueError(f"{type(self).__name__} needs floating-point inputs, "
                             f"got dtype {inputs.dtype.name}")
        outputs, rate = _apply_plan(tf.cast(inputs, tf.float32), self.kernel, self.plan,
                                    self.implementation, self.preserve_energy)
        if self._rate_variable is not None:
            self._rate_variable.assign(rate)
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, self.bias)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return tf.cast(outputs, self.compute_dtype)

    def set_weights(self, weights) -> None:
        """As ``Layer.set_weights``; with ``preserve_energy`` a Conv layer's weights (without
        the trailing rate-reached variable) are accepted too, so the layer stays a drop-in."""
        weights = list(weights)
        if self._rate_variable is not None and len(weights) == len(self.weights) - 1:
            weights.append(self._rate_variable.numpy())
        super().set_weights(weights)

    def get_prunable_weights(self) -> list[tf.Variable]:
        """The kernel: tfmot's ``PrunableLayer`` protocol (its wrapper checks for this method)."""
        return [self.kernel]

    def compute_output_shape(self, input_shape) -> tf.TensorShape:
        """(batch, *output spatial, filters) for the planned geometry."""
        input_shape = tf.TensorShape(input_shape)
        plan = self._make_plan(input_shape)
        return tf.TensorShape([input_shape[0], *plan.output_shape, self.filters])

    def _make_plan(self, input_shape: tf.TensorShape) -> SpectralPlan:
        """The plan of this layer's arguments for a (batch, *spatial, channels) input shape."""
        return make_plan(tuple(input_shape[1:-1]), self.kernel_size, self.strides, self.padding,
                         self.compress_rate, self.next_power2, fft_size=self.fft_size)

    @property
    def compress_rate_reached(self) -> float | tf.Variable | None:
        """Fraction of rfft coefficients dropped: the band's (a float) or, with
        ``preserve_energy``, a non-trainable variable set by every call; None before build."""
        if self._rate_variable is not None:
            return self._rate_variable
        return None if self.plan is None else self.plan.compress_rate_reached

    def flops(self, input_shape) -> int:
        """Real floating-point operations of one forward pass on ``input_shape`` (batch None -> 1).

        Counted: the forward transform of every (example, input channel) slice
        and the inverse of every (example, output channel) slice, as
        ``transform_cost.transform_flops`` counts them for the plan's transform;
        the kernel's direct DFT at the K coefficients the transform computes, 4
        flops per (tap, input channel, output channel, coefficient) (two real
        multiply-adds); and 8 real flops (4 mul + 4 add) per complex
        multiply-accumulate of the product over the coefficients it computes
        (those K; for the separable transform the band within its box). Padding,
        transposes, gathers and the bias are not counted; with
        ``preserve_energy`` the static band is counted (an upper bound).
        """
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank != self.rank + 2 or input_shape[-1] is None:
            raise ValueError(f"flops needs a (batch, {self.rank} spatial axes, channels) shape, "
                             f"got {input_shape}")
        batch = input_shape[0] or 1
        channels = input_shape[-1]
        plan = self._make_plan(input_shape)
        forward, inverse = transform_flops(plan)
        coefficients = transforms.coefficients(plan).size
        kernel_dft = 4 * math.prod(self.kernel_size) * channels * self.filters * coefficients
        products = 8 * batch * channels * self.filters * transforms.product_coefficients(plan)
        transform = batch * (channels * forward + self.filters * inverse)
        return int(round(transform + kernel_dft + products))

    def get_config(self) -> dict:
        """Constructor arguments, Keras-serialised."""
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": "channels_last",
            "dilation_rate": (1,) * self.rank,
            "groups": 1,
            "compress_rate": self.compress_rate,
            "preserve_energy": self.preserve_energy,
            "next_power2": self.next_power2,
            "fft_size": self.fft_size,
            "use_bias": self.use_bias,
            "implementation": self.implementation,
            "activation": keras.activations.serialize(self.activation),
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": keras.regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
            "bias_constraint": keras.constraints.serialize(self.bias_constraint),
        })
        return config

    @classmethod
    def from_config(cls, config: dict) -> "_SpectralConv":
        """The layer of ``config``: a Conv layer's or a spectral layer's. A spectral config
        saved before ``fft_size`` existed (it has ``compress_rate`` but no ``fft_size``) gets
        "linear", the size it was trained with, so that it computes the same function."""
        if "compress_rate" in config and "fft_size" not in config:
            config = {**config, "fft_size": "linear"}
        return cls(**config)


@keras.saving.register_keras_serializable(package="tfcompress")
class SpectralConv2D(_SpectralConv):
    """2-D convolution in the FFT domain with the highest frequencies dropped.

    How the kept coefficients are computed (FFT, direct or separable DFT as
    GEMMs) is chosen per shape at build time: ``layer.plan.transform``, from the
    cost model of ``tfcompress.spectral.transform_cost``.

    Args:
      filters, kernel_size, strides, padding ("valid" or "same"), use_bias,
        activation, *_initializer, *_regularizer, *_constraint: as
        ``keras.layers.Conv2D``, with its defaults.
      data_format, dilation_rate, groups: accepted so that Conv2D configs load;
        only "channels_last", 1 and 1 are supported (ValueError otherwise).
      compress_rate: fraction r in [0, 1) of the rfft coefficients dropped,
        highest frequencies first (order in ``tfcompress.spectral.bands``);
        r = 0 equals ``tf.nn.conv2d``. The kept set is fixed at build time and
        the product, its FLOPs and the tensors saved for backward scale with 1 - r.
      preserve_energy: percentage p in (0, 100]: per batch, keep only the
        shortest low-frequency prefix (of the ``compress_rate`` band) holding
        p% of the input's spectral energy; ``compress_rate_reached`` is then a
        variable updated by every call.
      next_power2: round the FFT size up to a power of two.
      fft_size: "minimal" (default) or "linear": the FFT grid the convolution
        is computed on, per axis input + max(pad before, pad after) or the
        full linear-convolution size (``tfcompress.spectral.plan``). Both equal
        Conv2D at r = 0; "minimal" has fewer coefficients (faster, less memory).
      implementation: "auto" (the compiled op when loaded), "op" or "tf"
        (``tf.einsum``); read when call() is traced.
    """

    rank = 2


@keras.saving.register_keras_serializable(package="tfcompress")
class SpectralConv1D(_SpectralConv):
    """1-D (time-series) convolution in the FFT domain; arguments as SpectralConv2D, one axis."""

    rank = 1


def conv_factory(rank: int, **spectral_kwargs) -> Callable[..., keras.layers.Layer]:
    """A Conv-signature callable making SpectralConv{rank}D layers with ``spectral_kwargs``.

    The callable takes the Conv layer's arguments (``filters, kernel_size,
    strides=1, padding="valid", ...``), as ``tfcompress.models.build(...,
    conv_layer=...)`` calls it; keywords given there override ``spectral_kwargs``.
    """
    layer_classes = {1: SpectralConv1D, 2: SpectralConv2D}
    if rank not in layer_classes:
        raise ValueError(f"rank must be 1 or 2, got {rank!r}")

    # The layers take the Conv keyword arguments the models pass; later keywords win.
    return functools.partial(layer_classes[rank], **spectral_kwargs)
