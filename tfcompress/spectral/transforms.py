"""Transforms between a layer's input/output and its kept spectrum: FFT, direct or separable DFT.

All three compute the same linear maps (to float32 rounding): the rfft of the
input, zero-padded to the plan's FFT size, at a set of coefficients, and from
the product's spectrum back to the cropped, strided output (the irfft read at
the output positions only). They differ in what they cost:

- ``fft``: transpose to channels-first, ``rfft``/``rfft2d`` of the whole padded
  grid, gather of the kept coefficients into a complex (N, C, K) spectrum for
  ``spectral_mul``; back: scatter into a zero spectrum, ``irfft``, crop and
  stride, transpose. Cost ~ L log L per channel slice, whatever the band: the
  choice for long 1-D signals.
- ``direct``: one GEMM per direction against a (kept coefficients x positions)
  cos/sin table, channels-last, no transpose: the table, rows (k, re/im), times
  every image's (P, C) gives the planar spectrum (N, K, 2, 1, C); the inverse
  table, columns (k, re/im), times every image's (2K, F) gives (N, P_out, F).
  Of each conjugate pair (fy, -fy) in the fx = 0 and Nyquist columns only one
  member is computed and the inverse counts it twice. Cost P x K per slice: the
  choice for small grids.
- ``separable`` (2-D): a real DFT along the width to the kept columns
  ``fx < Nx`` ((2Nx, W) times every (W, C) row of the channels-last input), then
  a complex DFT along the height to the kept rows only (per image, (2Ny, 2H)
  times (2H, Nx C), contracting (row, re/im) jointly), which writes the planar
  spectrum (N, Ny, 2, Nx, C). The product runs over the band within that box
  of kept rows x kept columns (``band_columns``), the rest is zero; the
  inverse reads the kept rows at the output rows, then the columns at the
  output columns, ending channels-last. Cost ~ (H + W) x band per slice: the
  choice for larger grids.

Direct and separable write the planar channels-last spectrum that
``spectral_mul_planar`` reads, re and im in two planes, so no pass transposes
between NHWC and a channels-first spectrum or packs complex numbers. Every
table is built in the graph from the small integer frequency and position
vectors (exact integer phases modulo the period), so SavedModels carry no
large constants; TensorFlow's constant folding evaluates them once. Gradients
are TensorFlow's autodiff through these matmuls, i.e. those of the
band-limited function; the tables are constants, so what backward keeps from
the transforms is nothing but the band (or the box).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf

from tfcompress.spectral import bands

if TYPE_CHECKING:
    from tfcompress.spectral.plan import SpectralPlan


def _cycles(a: np.ndarray, b: np.ndarray, length: int) -> tf.Tensor:
    """(len(a), len(b)) float32 phases ((a * b) mod length) / length, exact integer products."""
    a, b = (tf.constant(np.asarray(v, np.int64)) for v in (a, b))
    product = a[:, None] * b[None]
    return tf.cast(product % length, tf.float32) / float(length)


def _turn(cycles: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """cos and sin of 2 pi * cycles."""
    angle = (2.0 * math.pi) * cycles
    return tf.cos(angle), tf.sin(angle)


def _interleave(real: tf.Tensor, imag: tf.Tensor) -> tf.Tensor:
    """(a, 2b) table whose columns alternate ``real`` and ``imag`` (each (a, b)): a GEMM with it
    writes (re, im) pairs, the memory layout of complex64."""
    return tf.reshape(tf.stack([real, imag], -1), [real.shape[0], -1])


def _rotation(cos: tf.Tensor, sin: tf.Tensor) -> tf.Tensor:
    """(2a, 2b) real matrix, rows (a, re/im), columns (b, re/im), of the complex e^{i theta[a, b]}:
    times a column of (re, im) pairs it is z -> sum_b e^{i theta} z_b; a row of pairs times it
    is z -> sum_a e^{-i theta} z_a (the transpose of a rotation is the opposite rotation)."""
    rows = tf.stack([tf.stack([cos, -sin], -1), tf.stack([sin, cos], -1)], 1)
    return tf.reshape(rows, [2 * cos.shape[0], 2 * cos.shape[1]])


@tf.custom_gradient
def as_complex(pairs: tf.Tensor) -> tf.Tensor:
    """Float32 (..., 2) (re, im) pairs viewed as complex64 (...), without a copy (Bitcast).

    Hand-written because Bitcast has no registered gradient; the gradient is
    tf.complex's (real and imaginary parts of the incoming gradient), viewed back.
    """
    return tf.bitcast(pairs, tf.complex64), lambda grad: tf.bitcast(grad, tf.float32)


def _inverse_weights(frequencies: np.ndarray, length: int) -> np.ndarray:
    """irfft weight of each last-axis frequency: 1 at DC and Nyquist, 2 elsewhere (float32)."""
    frequencies = np.asarray(frequencies)
    return np.where((frequencies == 0) | (2 * frequencies == length), 1.0, 2.0).astype(np.float32)


def coefficients(plan: SpectralPlan) -> np.ndarray:
    """Flattened rfft indices of the spectrum ``plan.transform`` computes, in its order: the
    kept set for fft; for direct, the kept set less the second member of every conjugate
    pair (see ``_direct_weights``); the box of kept rows x columns (row-major) for separable."""
    if plan.transform == "fft":
        return plan.kept
    if plan.transform == "direct":
        return plan.kept[bands.conjugate_partner(plan.fft_shape)[plan.kept] >= plan.kept]
    rows, width = separable_box(plan)
    return (rows[:, None] * (plan.fft_shape[1] // 2 + 1) + np.arange(width)[None]).ravel()


def separable_box(plan: SpectralPlan) -> tuple[np.ndarray, int]:
    """The kept rows (unsigned fy, ascending) and the number of kept columns (fx < width)."""
    fy, fx = plan.kept_frequencies()
    return np.unique(fy), int(fx.max()) + 1


def is_planar(plan: SpectralPlan) -> bool:
    """Whether ``plan``'s transform writes a planar channels-last spectrum (N, P, 2, Q, C)
    for ``op.spectral_mul_planar`` (direct and separable) rather than a complex (N, C, K)
    one for ``spectral_mul`` (fft)."""
    return plan.transform != "fft"


def planar_box(plan: SpectralPlan) -> tuple[int, int]:
    """(P, Q) of a planar plan's spectrum: the separable box's rows x columns; K x 1 for the
    direct DFT's list of coefficients."""
    if plan.transform == "direct":
        return coefficients(plan).size, 1
    rows, columns = separable_box(plan)
    return rows.size, columns


