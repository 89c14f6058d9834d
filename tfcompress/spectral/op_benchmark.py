"""Timing of spectral_mul, forward + backward: the compiled op against the tf.einsum path.

Both implementations are timed in the same process, interleaved repeat by
repeat, and compared by their medians, because these machines are noisy.
"""
import functools
import statistics
import time
from typing import Sequence

import tensorflow as tf

from tfcompress.spectral.op import op_loaded, spectral_mul

Shape = tuple[int, int, int, int]  # (N, C, F, K)


def _forward_backward(x: tf.Tensor, w: tf.Tensor, cotangent: tf.Tensor,
                      implementation: str) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """y = spectral_mul(x, w) and the gradients of <y, cotangent> with respect to x and w."""
    with tf.GradientTape() as tape:
        tape.watch([x, w])
        y = spectral_mul(x, w, implementation=implementation)
    dx, dw = tape.gradient(y, [x, w], output_gradients=cotangent)
    return y, dx, dw


def _random_complex(shape: Sequence[int], seed: int) -> tf.Tensor:
    """Standard complex normal values of the given shape, complex64."""
    parts = tf.random.stateless_normal([2, *shape], seed=[seed, 0])
    return tf.complex(parts[0], parts[1])


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
        n, c, f, k = shape
        x, w, cotangent = (_random_complex(s, seed) for seed, s in
                           enumerate(((n, c, k), (f, c, k), (n, f, k))))
        steps = {impl: tf.function(functools.partial(_forward_backward, implementation=impl))
                 for impl in implementations}
        for step in steps.values():
            step(x, w, cotangent)  # trace and warm up
        seconds = {impl: [] for impl in implementations}
        for _ in range(repeats):
            for impl, step in steps.items():
                start = time.perf_counter()
                step(x, w, cotangent)  # synchronous on CPU
                seconds[impl].append(time.perf_counter() - start)
        medians = {impl: statistics.median(times) for impl, times in seconds.items()}
        for impl in implementations:
            rows.append({"shape": "x".join(map(str, shape)), "implementation": impl,
                         "seconds": medians[impl], "ratio": medians["tf"] / medians[impl]})
    return rows
