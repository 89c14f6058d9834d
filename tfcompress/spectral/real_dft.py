"""The band-limited convolution in real arithmetic: separable real DFTs as matmuls with cos/sin tables.

`real_spectral_conv` computes what `fft_conv.apply_plan` computes (without
preserve_energy) with matmuls, gathers and transposes only, no complex
tensors and no FFT op, so TFLite's builtin ops can run it (`export.to_tflite`
traces spectral layers on it through `real_spectral_path`). It is also the
real-valued, band-limited transform formulation: the input's DFT is computed
at all frequencies of the last axis, then only the kept coefficients are
gathered, and the inverse is evaluated at the strided output positions only.
"""
from __future__ import annotations

import contextlib
import functools

import numpy as np
import tensorflow as tf
import tf_keras as keras


@contextlib.contextmanager
def real_spectral_path(layers: list[keras.layers.Layer]):
    """For the duration, every spectral layer of `layers` (one with a `plan`) without
    `preserve_energy` computes on `real_spectral_conv` (builtin TFLite ops); yields the
    spectral layers left on TF ops."""
    spectral = [layer for layer in layers
                if getattr(layer, "plan", None) is not None and hasattr(layer, "implementation")]
    switched = [layer for layer in spectral if getattr(layer, "preserve_energy", None) is None]
    for layer in switched:
        layer.call = functools.partial(_real_spectral_call, layer)  # instance attribute, undone below
    try:
        yield [layer for layer in spectral if layer not in switched]
    finally:
        for layer in switched:
            del layer.call


def _real_spectral_call(layer: keras.layers.Layer, inputs: tf.Tensor) -> tf.Tensor:
    """The layer's `call` on the real-valued path (same bias, activation and dtypes)."""
    outputs = real_spectral_conv(tf.cast(inputs, tf.float32), layer.kernel, layer.plan)
    if layer.use_bias:
        outputs = tf.nn.bias_add(outputs, layer.bias)
    if layer.activation is not None:
        outputs = layer.activation(outputs)
    return tf.cast(outputs, layer.compute_dtype)