def band_columns(plan: SpectralPlan) -> np.ndarray:
    """Per row of a planar plan's spectrum (``planar_box``), how many leading columns hold
    kept coefficients (int32): the band ``spectral_mul_planar`` computes. For the separable
    box and its half-disk band it skips the box's corners (a quarter of the box at r = 0.5,
    32x32); the direct DFT computes only band coefficients (one per row)."""
    if plan.transform == "direct":
        return np.ones(coefficients(plan).size, np.int32)
    fy, fx = plan.kept_frequencies()
    rows, _ = separable_box(plan)
    last = np.zeros(rows.size, np.int32)
    np.maximum.at(last, np.searchsorted(rows, fy), fx.astype(np.int32) + 1)
    return last


def band_coefficients(plan: SpectralPlan) -> np.ndarray:
    """Flattened rfft indices of the coefficients a planar plan's product computes: the band
    (``band_columns``) of ``planar_box``, row-major. The rows of the kernel's spectrum
    [K, 2, C, F] that ``spectral_mul_planar`` reads."""
    rows, columns = planar_box(plan)
    box = coefficients(plan).reshape(rows, columns)
    return box[np.arange(columns)[None] < band_columns(plan)[:, None]]


def product_coefficients(plan: SpectralPlan) -> int:
    """How many coefficients the product computes: the band (``band_columns``) for a planar
    plan, else every one of ``coefficients(plan)``."""
    return int(band_columns(plan).sum()) if is_planar(plan) else coefficients(plan).size


def coefficient_energy(xk: tf.Tensor, plan: SpectralPlan) -> tf.Tensor:
    """(K,) energy |X|^2 of the spectrum ``xk`` (``forward``'s layout) at each of
    ``coefficients(plan)``, summed over the batch and the channels."""
    if is_planar(plan):  # (N, P, 2, Q, C): P x Q row-major, as coefficients(plan)
        return tf.reshape(tf.reduce_sum(tf.square(xk), axis=[0, 2, 4]), [-1])
    return tf.reduce_sum(tf.math.real(xk) ** 2 + tf.math.imag(xk) ** 2, axis=[0, 1])


