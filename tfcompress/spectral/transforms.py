"""Transforms between a layer's input/output and its kept spectrum: FFT, direct or separable DFT.

All three compute the same linear maps (to float32 rounding): the rfft of the
input, zero-padded to the plan's FFT size, at a set of coefficients, and from
the product's spectrum back to the cropped, strided output (the irfft read at
the output positions only). They differ in what they cost:

- ``fft``: transpose to channels-first, ``rfft``/``rfft2d`` of the whole padded
  grid, gather of the kept coefficients; back: scatter into a zero spectrum,
  ``irfft``, crop and stride, transpose. Cost ~ L log L per channel slice,
  whatever the band: the choice for long 1-D signals.
- ``direct``: one GEMM per direction against a (positions x kept coefficients)
  cos/sin table, channels-last, no transpose: the input ``(N, P, C)`` times the
  table with ``transpose_a`` gives ``(N, C, K)``, the layout of ``spectral_mul``;
  the inverse is ``table @ y^T``, giving ``(N, P_out, F)``. Of each conjugate
  pair (fy, -fy) in the fx = 0 and Nyquist columns only one member is computed
  and the inverse counts it twice. Cost P x K per slice: the choice for small grids.
- ``separable`` (2-D): a real DFT along the width to the kept columns
  ``fx < Nx`` (one GEMM on the channels-first input), then a complex DFT along
  the height to the kept rows only (a GEMM per channel slice contracting
  (row, re/im) jointly, so no re/im recombination pass). The product runs over
  the box of kept rows x kept columns, with the kernel's spectrum zero outside
  the band (so the function is the band's, with no gather or scatter); the
  inverse reads the kept rows at the output rows, then the columns at the
  output columns. Cost ~ (H + W) x band per slice: the choice for larger grids.

The direct and separable GEMMs write (re, im) pairs, interleaved like
complex64, which ``as_complex`` views as complex without a copy (and the
inverse reads the product's complex output the same way), so no pass packs or
unpacks complex numbers. Every table is built in the graph from the small
integer frequency and position vectors (exact integer phases modulo the
period), so SavedModels carry no large constants; TensorFlow's constant
folding evaluates them once. Gradients are TensorFlow's autodiff through these
matmuls, i.e. those of the band-limited function; the tables are constants, so
what backward keeps from the transforms is nothing but the band (or the box).
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


@tf.custom_gradient
def _as_pairs(z: tf.Tensor) -> tf.Tensor:
    """Complex64 (...) viewed as float32 (..., 2) (re, im) pairs; the inverse of ``as_complex``."""
    return tf.bitcast(z, tf.float32), lambda grad: tf.bitcast(grad, tf.complex64)


def _inverse_weights(frequencies: np.ndarray, length: int) -> np.ndarray:
    """irfft weight of each last-axis frequency: 1 at DC and Nyquist, 2 elsewhere (float32)."""
    frequencies = np.asarray(frequencies)
    return np.where((frequencies == 0) | (2 * frequencies == length), 1.0, 2.0).astype(np.float32)


def coefficients(plan: SpectralPlan) -> np.ndarray:
    """Flattened rfft indices of the spectrum ``plan.transform`` computes, in its order: the
    kept set for fft; for direct, the kept set less the second member of every conjugate
    pair (see ``_direct_weights``); the box of kept columns x rows (column-major) for separable."""
    if plan.transform == "fft":
        return plan.kept
    if plan.transform == "direct":
        return plan.kept[bands.conjugate_partner(plan.fft_shape)[plan.kept] >= plan.kept]
    rows, width = separable_box(plan)
    return (np.arange(width)[:, None] + rows[None] * (plan.fft_shape[1] // 2 + 1)).ravel()


def separable_box(plan: SpectralPlan) -> tuple[np.ndarray, int]:
    """The kept rows (unsigned fy, ascending) and the number of kept columns (fx < width)."""
    fy, fx = plan.kept_frequencies()
    return np.unique(fy), int(fx.max()) + 1


def forward(x: tf.Tensor, plan: SpectralPlan) -> tf.Tensor:
    """Complex64 (N, C, K) spectrum of float32 ``x`` (N, *spatial, C) at ``coefficients(plan)``."""
    return {"fft": _fft_forward, "direct": _direct_forward,
            "separable": _separable_forward}[plan.transform](x, plan)


def inverse(yk: tf.Tensor, plan: SpectralPlan) -> tf.Tensor:
    """Float32 (N, *plan.output_shape, F) from the complex (N, F, K) spectrum at
    ``coefficients(plan)``."""
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
    flat = tf.reshape(x, [tf.shape(x)[0], cos.shape[0], x.shape[-1]])  # (N, P, C)
    # X = sum_p x e^{-i theta}; transpose_a puts channels before frequencies, as spectral_mul reads.
    pairs = tf.matmul(flat, _interleave(cos, -sin), transpose_a=True)  # (N, C, 2K)
    return as_complex(tf.reshape(pairs, [tf.shape(x)[0], x.shape[-1], -1, 2]))


def _direct_inverse(yk: tf.Tensor, plan: SpectralPlan) -> tf.Tensor:
    cos, sin = _turn(_grid_cycles(plan, plan.output_shape, plan.strides))
    scale = _direct_weights(plan) / np.float32(math.prod(plan.fft_shape))
    # y = sum_k w_k / L (re cos - im sin): the irfft at the output positions only.
    pairs = tf.reshape(_as_pairs(yk), [tf.shape(yk)[0], yk.shape[1], -1])  # (N, F, 2K)
    y = tf.matmul(_interleave(cos * scale, -sin * scale), pairs, transpose_b=True)  # (N, P_out, F)
    return tf.reshape(y, [tf.shape(yk)[0], *plan.output_shape, yk.shape[1]])


# ---------------------------------------------------------------- separable
def _separable_forward(x: tf.Tensor, plan: SpectralPlan) -> tf.Tensor:
    (height, width), (length_y, length_x) = plan.input_shape, plan.fft_shape
    rows, columns = separable_box(plan)
    batch, channels = tf.shape(x)[0], x.shape[-1]
    # Real DFT along the width: (N C H, W) @ (W, [cos | -sin] of the kept columns), viewed
    # per channel slice as (H re/im, Nx): rows ordered (h, re/im).
    cos, sin = _turn(_cycles(np.arange(width), np.arange(columns), length_x))
    a = tf.matmul(tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, width]), tf.concat([cos, -sin], 1))
    a = tf.reshape(a, [-1, 2 * height, columns])
    # Complex DFT along the height, contracting (h, re/im) at once and writing (ky, re/im)
    # pairs: (Nx, 2H) @ (2H, 2Ny) per slice, the spectrum (N, C, Nx * Ny) in (kx, ky) order.
    cos, sin = _turn(_cycles(np.arange(height), rows, length_y))
    pairs = tf.matmul(a, _rotation(cos, sin), transpose_a=True)
    return as_complex(tf.reshape(pairs, [batch, channels, -1, 2]))


def _separable_inverse(yk: tf.Tensor, plan: SpectralPlan) -> tf.Tensor:
    (out_h, out_w), (step_h, step_w), (length_y, length_x) = (
        plan.output_shape, plan.strides, plan.fft_shape)
    rows, columns = separable_box(plan)
    batch, filters = tf.shape(yk)[0], yk.shape[1]
    # Inverse complex DFT along the height at the output rows: (2Ho, 2Ny) @ (2Ny, Nx) per
    # slice, rows ordered (h, re/im), so the width step contracts (re/im, kx) at once.
    cos, sin = _turn(_cycles(np.arange(out_h) * step_h, rows, length_y))
    pairs = tf.reshape(_as_pairs(yk), [-1, columns, 2 * rows.size])
    b = tf.matmul(_rotation(cos / length_y, sin / length_y), pairs, transpose_b=True)
    # Inverse real DFT along the width at the output columns: (N F Ho, [re | im]) @ table.
    cos, sin = _turn(_cycles(np.arange(columns), np.arange(out_w) * step_w, length_x))
    scale = _inverse_weights(np.arange(columns), length_x)[:, None] / length_x
    y = tf.matmul(tf.reshape(b, [-1, 2 * columns]), tf.concat([cos * scale, -sin * scale], 0))
    return tf.transpose(tf.reshape(y, [batch, filters, out_h, out_w]), [0, 2, 3, 1])
