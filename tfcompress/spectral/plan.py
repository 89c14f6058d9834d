"""The static geometry and band of one spectral convolution (`SpectralPlan`, `make_plan`).

``x`` (N, *spatial, C) is padded as ``tf.nn.convolution`` pads it for
``padding``/``strides``, ``(before, after)`` per axis; the convolution is then
computed as a circular one on an FFT grid of size L per axis (``fft_size``):

- "minimal" (the default): ``L = n + max(before, after)`` for an input of size n,
  the smallest grid on which the circular correlation of the zero-extended
  input, with the kernel's taps shifted by ``before``, reads no wrapped-around
  input at any output position: reads span ``[-before, n - 1 + after]``, and
  the ``before`` reads left of 0 land in ``[L - before, L)``, beyond the
  input. At r = 0 it equals ``tf.nn.convolution``, like "linear", on fewer
  coefficients: 33x33 instead of 36x36 for a 3x3 'same' kernel on 32x32,
  5x5 instead of 8x8 on 4x4.
- "linear": ``L = n + before + after + k - 1``, the size of the full linear
  convolution of the padded input (Dziedzic et al.'s; this library's only size
  before "minimal", kept so that layers trained with it compute the same).

Either is rounded up to a power of two with ``next_power2``. With r > 0 the
band-limited function depends on L (the band is a fraction of L's
coefficients). The kept rfft coefficients of that size come from
``bands.kept_indices``; the transform that computes them (``plan.transform``)
is chosen per shape by ``transform_cost.choose_transform``.
"""
import dataclasses
import math

import numpy as np

from tfcompress.spectral import bands
from tfcompress.spectral.transform_cost import choose_transform

PADDINGS = ("same", "valid")
FFT_SIZES = ("minimal", "linear")
TRANSFORMS = ("auto", "fft", "direct", "separable")


@dataclasses.dataclass(frozen=True, eq=False)
class SpectralPlan:
    """Static geometry and band of one spectral convolution, fixed at build time.

    Attributes:
      pads: (before, after) spatial padding per axis, as ``tf.nn.convolution`` pads.
      strides: stride per spatial axis.
      input_shape: spatial input size.
      fft_shape: FFT size per spatial axis.
      output_shape: spatial output size.
      kept: flattened rfft indices kept (``bands.kept_indices``), sorted ascending
        for memory locality.
      frequency_order: positions in ``kept`` from the lowest frequency up (the
        order of ``bands.frequency_order``), for ``preserve_energy``.
      transform: how the kept coefficients are computed: "fft", "direct" or
        "separable" (see ``transforms``).
    """

    pads: tuple[tuple[int, int], ...]
    strides: tuple[int, ...]
    input_shape: tuple[int, ...]
    fft_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    kept: np.ndarray
    frequency_order: np.ndarray
    transform: str

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

    def frequencies(self, indices: np.ndarray) -> list[np.ndarray]:
        """Per spatial axis, the (unsigned, in [0, L)) frequency of each flattened rfft index."""
        if len(self.fft_shape) == 1:
            return [np.asarray(indices)]
        return list(np.divmod(indices, self.fft_shape[1] // 2 + 1))

    def kept_frequencies(self) -> list[np.ndarray]:
        """Per spatial axis, the frequency of every kept coefficient (``frequencies(kept)``)."""
        return self.frequencies(self.kept)

    def fft_flops(self) -> float:
        """Real flops of one real FFT of L = prod(fft_shape) points: 2.5 L log2 L
        (half of a complex FFT's 5 L log2 L)."""
        size = math.prod(self.fft_shape)
        return 2.5 * size * math.log2(size) if size > 1 else 0.0


def check_fft_size(fft_size: str) -> None:
    """Raise ValueError unless ``fft_size`` is one of ``FFT_SIZES``."""
    if fft_size not in FFT_SIZES:
        raise ValueError(f"fft_size must be one of {FFT_SIZES}, got {fft_size!r}")


def make_plan(input_shape: tuple[int, ...], kernel_shape: tuple[int, ...],
              strides: tuple[int, ...], padding: str, compress_rate: float,
              next_power2: bool = False, transform: str = "auto",
              fft_size: str = "minimal") -> SpectralPlan:
    """Plan a spectral convolution of spatial ``input_shape`` by spatial ``kernel_shape``.

    ``transform`` "auto" takes ``transform_cost.choose_transform``'s choice; "fft",
    "direct" or "separable" force one (all compute the same function).
    Raises ValueError for an unknown padding or transform, a rate outside
    [0, 1), or (with "valid") a kernel larger than the input.
    """
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    if transform not in TRANSFORMS:
        raise ValueError(f"transform must be one of {TRANSFORMS}, got {transform!r}")
    check_fft_size(fft_size)
    bands.check_compress_rate(compress_rate)
    if not len(input_shape) == len(kernel_shape) == len(strides):
        raise ValueError(f"input {input_shape}, kernel {kernel_shape} and strides {strides} "
                         "must have one size per spatial axis")
    if any(n is None for n in input_shape):
        raise ValueError(f"spectral convolution needs static spatial sizes, got {input_shape}")
    if transform == "separable" and len(input_shape) != 2:
        raise ValueError(f"transform='separable' needs 2 spatial axes, got input {input_shape}")
    pads, fft_shape, output_shape = [], [], []
    for size, k, s in zip(input_shape, kernel_shape, strides):
        if padding == "valid" and k > size:
            raise ValueError(f"kernel size {tuple(kernel_shape)} is larger than the input "
                             f"{tuple(input_shape)} with padding='valid'")
        total = max((-(-size // s) - 1) * s + k - size, 0) if padding == "same" else 0
        before, after = total // 2, total - total // 2
        pads.append((before, after))
        padded = size + total
        fft = size + max(before, after) if fft_size == "minimal" else padded + k - 1
        fft_shape.append(1 << (fft - 1).bit_length() if next_power2 else fft)
        output_shape.append((padded - k) // s + 1)
    fft_shape = tuple(fft_shape)
    by_frequency = bands.kept_indices(fft_shape, compress_rate)
    ascending = np.argsort(by_frequency)
    # The inverse permutation: where each frequency rank sits in the sorted indices.
    plan = SpectralPlan(tuple(pads), tuple(strides), tuple(int(n) for n in input_shape), fft_shape,
                        tuple(output_shape), by_frequency[ascending],
                        np.argsort(ascending).astype(np.int32), transform)
    if transform == "auto":
        plan = dataclasses.replace(plan, transform=choose_transform(plan))
    return plan