def per_coefficient(values: tf.Tensor, plan: SpectralPlan) -> tf.Tensor:
    """(K,) ``values`` at ``coefficients(plan)``, shaped to broadcast against a spectrum of
    ``forward``'s layout."""
    if not is_planar(plan):
        return values
    rows, columns = planar_box(plan)
    return tf.reshape(values, [1, rows, 1, columns, 1])


def forward(x: tf.Tensor, plan: SpectralPlan) -> tf.Tensor:
    """The spectrum of float32 ``x`` (N, *spatial, C) at ``coefficients(plan)``: complex64
    (N, C, K), or float32 (N, P, 2, Q, C) for a planar plan (``is_planar``)."""
    return {"fft": _fft_forward, "direct": _direct_forward,
            "separable": _separable_forward}[plan.transform](x, plan)


def inverse(yk: tf.Tensor, plan: SpectralPlan) -> tf.Tensor:
    """Float32 (N, *plan.output_shape, F) from the spectrum at ``coefficients(plan)``:
    complex (N, F, K), or planar (N, P, 2, Q, F) (``is_planar``)."""
    return {"fft": _fft_inverse, "direct": _direct_inverse,
            "separable": _separable_inverse}[plan.transform](yk, plan)


# ---------------------------------------------------------------- fft
def _fft_forward(x: tf.Tensor, plan: SpectralPlan) -> tf.Tensor:
    rank = len(plan.fft_shape)
    rfft = tf.signal.rfft if rank == 1 else tf.signal.rfft2d
    # FFTs act on the innermost axes: channels go in front of the spatial axes; the
    # rfft zero-pads x to the FFT size.
    spectrum = rfft(tf.transpose(x, [0, rank + 1, *range(1, rank + 1)]),
                    fft_length=list(plan.fft_shape))
    xk = tf.reshape(spectrum, [tf.shape(x)[0], x.shape[-1], -1])
    return xk if plan.keeps_all else tf.gather(xk, plan.kept, axis=2)


def _fft_inverse(yk: tf.Tensor, plan: SpectralPlan) -> tf.Tensor:
    rank = len(plan.fft_shape)
    if not plan.keeps_all:  # dropped coefficients read the zero appended after the kept ones
        yk = tf.gather(tf.pad(yk, [[0, 0], [0, 0], [0, 1]]), plan.scatter_index, axis=2)
    spectrum_shape = [*plan.fft_shape[:-1], plan.fft_shape[-1] // 2 + 1]
    irfft = tf.signal.irfft if rank == 1 else tf.signal.irfft2d
    y = irfft(tf.reshape(yk, [tf.shape(yk)[0], yk.shape[1], *spectrum_shape]),
              fft_length=list(plan.fft_shape))
    # tf.slice, not y[...]: the gradient of Slice is a Pad, much faster than StridedSliceGrad.
    y = tf.slice(y, [0] * (rank + 2),
                 [-1, -1, *((n - 1) * s + 1 for n, s in zip(plan.output_shape, plan.strides))])
    if any(s > 1 for s in plan.strides):
        y = y[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in plan.strides)]
    return tf.transpose(y, [0, *range(2, rank + 2), 1])


# ---------------------------------------------------------------- direct
def _grid_cycles(plan: SpectralPlan, shape: tuple[int, ...], steps: tuple[int, ...]) -> tf.Tensor:
    """(prod(shape), K) phases of ``coefficients(plan)`` at the grid positions index * step."""
    positions = np.indices(shape).reshape(len(shape), -1)
    frequencies = plan.frequencies(coefficients(plan))
    return sum(_cycles(p * s, f, n) for p, s, f, n in
               zip(positions, steps, frequencies, plan.fft_shape))


def _direct_weights(plan: SpectralPlan) -> np.ndarray:
    """How many coefficients of the two-sided spectrum each of ``coefficients(plan)`` stands for.

    2 off the fx = 0 and Nyquist columns (itself and its mirror, as in the irfft),
    1 on them, and 2 there too for the member of a conjugate pair (fy, -fy) whose
    twin was left out: for real x and kernel the twin's product is its conjugate,
    so it adds the same real part to the output. One of each pair is computed.
    """
    indices = coefficients(plan)
    twinned = bands.conjugate_partner(plan.fft_shape)[indices] != indices
    return bands.coefficient_weights(plan.fft_shape)[indices] * np.where(twinned, 2, 1)


