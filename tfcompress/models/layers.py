"""Shared pieces of the model builders: the swappable convolution, widths, regularisation.

Every builder makes its layers through one `LayerFactory`, so that

* every convolution goes through the `conv_layer` factory that techniques pass
  in (SpectralConv2D, Hebbian or masked convolutions) -- builders never name
  `keras.layers.Conv2D` themselves;
* every hidden channel/unit count is multiplied by `width` the same way
  (FoldedCNNs widen a model by sqrt(fold));
* every conv and dense kernel gets the same L2 weight decay.
"""
from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import tf_keras as keras

# PyTorch BatchNorm defaults (momentum 0.1 of the new value, eps 1e-5), as in the seeds.
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5

_DEFAULT_CONV = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D}


def conv_initializer() -> keras.initializers.Initializer:
    """He initialisation over fan-out, untruncated: the seeds' (PyTorch)
    N(0, sqrt(2 / (kernel_h * kernel_w * out_channels))) for conv kernels."""
    return keras.initializers.VarianceScaling(scale=2.0, mode="fan_out",
                                              distribution="untruncated_normal")


def model_input(model: str, input_shape: Sequence[int], rank: int | None = 3,
                min_size: int = 1) -> Any:
    """Validate `input_shape` (no batch axis) for `model`; return `keras.Input` named "input".

    `rank` is the number of axes expected (3 for images HxWxC, 2 for series TxC,
    None for any); `min_size` the smallest spatial extent the model's
    poolings and 'valid' convolutions can reduce to at least one position.
    """
    if not isinstance(input_shape, (tuple, list)) or not input_shape or not all(
            isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 1
            for d in input_shape):
        raise ValueError(f"{model}: input_shape must be a tuple of positive ints without "
                         f"the batch axis, got {input_shape!r}")
    shape = tuple(int(d) for d in input_shape)
    if rank is not None and len(shape) != rank:
        expected = {3: "(height, width, channels)", 2: "(steps, channels)"}[rank]
        raise ValueError(f"{model}: input_shape must be {expected} ({rank} axes), "
                         f"got {input_shape!r}")
    spatial = shape[:-1] if rank is not None else ()
    if any(d < min_size for d in spatial):
        raise ValueError(f"{model}: input_shape {input_shape!r} is too small for the model's "
                         f"poolings/strides: every spatial axis must be >= {min_size}")
    return keras.Input(shape, name="input")


def check_int(model: str, arg: str, value, minimum: int = 1) -> None:
    """Raise ValueError unless `value` (the `arg` keyword of `model`) is an int >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{model}: {arg} must be an int >= {minimum}, got {value!r}")


def check_rate(model: str, arg: str, value) -> None:
    """Raise ValueError unless `value` (a dropout rate) is a number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{model}: {arg} must be a number in [0, 1), got {value!r}")


class LayerFactory:
    """Makes the layers of one model with a given conv factory, width and weight decay.

    `conv_layer(filters, kernel_size, strides=..., padding=..., use_bias=...,
    kernel_initializer=..., kernel_regularizer=..., name=...)` is called for every
    convolution; None means `keras.layers.Conv1D`/`Conv2D` (by `rank`).
    `weight_decay` is PyTorch's SGD `weight_decay` (gradient += wd * w): since
    `keras.regularizers.l2(c)` adds c * sum(w^2) to the loss, whose gradient is
    2c * w, the kernels get `l2(weight_decay / 2)`.
    """

    def __init__(self, conv_layer: Callable[..., keras.layers.Layer] | None = None,
                 width: float = 1.0, weight_decay: float = 0.0, rank: int = 2):
        if conv_layer is not None and not callable(conv_layer):
            raise TypeError(f"conv_layer must be a callable returning a Keras layer, "
                            f"got {conv_layer!r}")
        if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
            raise ValueError(f"width must be a number > 0, got {width!r}")
        if (isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float))
                or not weight_decay >= 0):
            raise ValueError(f"weight_decay must be a number >= 0, got {weight_decay!r}")
        self.conv_layer = conv_layer or _DEFAULT_CONV[rank]
        self.width = float(width)
        self.regularizer = keras.regularizers.l2(weight_decay / 2) if weight_decay else None

    def units(self, n: int) -> int:
        """Channel/unit count `n` of a hidden layer scaled by `width` (rounded, >= 1)."""
        return max(1, round(n * self.width))

    def conv(self, x, filters: int, kernel_size: int, name: str, strides: int = 1,
             padding: str = "same", use_bias: bool = False):
        """Apply a convolution made by the conv factory."""
        layer = self.conv_layer(filters, kernel_size, strides=strides, padding=padding,
                                use_bias=use_bias,
                                kernel_initializer=conv_initializer(),
                                kernel_regularizer=self.regularizer, name=name)
        return layer(x)

    def batch_norm(self, x, name: str, dtype: str | None = None):
        """BatchNormalization over the channel axis with the seeds' PyTorch defaults."""
        return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
                                               name=name, dtype=dtype)(x)

    def conv_bn(self, x, filters: int, kernel_size: int, name: str, strides: int = 1,
                padding: str = "same", relu: bool = True):
        """Conv (no bias) -> BatchNorm -> optional ReLU, layers named `name`_conv/_bn/_relu."""
        x = self.conv(x, filters, kernel_size, f"{name}_conv", strides, padding)
        x = self.batch_norm(x, f"{name}_bn")
        return keras.layers.ReLU(name=f"{name}_relu")(x) if relu else x

    def bn_relu(self, x, name: str):
        """BatchNorm -> ReLU (pre-activation), layers named `name`_bn/_relu."""
        x = self.batch_norm(x, f"{name}_bn")
        return keras.layers.ReLU(name=f"{name}_relu")(x)

    def dense(self, x, units: int, name: str, activation: str | None = None,
              use_bias: bool = True, dtype: str | None = None):
        """A Dense layer with the model's kernel regulariser."""
        return keras.layers.Dense(units, activation=activation, use_bias=use_bias,
                                  kernel_regularizer=self.regularizer, name=name,
                                  dtype=dtype)(x)

    def logits(self, x, num_classes: int, use_bias: bool = True):
        """The classifier head "logits": a Dense layer with `num_classes` linear outputs.

        It computes in float32 whatever the global dtype policy, as Keras' mixed
        precision guide asks of a model's outputs.
        """
        if (isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral)
                or num_classes < 1):
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        return self.dense(x, int(num_classes), "logits", use_bias=use_bias, dtype="float32")
