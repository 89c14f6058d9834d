"""The `spectral_mul` product: compiled custom op when loaded, pure TensorFlow otherwise.

y[n, f, k] = sum_c x[n, c, k] * conj(w[f, c, k])   (complex64)
"""
import tensorflow as tf

IMPLEMENTATIONS = ("auto", "op", "tf")


def op_loaded() -> bool:
    """Whether the compiled spectral op library is loaded (initial version: never)."""
    return False


def spectral_mul_reference(x: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
    """Pure-TensorFlow reference of spectral_mul (tf.einsum)."""
    return tf.einsum("nck,fck->nfk", x, tf.math.conj(w))


def spectral_mul(x: tf.Tensor, w: tf.Tensor, implementation: str = "auto") -> tf.Tensor:
    """Complex product x[N,C,K] * conj(w[F,C,K]) summed over C -> y[N,F,K]."""
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
    return spectral_mul_reference(x, w)
