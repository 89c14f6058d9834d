"""Band-limited convolution in the frequency domain (functional core of the layers).

``x`` (N, *spatial, C) and the kernel (*k, C, F) are zero-padded to the plan's
FFT size (``plan.make_plan``). In the code the leading 'same' padding is not
materialised: it is a circular shift of the product, applied to the kernel's
taps instead. ``transforms.forward`` computes x's rfft coefficients (the kept
ones; for the direct DFT one member of each conjugate pair; for the separable
DFT the box around them, ``transforms.coefficients``) by the transform the plan
chose (FFT, direct DFT or separable DFT; ``transform_cost``); the kernel's
spectrum is computed at those coefficients only, by a direct DFT (see
``kernel_spectrum``), and is zero at any coefficient outside the band. The two
are multiplied with ``spectral_mul`` (``y = sum_c x * conj(w)``, a
cross-correlation like ``tf.nn.conv2d``; for the direct and separable DFTs its
planar, channels-last twin ``spectral_mul_planar``, so that no transpose is
needed between NHWC and the spectrum) and ``transforms.inverse`` evaluates
the inverse rfft at the cropped, strided output positions. With no coefficient
dropped the result equals ``tf.nn.convolution``; otherwise it is that
convolution with the dropped frequencies removed from its spectrum. Gradients
come from TensorFlow's autodiff through the transforms, the DFT and
spectral_mul, so they are those of the band-limited function, and the spectra
kept for backward are the operands of the product: their size scales with the
kept fraction.
"""
import math

import numpy as np
import tensorflow as tf

from tfcompress.spectral import bands, transforms
from tfcompress.spectral.op import spectral_mul, spectral_mul_planar
from tfcompress.spectral.plan import PADDINGS, SpectralPlan, make_plan

__all__ = ["PADDINGS", "SpectralPlan", "apply_plan", "kernel_spectrum", "kernel_spectrum_planar",
           "make_plan", "spectral_conv"]


def _kernel_table(kernel: tf.Tensor, plan: SpectralPlan, indices: np.ndarray) -> tf.Tensor:
    """(2 len(indices), prod(k)) table, rows (coefficient, cos/sin), of the DFT phases of the
    coefficients ``indices`` at the kernel's taps; zero rows at coefficients outside the
    band. Times the kernel viewed as (prod(k), C F) it gives (re, im) of their spectrum."""
    rank = len(plan.fft_shape)
    taps = kernel.shape[:rank]
    cycles = 0.0  # phase / 2 pi of (coefficient, tap), broadcast over the tap grid
    for axis, (frequency, length, (before, _)) in enumerate(
            zip(plan.frequencies(indices), plan.fft_shape, plan.pads)):
        # Tap u sits at u - before (mod L): the shift that the input's 'same' padding
        # would have made, moved onto the kernel so the input needs no padded copy.
        tap = tf.reshape(tf.range(taps[axis]) - before,
                         [1] + [-1 if a == axis else 1 for a in range(rank)])
        frequency = tf.reshape(tf.constant(frequency, tf.int32), [-1] + [1] * rank)
        # Exact integer phase modulo the period keeps float32 angles small and accurate.
        cycles += tf.cast((frequency * tap) % length, tf.float32) / float(length)
    angle = tf.reshape(-2.0 * math.pi * cycles, [indices.size, -1])
    cos, sin = tf.cos(angle), tf.sin(angle)
    in_band = np.isin(indices, plan.kept)
    if not in_band.all():
        cos, sin = (t * in_band[:, None].astype(np.float32) for t in (cos, sin))
    return tf.reshape(tf.stack([cos, sin], 1), [2 * indices.size, -1])


def _flat_kernel(kernel: tf.Tensor) -> tf.Tensor:
    """``kernel`` (*k, C, F) viewed as (prod(k), C * F), without a copy."""
    return tf.reshape(kernel, [-1, kernel.shape[-2] * kernel.shape[-1]])


def kernel_spectrum(kernel: tf.Tensor, plan: SpectralPlan, indices: np.ndarray) -> tf.Tensor:
    """(C, F, len(indices)) rfft coefficients of the zero-padded ``kernel`` (*k, C, F) at the
    flattened rfft ``indices``; zero at any index outside the band ``plan.kept``. The channel
    order is the kernel's own, so the kernel is read in place (no transpose, forward or
    backward) and ``spectral_mul(..., transpose_w=True)`` reads the spectrum in place too.

    Computed by a direct DFT, one real matmul of the kernel viewed as (prod(k),
    C * F), transposed, by the (2K, prod(k)) table of interleaved cosines and
    sines, rather than an rfft of the whole padded grid and a gather: kernels
    are small next to the FFT size, so this
    costs prod(k) multiply-adds per coefficient instead of an FFT of every
    (C, F) slice, its backward is two more matmuls, and the padded kernel
    spectrum is never materialised. The tables are built in the graph from the
    frequencies (no large constants in a SavedModel); the band's zeros are
    zero rows of the tables.
    """
    # The table's rows alternate cos and sin: the matmul writes (re, im) pairs, viewed as
    # complex64.
    pairs = tf.matmul(_flat_kernel(kernel), _kernel_table(kernel, plan, indices),
                      transpose_a=True, transpose_b=True)
    return transforms.as_complex(tf.reshape(pairs, [*kernel.shape[-2:], indices.size, 2]))


