"""Band-limited convolution computed in the FFT domain (functional core of the layers).

``x`` (N, *spatial, C) is padded as ``tf.nn.convolution`` pads it for
``padding``/``strides`` (``padded`` below), then both ``x`` and the kernel
(*k, C, F) are zero-padded to the FFT size: per axis the linear-convolution
size ``padded + k - 1`` (rounded up to a power of two with ``next_power2``).
In the code the leading 'same' padding is not materialised: it is a circular
shift of the product, applied to the kernel's taps instead. The rfft spectrum of ``x``
is gathered at the kept coefficients (``bands.kept_indices``); the kernel's
spectrum is computed at those coefficients only, by a direct DFT (see
``kernel_spectrum``). The two are multiplied with ``spectral_mul``
(``y = sum_c x * conj(w)``, a cross-correlation like ``tf.nn.conv2d``), put
back into a zero spectrum, inverse-transformed, and the ``valid`` part is read
off with the stride. With no coefficient dropped the result equals
``tf.nn.convolution``; otherwise it is that convolution with the dropped
frequencies removed from its spectrum. Gradients come from TensorFlow's
autodiff through rfft, gather, the DFT and spectral_mul, so they are those of
the band-limited function, and the complex tensors kept for backward are the
operands of spectral_mul: their size scales with the kept fraction.
"""
import dataclasses
import math

import numpy as np
import tensorflow as tf

from tfcompress.spectral import bands
from tfcompress.spectral.op import spectral_mul

PADDINGS = ("same", "valid")


