"""Timing of spectral_mul, forward + backward: the compiled op against the tf.einsum path.

Both implementations are timed in the same process, in turn repeat by repeat
(`benchmarks.time_alternately`), and compared by their medians, because these
machines are noisy.
"""
from typing import Callable, Sequence

import tensorflow as tf

from tfcompress.benchmarks import time_alternately
from tfcompress.spectral.op import op_loaded, spectral_mul

Shape = tuple[int, int, int, int]  # (N, C, F, K)


def _random_complex(shape: Sequence[int], seed: int) -> tf.Tensor:
    """Standard complex normal values of the given shape, complex64."""
    parts = tf.random.stateless_normal([2, *shape], seed=[seed, 0])
    return tf.complex(parts[0], parts[1])


def op_step(shape: Shape, implementation: str) -> Callable[[], tf.Tensor]:
    """A no-argument callable: y = spectral_mul(x, w) on random x[N,C,K], w[F,C,K] for
    shape (N, C, F, K), and the gradients of <y, cotangent> with respect to x and w.

    It returns a scalar read from all three (what `benchmarks.time_fn` fetches to wait for
    the work), not the tensors themselves: fetching those would add host copies to every
    timing.
    """
    n, c, f, k = shape
    x, w, cotangent = (_random_complex(s, seed) for seed, s in
                       enumerate(((n, c, k), (f, c, k), (n, f, k))))

    @tf.function
    def step(x, w, cotangent):
        with tf.GradientTape() as tape:
            tape.watch([x, w])
            y = spectral_mul(x, w, implementation=implementation)
        dx, dw = tape.gradient(y, [x, w], output_gradients=cotangent)
        return tf.math.real(y[0, 0, 0] + dx[0, 0, 0] + dw[0, 0, 0])

    return lambda: step(x, w, cotangent)


def benchmark_op(shapes: Sequence[Shape], repeats: int = 5) -> list[dict]:
    """Median forward+backward seconds of spectral_mul per shape and implementation.

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
        medians = time_alternately({impl: op_step(shape, impl) for impl in implementations},
                                   repeats)
        for impl in implementations:
            rows.append({"shape": "x".join(map(str, shape)), "implementation": impl,
                         "seconds": medians[impl], "ratio": medians["tf"] / medians[impl]})
    return rows