def kernel_spectrum_planar(kernel: tf.Tensor, plan: SpectralPlan) -> tf.Tensor:
    """The planar spectrum (K, 2, C, F) of ``kernel`` (*k, C, F) at the K coefficients a
    planar plan's product computes (``transforms.band_coefficients``), as
    ``spectral_mul_planar`` reads it: the same direct DFT as ``kernel_spectrum``, one matmul
    of the (2K, prod(k)) table, rows (k, re/im), by the kernel viewed as (prod(k), C F), so
    nothing is transposed, and the separable box's corners outside the band are neither
    computed nor kept for backward."""
    indices = transforms.band_coefficients(plan)
    pairs = tf.matmul(_kernel_table(kernel, plan, indices), _flat_kernel(kernel))
    return tf.reshape(pairs, [indices.size, 2, *kernel.shape[-2:]])


def _energy_mask(x: tf.Tensor, energy: tf.Tensor, plan: SpectralPlan, indices: np.ndarray,
                 preserve_energy: float) -> tuple[tf.Tensor, tf.Tensor]:
    """Mask over ``indices`` (``energy``: x's spectral energy at each of them, summed over
    the batch and channels): the shortest pair-closed band prefix holding
    ``preserve_energy``% of x's energy, and the rate it reaches."""
    # Where each kept coefficient, or (direct transform) its conjugate twin, sits in xk.
    lookup = np.full(plan.num_coefficients, -1, np.int64)
    lookup[indices] = np.arange(indices.size)
    partner = bands.conjugate_partner(plan.fft_shape)[plan.kept]
    position = np.where(lookup[plan.kept] >= 0, lookup[plan.kept], lookup[partner])
    weights = bands.coefficient_weights(plan.fft_shape)[plan.kept]
    energy = tf.gather(energy, position) * weights
    # Parseval: the two-sided spectrum of the zero-padded x holds L * sum(x^2).
    total = tf.reduce_sum(tf.square(x)) * float(math.prod(plan.fft_shape))
    closed = bands.pair_closed(plan.fft_shape)[:plan.kept.size]
    by_frequency = bands.energy_prefix_mask(tf.gather(energy, plan.frequency_order), closed,
                                            total, preserve_energy)
    mask = tf.gather(by_frequency, np.argsort(plan.frequency_order))
    rate = 1.0 - tf.reduce_sum(mask) / plan.num_coefficients
    # Coefficients outside the band read the zero appended after the kept ones (twins share
    # their mask: a pair-closed prefix keeps both or neither).
    outside = np.full(indices.size, plan.kept.size, np.int32)
    outside[position] = np.arange(plan.kept.size, dtype=np.int32)
    mask = tf.gather(tf.pad(mask, [[0, 1]]), outside)
    return tf.stop_gradient(mask), tf.stop_gradient(rate)


def apply_plan(x: tf.Tensor, kernel: tf.Tensor, plan: SpectralPlan,
               implementation: str = "auto",
               preserve_energy: float | None = None) -> tuple[tf.Tensor, tf.Tensor]:
    """Band-limited convolution of float32 ``x`` (N, *spatial, C) with ``kernel`` (*k, C, F).

    Returns the output (N, *plan.output_shape, F) and the compression rate
    reached (a scalar: the plan's, or the measured one with ``preserve_energy``).
    """
    indices = transforms.coefficients(plan)
    xk = transforms.forward(x, plan)
    if transforms.is_planar(plan):
        yk = spectral_mul_planar(xk, kernel_spectrum_planar(kernel, plan), implementation,
                                 transforms.band_columns(plan))
    else:
        yk = spectral_mul(xk, kernel_spectrum(kernel, plan, indices),
                          implementation=implementation, transpose_w=True)
    rate = tf.constant(plan.compress_rate_reached, tf.float32)
    if preserve_energy is not None:
        mask, rate = _energy_mask(x, transforms.coefficient_energy(xk, plan), plan, indices,
                                  preserve_energy)
        yk = yk * tf.cast(transforms.per_coefficient(mask, plan), yk.dtype)
    return transforms.inverse(yk, plan), rate


def spectral_conv(x: tf.Tensor, kernel: tf.Tensor, strides: int | tuple[int, ...] = 1,
                  padding: str = "same", compress_rate: float = 0.0, next_power2: bool = False,
                  implementation: str = "auto", transform: str = "auto",
                  fft_size: str = "minimal") -> tf.Tensor:
    """Band-limited 1-D or 2-D convolution, channels_last, float32; like ``tf.nn.convolution``.

    ``kernel`` has shape (*k, C, F) and fixes the rank; the spatial sizes of ``x``
    must be static. ``compress_rate`` r drops that fraction of the rfft
    coefficients, highest frequencies first. ``transform`` forces "fft",
    "direct" or "separable" (same function; "auto": the cost model's choice);
    ``fft_size`` "minimal" or "linear" picks the FFT grid (``plan``).
    """
    rank = len(kernel.shape) - 2
    if rank not in (1, 2) or len(x.shape) != rank + 2:
        raise ValueError(f"expected a (N, *spatial, C) input and a (*k, C, F) kernel of spatial "
                         f"rank 1 or 2, got input shape {x.shape} and kernel shape {kernel.shape}")
    strides = (strides,) * rank if isinstance(strides, int) else tuple(strides)
    plan = make_plan(tuple(x.shape[1:-1]), tuple(kernel.shape[:-2]), strides, padding,
                     compress_rate, next_power2, transform, fft_size)
    return apply_plan(x, kernel, plan, implementation)[0]