@dataclasses.dataclass(frozen=True, eq=False)
class SpectralPlan:
    """Static geometry and band of one spectral convolution, fixed at build time.

    Attributes:
      pads: (before, after) spatial padding per axis, as ``tf.nn.convolution`` pads.
      strides: stride per spatial axis.
      fft_shape: FFT size per spatial axis.
      output_shape: spatial output size.
      kept: flattened rfft indices kept (``bands.kept_indices``), sorted ascending
        for memory locality.
      frequency_order: positions in ``kept`` from the lowest frequency up (the
        order of ``bands.frequency_order``), for ``preserve_energy``.
    """

    pads: tuple[tuple[int, int], ...]
    strides: tuple[int, ...]
    fft_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    kept: np.ndarray
    frequency_order: np.ndarray

    @property
    def num_coefficients(self) -> int:
        """K: number of rfft coefficients of the FFT size."""
        return bands.num_coefficients(self.fft_shape)

    @property
    def keeps_all(self) -> bool:
        """Whether no coefficient is dropped (then nothing is gathered or scattered)."""
        return self.kept.size == self.num_coefficients

    @property
    def compress_rate_reached(self) -> float:
        """Fraction of rfft coefficients dropped: 1 - len(kept) / K."""
        return 1.0 - self.kept.size / self.num_coefficients

    @property
    def scatter_index(self) -> np.ndarray:
        """For every rfft index, its position in ``kept``, or ``len(kept)`` when dropped."""
        index = np.full(self.num_coefficients, self.kept.size, np.int32)
        index[self.kept] = np.arange(self.kept.size, dtype=np.int32)
        return index

    def kept_frequencies(self) -> list[np.ndarray]:
        """Per spatial axis, the (unsigned, in [0, L)) frequency index of every kept coefficient."""
        if len(self.fft_shape) == 1:
            return [self.kept]
        return list(np.divmod(self.kept, self.fft_shape[1] // 2 + 1))

    def fft_flops(self) -> float:
        """Real flops of one real FFT of L = prod(fft_shape) points: 2.5 L log2 L
        (half of a complex FFT's 5 L log2 L)."""
        size = math.prod(self.fft_shape)
        return 2.5 * size * math.log2(size) if size > 1 else 0.0


def make_plan(input_shape: tuple[int, ...], kernel_shape: tuple[int, ...],
              strides: tuple[int, ...], padding: str, compress_rate: float,
              next_power2: bool = False) -> SpectralPlan:
    """Plan a spectral convolution of spatial ``input_shape`` by spatial ``kernel_shape``.

    Raises ValueError for an unknown padding, a rate outside [0, 1), or (with
    "valid") a kernel larger than the input.
    """
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    bands.check_compress_rate(compress_rate)
    if not len(input_shape) == len(kernel_shape) == len(strides):
        raise ValueError(f"input {input_shape}, kernel {kernel_shape} and strides {strides} "
                         "must have one size per spatial axis")
    if any(n is None for n in input_shape):
        raise ValueError(f"spectral convolution needs static spatial sizes, got {input_shape}")
    pads, fft_shape, output_shape = [], [], []
    for size, k, s in zip(input_shape, kernel_shape, strides):
        if padding == "valid" and k > size:
            raise ValueError(f"kernel size {tuple(kernel_shape)} is larger than the input "
                             f"{tuple(input_shape)} with padding='valid'")
        total = max((-(-size // s) - 1) * s + k - size, 0) if padding == "same" else 0
        pads.append((total // 2, total - total // 2))
        padded = size + total
        fft = padded + k - 1
        fft_shape.append(1 << (fft - 1).bit_length() if next_power2 else fft)
        output_shape.append((padded - k) // s + 1)
    fft_shape = tuple(fft_shape)
    by_frequency = bands.kept_indices(fft_shape, compress_rate)
    ascending = np.argsort(by_frequency)
    # The inverse permutation: where each frequency rank sits in the sorted indices.
    return SpectralPlan(tuple(pads), tuple(strides), fft_shape, tuple(output_shape),
                        by_frequency[ascending], np.argsort(ascending).astype(np.int32))


def _rfft(x: tf.Tensor, fft_shape: tuple[int, ...]) -> tf.Tensor:
    rfft = tf.signal.rfft if len(fft_shape) == 1 else tf.signal.rfft2d
    return rfft(x, fft_length=list(fft_shape))


def _irfft(x: tf.Tensor, fft_shape: tuple[int, ...]) -> tf.Tensor:
    irfft = tf.signal.irfft if len(fft_shape) == 1 else tf.signal.irfft2d
    return irfft(x, fft_length=list(fft_shape))


def kernel_spectrum(kernel: tf.Tensor, plan: SpectralPlan) -> tf.Tensor:
    """(F, C, Kk) rfft coefficients of the zero-padded ``kernel`` (*k, C, F) at the kept indices.

    Computed by a direct DFT, two real matmuls of the (F * C, prod(k)) kernel by
    the (prod(k), Kk) cosine and sine tables, rather than an rfft of the whole
    padded grid and a gather: kernels are small next to the FFT size, so this
    costs prod(k) multiply-adds per kept coefficient instead of an FFT of every
    (C, F) slice, its backward is two more matmuls, and the padded kernel
    spectrum is never materialised. The tables are built in the graph from the
    kept frequencies (no large constants in a SavedModel).
    """
    rank = len(plan.fft_shape)
    taps = kernel.shape[:rank]
    channels, filters = kernel.shape[-2], kernel.shape[-1]
    cycles = 0.0  # phase / 2 pi of (kept coefficient, tap), broadcast over the tap grid
    for axis, (frequency, length, (before, _)) in enumerate(
            zip(plan.kept_frequencies(), plan.fft_shape, plan.pads)):
        # Tap u sits at u - before (mod L): the shift that the input's 'same' padding
        # would have made, moved onto the kernel so the input needs no padded copy.
        tap = tf.reshape(tf.range(taps[axis]) - before,
                         [1] + [-1 if a == axis else 1 for a in range(rank)])
        frequency = tf.reshape(tf.constant(frequency, tf.int32), [-1] + [1] * rank)
        # Exact integer phase modulo the period keeps float32 angles small and accurate.
        cycles += tf.cast((frequency * tap) % length, tf.float32) / float(length)
    angle = tf.reshape(-2.0 * math.pi * cycles, [plan.kept.size, -1])
    flat = tf.reshape(tf.transpose(kernel, [rank + 1, rank, *range(rank)]),
                      [filters * channels, -1])
    real = tf.matmul(flat, tf.cos(angle), transpose_b=True)
    imag = tf.matmul(flat, tf.sin(angle), transpose_b=True)
    return tf.reshape(tf.complex(real, imag), [filters, channels, plan.kept.size])


def _energy_mask(x: tf.Tensor, xk: tf.Tensor, plan: SpectralPlan,
                 preserve_energy: float) -> tuple[tf.Tensor, tf.Tensor]:
    """Mask [Kk]: the shortest pair-closed band prefix holding ``preserve_energy``% of x's energy."""
    weights = bands.coefficient_weights(plan.fft_shape)[plan.kept]
    energy = tf.reduce_sum(tf.math.real(xk) ** 2 + tf.math.imag(xk) ** 2, axis=[0, 1]) * weights
    # Parseval: the two-sided spectrum of the zero-padded x holds L * sum(x^2).
    total = tf.reduce_sum(tf.square(x)) * float(math.prod(plan.fft_shape))
    closed = bands.pair_closed(plan.fft_shape)[:plan.kept.size]
    by_frequency = bands.energy_prefix_mask(tf.gather(energy, plan.frequency_order), closed,
                                            total, preserve_energy)
    mask = tf.gather(by_frequency, np.argsort(plan.frequency_order))
    rate = 1.0 - tf.reduce_sum(mask) / plan.num_coefficients
    return tf.stop_gradient(mask), tf.stop_gradient(rate)


def apply_plan(x: tf.Tensor, kernel: tf.Tensor, plan: SpectralPlan,
               implementation: str = "auto",
               preserve_energy: float | None = None) -> tuple[tf.Tensor, tf.Tensor]:
    """Band-limited convolution of float32 ``x`` (N, *spatial, C) with ``kernel`` (*k, C, F).

    Returns the output (N, *plan.output_shape, F) and the compression rate
    reached (a scalar: the plan's, or the measured one with ``preserve_energy``).
    """
    rank = len(plan.fft_shape)
    # FFTs act on the innermost axes: channels go in front of the spatial axes. The
    # rfft zero-pads x to the FFT size; the 'same' padding before x is a circular
    # shift, applied to the kernel (kernel_spectrum), which the FFT size leaves room for.
    x_spectrum = _rfft(tf.transpose(x, [0, rank + 1, *range(1, rank + 1)]), plan.fft_shape)
    batch, channels, filters = tf.shape(x)[0], kernel.shape[-2], kernel.shape[-1]
    xk = tf.reshape(x_spectrum, [batch, channels, -1])
    if not plan.keeps_all:
        xk = tf.gather(xk, plan.kept, axis=2)
    yk = spectral_mul(xk, kernel_spectrum(kernel, plan), implementation=implementation)
    rate = tf.constant(plan.compress_rate_reached, tf.float32)
    if preserve_energy is not None:
        mask, rate = _energy_mask(x, xk, plan, preserve_energy)
        yk = yk * tf.cast(mask, yk.dtype)
    if not plan.keeps_all:
        # Dropped coefficients read the zero appended after the kept ones.
        yk = tf.gather(tf.pad(yk, [[0, 0], [0, 0], [0, 1]]), plan.scatter_index, axis=2)
    spectrum_shape = [*plan.fft_shape[:-1], plan.fft_shape[-1] // 2 + 1]
    y = _irfft(tf.reshape(yk, [batch, filters, *spectrum_shape]), plan.fft_shape)
    # tf.slice, not y[...]: the gradient of Slice is a Pad, much faster than StridedSliceGrad.
    y = tf.slice(y, [0] * (rank + 2),
                 [-1, -1, *((n - 1) * s + 1 for n, s in zip(plan.output_shape, plan.strides))])
    if any(s > 1 for s in plan.strides):
        y = y[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in plan.strides)]
    return tf.transpose(y, [0, *range(2, rank + 2), 1]), rate


def spectral_conv(x: tf.Tensor, kernel: tf.Tensor, strides: int | tuple[int, ...] = 1,
                  padding: str = "same", compress_rate: float = 0.0, next_power2: bool = False,
                  implementation: str = "auto") -> tf.Tensor:
    """Band-limited 1-D or 2-D convolution, channels_last, float32; like ``tf.nn.convolution``.

    ``kernel`` has shape (*k, C, F) and fixes the rank; the spatial sizes of ``x``
    must be static. ``compress_rate`` r drops that fraction of the rfft
    coefficients, highest frequencies first.
    """
    rank = len(kernel.shape) - 2
    if rank not in (1, 2) or len(x.shape) != rank + 2:
        raise ValueError(f"expected a (N, *spatial, C) input and a (*k, C, F) kernel of spatial "
                         f"rank 1 or 2, got input shape {x.shape} and kernel shape {kernel.shape}")
    strides = (strides,) * rank if isinstance(strides, int) else tuple(strides)
    plan = make_plan(tuple(x.shape[1:-1]), tuple(kernel.shape[:-2]), strides, padding,
                     compress_rate, next_power2)
    return apply_plan(x, kernel, plan, implementation)[0]