def _phases(frequencies: np.ndarray, positions: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of 2 pi f p / length for every (f, p), from the exact integer phase (float32)."""
    cycles = (np.multiply.outer(frequencies, positions) % length) / length
    return np.cos(2 * np.pi * cycles).astype(np.float32), np.sin(2 * np.pi * cycles).astype(np.float32)


def _matmul_last(x: tf.Tensor, table: np.ndarray) -> tf.Tensor:
    """`x` (..., a) times the constant (a, b) table, as one 2-D matmul (TFLite FULLY_CONNECTED)."""
    shape = tf.shape(x)
    y = tf.matmul(tf.reshape(x, [-1, table.shape[0]]), tf.constant(table))
    return tf.reshape(y, tf.concat([shape[:-1], [table.shape[1]]], axis=0))


def real_spectral_conv(x: tf.Tensor, kernel: tf.Tensor, plan) -> tf.Tensor:
    """`fft_conv.apply_plan(x, kernel, plan)` (without preserve_energy) in real arithmetic.

    x (N, *spatial, C) float32, kernel (*k, C, F), rank 1 or 2. The rfft of the zero-padded x is
    a real DFT along the last spatial axis (half spectrum) then, for 2-D, a complex DFT along the
    first, each a matmul with cos/sin tables; the kept coefficients are gathered; the kernel's
    spectrum at them is the direct DFT of `fft_conv.kernel_spectrum` (its 'same' tap shift
    included); `sum_c x * conj(w)` is one batched matmul of [re, im] blocks; the inverse DFTs
    are evaluated at the strided output positions only (the irfft's Hermitian weights 1/2/1).
    """
    rank = len(plan.fft_shape)
    if rank not in (1, 2):
        raise ValueError(f"real_spectral_conv supports 1-D and 2-D plans, got fft_shape {plan.fft_shape}")
    fft, half = plan.fft_shape, plan.fft_shape[-1] // 2 + 1
    channels, filters = kernel.shape[-2], kernel.shape[-1]
    batch = tf.shape(x)[0]
    spatial = x.shape[1:-1]
    # Forward: (N, C, *spatial); real DFT along the last axis -> (.., half).
    xt = tf.transpose(x, [0, rank + 1, *range(1, rank + 1)])
    cos, sin = _phases(np.arange(spatial[-1]), np.arange(half), fft[-1])
    real, imag = _matmul_last(xt, cos), -_matmul_last(xt, sin)
    if rank == 2:  # complex DFT along the first spatial axis, on (N, C, half, H)
        real, imag = (tf.transpose(t, [0, 1, 3, 2]) for t in (real, imag))
        cos, sin = _phases(np.arange(spatial[0]), np.arange(fft[0]), fft[0])
        real, imag = (_matmul_last(real, cos) + _matmul_last(imag, sin),
                      _matmul_last(imag, cos) - _matmul_last(real, sin))
        real, imag = (tf.transpose(t, [0, 1, 3, 2]) for t in (real, imag))  # (N, C, Lh, half)
    real, imag = (tf.gather(tf.reshape(t, [batch, channels, -1]), plan.kept, axis=2)
                  for t in (real, imag))
    # Kernel spectrum at the kept coefficients (fft_conv.kernel_spectrum), (Kk, C, F) each.
    cycles = 0.0
    frequencies = plan.kept_frequencies()
    taps = kernel.shape[:rank]
    for axis in range(rank):
        tap = np.arange(taps[axis]) - plan.pads[axis][0]
        shape = [-1 if a == axis else 1 for a in range(rank)]
        cycles = cycles + (np.multiply.outer(frequencies[axis], tap.reshape(shape)) % fft[axis]) / fft[axis]
    angle = (-2 * np.pi * np.reshape(cycles, [plan.kept.size, -1])).T  # (prod(k), Kk)
    flat = tf.reshape(tf.transpose(kernel, [rank + 1, rank, *range(rank)]), [filters * channels, -1])
    w_re = tf.reshape(tf.matmul(flat, tf.constant(np.cos(angle).astype(np.float32))),
                      [filters, channels, -1])
    w_im = tf.reshape(tf.matmul(flat, tf.constant(np.sin(angle).astype(np.float32))),
                      [filters, channels, -1])
    w_re, w_im = (tf.transpose(t, [2, 1, 0]) for t in (w_re, w_im))
    # y = sum_c x * conj(w): [xr xi] @ [[wr, -wi], [wi, wr]], batched over the kept coefficients.
    blocks = tf.concat([tf.concat([w_re, -w_im], 2), tf.concat([w_im, w_re], 2)], 1)  # (Kk, 2C, 2F)
    xk = tf.transpose(tf.concat([real, imag], 1), [2, 0, 1])  # (Kk, N, 2C)
    yk = tf.transpose(tf.matmul(xk, blocks), [1, 2, 0])  # (N, 2F, Kk)
    # Back to the full half spectrum: dropped coefficients read an appended zero.
    yk = tf.gather(tf.pad(yk, [[0, 0], [0, 0], [0, 1]]), plan.scatter_index, axis=2)
    real, imag = yk[:, :filters], yk[:, filters:]
    outputs = [np.arange(n) * s for n, s in zip(plan.output_shape, plan.strides)]
    if rank == 2:  # inverse complex DFT along the first axis, at the output rows only
        real, imag = (tf.transpose(tf.reshape(t, [batch, filters, fft[0], half]), [0, 1, 3, 2])
                      for t in (real, imag))
        cos, sin = _phases(np.arange(fft[0]), outputs[0], fft[0])
        cos, sin = cos / fft[0], sin / fft[0]
        real, imag = (_matmul_last(real, cos) - _matmul_last(imag, sin),
                      _matmul_last(real, sin) + _matmul_last(imag, cos))
        real, imag = (tf.transpose(t, [0, 1, 3, 2]) for t in (real, imag))  # (N, F, outH, half)
    # Inverse real DFT along the last axis at the output columns: weights 1 (DC, Nyquist) or 2.
    weights = np.full(half, 2.0, np.float32)
    weights[0] = 1.0
    if fft[-1] % 2 == 0:
        weights[-1] = 1.0
    cos, sin = _phases(np.arange(half), outputs[-1], fft[-1])
    scale = (weights / fft[-1])[:, None]
    y = _matmul_last(real, cos * scale) - _matmul_last(imag, sin * scale)  # (N, F, *output)
    return tf.transpose(y, [0, *range(2, rank + 2), 1])
