"""Which rfft coefficients a band-limited convolution keeps.

The coefficients of ``tf.signal.rfft`` / ``rfft2d`` over an FFT of shape
``fft_shape`` are flattened row-major: for 2-D, ``k = fy * (Wf // 2 + 1) + fx``
with ``fy`` in ``[0, Hf)`` and ``fx`` in ``[0, Wf // 2]``; for 1-D, ``k = fx``.

**Order (lowest frequency first).** A coefficient's frequency is signed along
every axis but the last (``fy`` above ``Hf / 2`` stands for ``fy - Hf``, so
``|fy| = min(fy, Hf - fy)``), and its distance from DC is the Euclidean norm of
the normalised frequency ``(|fy| / Hf, fx / Wf)`` in cycles per sample; it is
compared exactly as the integer ``(|fy| * Wf)**2 + (fx * Hf)**2``. Ties are
broken by ``|fy|``, then ``fx``, then the non-negative frequency ``+|fy|``
before its negative ``-|fy|``. ``frequency_order`` returns that order.

**Kept set.** ``kept_indices(fft_shape, r)`` is the first
``max(1, round((1 - r) * K))`` coefficients of the order, plus one more when the
cut would separate the two members of a conjugate pair: in the ``fx = 0`` and
(even ``Wf``) ``fx = Wf / 2`` columns, ``(fy, fx)`` and ``(-fy, fx)`` of a real
signal's spectrum are complex conjugates, so keeping exactly one of them would
not be a band of a real signal. The tie-break above puts pair members next to
each other, so one extra coefficient always closes the pair.

**preserve_energy.** ``energy_prefix_mask`` keeps the shortest prefix of the
order (restricted to the kept set, never splitting a pair) whose spectral
energy reaches ``p`` percent of the total; the energy of a coefficient counts
twice when it stands for itself and its mirror in the full (two-sided)
spectrum, so that the total is Parseval's.
"""
import numpy as np
import tensorflow as tf


def num_coefficients(fft_shape: tuple[int, ...]) -> int:
    """Number of rfft coefficients (K) of a real FFT of shape ``fft_shape``."""
    return int(np.prod(fft_shape[:-1], dtype=np.int64)) * (fft_shape[-1] // 2 + 1)


def _frequency_grid(fft_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per flattened coefficient: |fy| (0 in 1-D), fx and whether fy is a negative frequency."""
    _check_fft_shape(fft_shape)
    width = fft_shape[-1] // 2 + 1
    height = fft_shape[0] if len(fft_shape) == 2 else 1
    fy, fx = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    abs_fy = np.minimum(fy, height - fy)
    negative = fy > height - fy
    return abs_fy.ravel(), fx.ravel(), negative.ravel()


def frequency_order(fft_shape: tuple[int, ...]) -> np.ndarray:
    """All flattened rfft coefficient indices, lowest frequency first (see module doc)."""
    abs_fy, fx, negative = _frequency_grid(fft_shape)
    height = fft_shape[0] if len(fft_shape) == 2 else 1
    width = fft_shape[-1]
    distance = (abs_fy.astype(np.int64) * width) ** 2 + (fx.astype(np.int64) * height) ** 2
    # np.lexsort sorts by the last key first.
    return np.lexsort((negative, fx, abs_fy, distance)).astype(np.int32)


def conjugate_partner(fft_shape: tuple[int, ...]) -> np.ndarray:
    """For each flattened index, the index of its conjugate twin (itself when it has none).

    Only coefficients of the ``fx = 0`` and (even width) ``fx = Wf / 2`` columns
    of a 2-D rfft have a twin ``(-fy, fx)`` inside the half spectrum.
    """
    _check_fft_shape(fft_shape)
    index = np.arange(num_coefficients(fft_shape))
    if len(fft_shape) == 1:
        return index
    height, width = fft_shape[0], fft_shape[1] // 2 + 1
    fy, fx = np.divmod(index, width)
    self_conjugate_column = (fx == 0) | (2 * fx == fft_shape[1])
    mirror = ((height - fy) % height) * width + fx
    return np.where(self_conjugate_column, mirror, index)


def pair_closed(fft_shape: tuple[int, ...]) -> np.ndarray:
    """``closed[j]``: the first j + 1 coefficients of ``frequency_order`` hold no half pair.

    Conjugate twins are adjacent in the order, so a prefix is split exactly when
    its last coefficient's twin comes right after it.
    """
    order = frequency_order(fft_shape)
    position = np.empty_like(order)
    position[order] = np.arange(order.size, dtype=order.dtype)
    return position[conjugate_partner(fft_shape)[order]] <= np.arange(order.size)


def kept_indices(fft_shape: tuple[int, ...], compress_rate: float) -> np.ndarray:
    """Flattened rfft indices kept at ``compress_rate`` r in [0, 1), lowest frequency first."""
    check_compress_rate(compress_rate)
    order = frequency_order(fft_shape)
    count = max(1, int(round((1.0 - compress_rate) * order.size)))
    closed = pair_closed(fft_shape)
    while not closed[count - 1]:
        count += 1
    return order[:count]


def coefficient_weights(fft_shape: tuple[int, ...]) -> np.ndarray:
    """Multiplicity of each rfft coefficient in the two-sided spectrum (1 or 2), float32."""
    _check_fft_shape(fft_shape)
    fx = np.arange(num_coefficients(fft_shape)) % (fft_shape[-1] // 2 + 1)
    edge = (fx == 0) | (2 * fx == fft_shape[-1])
    return np.where(edge, 1.0, 2.0).astype(np.float32)


def energy_prefix_mask(energy: tf.Tensor, closed: np.ndarray, total: tf.Tensor,
                       preserve_energy: float) -> tf.Tensor:
    """Float mask over kept coefficients: the shortest pair-closed prefix holding p% of ``total``.

    ``energy`` [Kk] is the weighted energy of the kept coefficients in frequency
    order, ``closed`` [Kk] is the start of ``pair_closed`` and ``total`` is the energy
    of the whole spectrum. When the kept set holds less than p%, all are kept.
    """
    check_preserve_energy(preserve_energy)
    cumulative = tf.cumsum(energy)
    last = tf.one_hot(tf.size(energy) - 1, tf.size(energy), on_value=True, off_value=False)
    stop = tf.logical_and(cumulative >= total * (preserve_energy / 100.0), closed) | last
    count = tf.argmax(tf.cast(stop, tf.int32), output_type=tf.int32) + 1
    return tf.cast(tf.range(tf.size(energy)) < count, tf.float32)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)


def check_compress_rate(compress_rate: float) -> None:
    """Raise ValueError unless 0 <= compress_rate < 1."""
    if not _is_number(compress_rate) or not 0.0 <= float(compress_rate) < 1.0:
        raise ValueError(f"compress_rate must be a number in [0, 1), got {compress_rate!r}")


def check_preserve_energy(preserve_energy: float) -> None:
    """Raise ValueError unless 0 < preserve_energy <= 100 (a percentage)."""
    if not _is_number(preserve_energy) or not 0.0 < float(preserve_energy) <= 100.0:
        raise ValueError("preserve_energy must be a percentage in (0, 100], "
                         f"got {preserve_energy!r}")


def _check_fft_shape(fft_shape: tuple[int, ...]) -> None:
    if len(fft_shape) not in (1, 2) or any(int(n) < 1 for n in fft_shape):
        raise ValueError(f"fft_shape must be 1 or 2 positive sizes, got {fft_shape!r}")
