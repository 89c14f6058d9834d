"""Co-activation strengths of a convolution's connections, as one TensorFlow op."""
from __future__ import annotations

import tensorflow as tf

PADDINGS = ("same", "valid")


def normalise_pair(value, what: str) -> tuple[int, int]:
    """An int or a pair of ints >= 1 as a pair (kernel sizes and strides)."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                                 for v in pair):
        raise ValueError(f"{what} must be an int >= 1 or a pair of them, got {value!r}")
    return pair


def normalise_padding(padding: str) -> str:
    """'same' or 'valid' (any case), lower-cased."""
    if not isinstance(padding, str) or padding.lower() not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    return padding.lower()


def binarise(values: tf.Tensor, threshold: float = 0.0) -> tf.Tensor:
    """1.0 where `values > threshold`, else 0.0, in float32 (whatever the compute dtype)."""
    return tf.cast(values > tf.cast(threshold, values.dtype), tf.float32)


def coactivation(x: tf.Tensor, y: tf.Tensor, kernel_size, strides=1, padding: str = "valid",
                 threshold: float = 0.0) -> tf.Tensor:
    """Connection strengths `H[dy, dx, c, f]` of a convolution with input `x` and output `y`.

    `H[dy, dx, c, f]` counts, over the batch and every output position (i, j),
    how often input `x[n, i*sy + dy - pad_top, j*sx + dx - pad_left, c]` and
    output `y[n, i, j, f]` are both above `threshold` (padding never counts).
    That sum is the filter gradient of a convolution whose input is the
    binarised `x` and whose output gradient is the binarised `y`, so it is one
    `tf.nn.conv2d_backprop_filter` call. Shapes: `x` (N, H, W, C), `y`
    (N, H', W', F) as the convolution with `kernel_size`, `strides` and
    `padding` gives it; result (kh, kw, C, F) float32, exact integers while
    each count is below 2**24.
    """
    kh, kw = normalise_pair(kernel_size, "kernel_size")
    sy, sx = normalise_pair(strides, "strides")
    padding = normalise_padding(padding)
    x, y = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
    if x.shape.rank != 4 or y.shape.rank != 4:
        raise ValueError(f"x and y must be (N, H, W, C) tensors, got shapes {x.shape} and "
                         f"{y.shape}")
    # TF 2 exposes this op only as a raw op (tf.nn has no conv2d_backprop_filter).
    return tf.raw_ops.Conv2DBackpropFilter(
        input=binarise(x, threshold), filter_sizes=[kh, kw, x.shape[-1], y.shape[-1]],
        out_backprop=binarise(y, threshold), strides=[1, sy, sx, 1], padding=padding.upper())
