"""Timing of the spectral products, forward + backward: the compiled op against the tf.einsum
path, for ``spectral_mul`` (complex (N, C, K) spectra: the fft transform) and
``spectral_mul_planar`` (planar channels-last spectra: the direct and separable transforms).

Both implementations are timed in the same process, in turn repeat by repeat
(`benchmarks.time_alternately`), and compared by their medians, because these
machines are noisy.
"""
from typing import Callable, Sequence

import tensorflow as tf

from tfcompress.benchmarks import time_alternately
from tfcompress.spectral.op import op_loaded, spectral_mul, spectral_mul_planar

Shape = tuple[int, int, int, int]  # (N, C, F, K)
PRODUCTS = ("spectral_mul", "spectral_mul_planar")


def _random_complex(shape: Sequence[int], seed: int) -> tf.Tensor:
    """Standard complex normal values of the given shape, complex64."""
    parts = tf.random.stateless_normal([2, *shape], seed=[seed, 0])
    return tf.complex(parts[0], parts[1])


def op_step(shape: Shape, implementation: str,
            product: str = "spectral_mul") -> Callable[[], tf.Tensor]:
    """A no-argument callable: y = product(x, w) on random operands for shape (N, C, F, K),
    and the gradients of <y, cotangent> with respect to x and w. ``product`` "spectral_mul":
    complex x[N,C,K], w[F,C,K]; "spectral_mul_planar": planar x[N,K,2,1,C], w[K,2,C,F]
    (its time per coefficient does not depend on how K splits into P x Q).

    It returns a scalar read from all three (what `benchmarks.time_fn` fetches to wait for
    the work), not the tensors themselves: fetching those would add host copies to every
    timing.
    """
    n, c, f, k = shape
    if product == "spectral_mul":
        shapes, multiply = ((n, c, k), (f, c, k), (n, f, k)), spectral_mul
        operands = [_random_complex(s, seed) for seed, s in enumerate(shapes)]
    elif product == "spectral_mul_planar":
        shapes, multiply = ((n, k, 2, 1, c), (k, 2, c, f), (n, k, 2, 1, f)), spectral_mul_planar
        operands = [tf.random.stateless_normal(s, seed=[seed, 0]) for seed, s in enumerate(shapes)]
    else:
        raise ValueError(f"product must be one of {PRODUCTS}, got {product!r}")

    @tf.function
    def step(x, w, cotangent):
        with tf.GradientTape() as tape:
            tape.watch([x, w])
            y = multiply(x, w, implementation=implementation)
        dx, dw = tape.gradient(y, [x, w], output_gradients=cotangent)
        return tf.math.real(sum(t[(0,) * len(t.shape)] for t in (y, dx, dw)))

    return lambda: step(*operands)


def benchmark_op(shapes: Sequence[Shape], repeats: int = 5,
                 product: str = "spectral_mul") -> list[dict]:
    """Median forward+backward seconds of ``product`` (see ``op_step``) per shape and
    implementation.

    shapes: (N, C, F, K) tuples (x[N,C,K], w[F,C,K]). Rows: shape ("NxCxFxK"),
    implementation ("tf", and "op" when the compiled library is loaded), seconds
    (median over `repeats` interleaved runs after one warm-up), ratio (tf seconds
    / these seconds, so > 1 means faster than tf.einsum).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    implementations = ["tf", "op"] if op_loaded() else ["tf"]
    rows = []
    for shape in shapes:
        if len(shape) != 4 or min(shape) < 1:
            raise ValueError(f"shape must be (N, C, F, K) of positive sizes, got {shape!r}")
        medians = time_alternately({impl: op_step(shape, impl, product)
                                    for impl in implementations}, repeats)
        for impl in implementations:
            rows.append({"shape": "x".join(map(str, shape)), "implementation": impl,
                         "seconds": medians[impl], "ratio": medians["tf"] / medians[impl]})
    return rows