def _direct_forward(x: tf.Tensor, plan: SpectralPlan) -> tf.Tensor:
    cos, sin = _turn(_grid_cycles(plan, plan.input_shape, (1,) * len(plan.input_shape)))
    batch, positions, channels = tf.shape(x)[0], cos.shape[0], x.shape[-1]
    # X = sum_p x e^{-i theta}: the (2K, P) table, rows (k, re/im), times every image's (P, C):
    # the planar spectrum (N, K, 2, 1, C), channels-last like x.
    table = tf.transpose(_interleave(cos, -sin))
    pairs = tf.matmul(table, tf.reshape(x, [batch, positions, channels]))
    return tf.reshape(pairs, [batch, cos.shape[1], 2, 1, channels])


def _direct_inverse(yk: tf.Tensor, plan: SpectralPlan) -> tf.Tensor:
    cos, sin = _turn(_grid_cycles(plan, plan.output_shape, plan.strides))
    scale = _direct_weights(plan) / np.float32(math.prod(plan.fft_shape))
    batch, filters = tf.shape(yk)[0], yk.shape[-1]
    # y = sum_k w_k / L (re cos - im sin): the irfft at the output positions only, the
    # (P_out, 2K) table, columns (k, re/im), times every image's (2K, F).
    table = _interleave(cos * scale, -sin * scale)
    y = tf.matmul(table, tf.reshape(yk, [batch, -1, filters]))  # (N, P_out, F)
    return tf.reshape(y, [batch, *plan.output_shape, filters])


# ---------------------------------------------------------------- separable
def _separable_forward(x: tf.Tensor, plan: SpectralPlan) -> tf.Tensor:
    (height, width), (length_y, length_x) = plan.input_shape, plan.fft_shape
    rows, columns = separable_box(plan)
    batch, channels = tf.shape(x)[0], x.shape[-1]
    # Real DFT along the width, channels-last: [cos; -sin] of the kept columns (2Nx, W) times
    # every (W, C) row of x, giving (N H, 2Nx, C), rows ordered (re/im, kx).
    cos, sin = _turn(_cycles(np.arange(columns), np.arange(width), length_x))
    a = tf.matmul(tf.concat([cos, -sin], 0), tf.reshape(x, [-1, width, channels]))
    # Complex DFT along the height to the kept rows, contracting (h, re/im) at once: per
    # image (2Ny, 2H) @ (2H, Nx C), rows (ky, re/im): the planar spectrum (N, Ny, 2, Nx, C).
    cos, sin = _turn(_cycles(rows, np.arange(height), length_y))
    a = tf.reshape(a, [batch, 2 * height, columns * channels])
    pairs = tf.matmul(_rotation(cos, -sin), a)
    return tf.reshape(pairs, [batch, rows.size, 2, columns, channels])


def _separable_inverse(yk: tf.Tensor, plan: SpectralPlan) -> tf.Tensor:
    (out_h, out_w), (step_h, step_w), (length_y, length_x) = (
        plan.output_shape, plan.strides, plan.fft_shape)
    rows, columns = separable_box(plan)
    batch, filters = tf.shape(yk)[0], yk.shape[-1]
    # Inverse complex DFT along the height at the output rows: per image (2Ho, 2Ny) @
    # (2Ny, Nx F), rows (h, re/im), so the width step contracts (re/im, kx) at once.
    cos, sin = _turn(_cycles(np.arange(out_h) * step_h, rows, length_y))
    b = tf.matmul(_rotation(cos / length_y, sin / length_y),
                  tf.reshape(yk, [batch, 2 * rows.size, columns * filters]))
    # Inverse real DFT along the width at the output columns: (Wo, 2Nx) @ every (2Nx, F)
    # row, giving the channels-last output.
    cos, sin = _turn(_cycles(np.arange(out_w) * step_w, np.arange(columns), length_x))
    scale = _inverse_weights(np.arange(columns), length_x)[None] / length_x
    y = tf.matmul(tf.concat([cos * scale, -sin * scale], 1),
                  tf.reshape(b, [-1, 2 * columns, filters]))
    return tf.reshape(y, [batch, out_h, out_w, filters])
