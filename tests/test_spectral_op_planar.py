"""spectral_mul_planar: the channels-last op and its pure-TF path against NumPy, every mode,
the band, every instruction set, gradients (also numerical and second order), errors.

Tests that need the compiled library skip when it is not built, unless
TFCOMPRESS_REQUIRE_OP=1, which makes them fail instead.
"""
import numpy as np
import pytest
import tensorflow as tf

from spectral_op_checks import assert_close, compiled_op  # noqa: F401 (compiled_op: a fixture)
from tfcompress.spectral import op as spectral_op

# (N, P, Q, C, F): odd sizes, N=1, channel counts past the CPU kernel's vector width with
# and without whole tiles (the in-place and packed paths), past its blocks of rows, columns
# and reduction steps (64), and one empty batch.
SHAPES = [(2, 3, 2, 5, 4), (1, 1, 1, 1, 1), (3, 2, 3, 7, 33), (2, 2, 2, 64, 64),
          (70, 2, 1, 3, 5), (2, 1, 2, 130, 96), (33, 2, 2, 48, 17), (0, 2, 2, 3, 4)]


def planar(rng, *shape, axis):
    """A random float32 planar spectrum with its re/im planes (size 2) inserted at ``axis``."""
    shape = list(shape)
    shape.insert(axis, 2)
    return rng.standard_normal(shape).astype(np.float32)


def as_complex(t, axis):
    t = np.moveaxis(np.asarray(t, np.float64), axis, 0)
    return t[0] + 1j * t[1]


def band_mask(columns, p, q):
    """(P, Q) bool mask of the band (all True for no columns)."""
    columns = np.full(p, q) if len(columns) == 0 else np.asarray(columns)
    return np.arange(q)[None] < columns[:, None]


def numpy_modes(x, w, g, columns=()):
    """Independent complex128 reference of y (forward), dx (grad_x) and dw (grad_w); w and dw
    hold the band's coefficients only, row-major."""
    xc, gc = as_complex(x, 2), as_complex(g, 2)
    mask = band_mask(columns, xc.shape[1], xc.shape[2])
    wc = np.zeros(mask.shape + w.shape[2:], complex)
    wc[mask] = as_complex(w, 1)
    y = np.einsum("npqc,pqcf->npqf", xc, np.conj(wc)) * mask[..., None]
    dx = np.einsum("npqf,pqcf->npqc", gc, wc) * mask[..., None]
    dw = np.einsum("npqc,npqf->pqcf", xc, np.conj(gc))[mask]
    return y, dx, dw


def check_against_numpy(implementation, n, p, q, c, f, columns=(), seed=0):
    """Forward and both gradients (as the op's registered gradient computes them)."""
    rng = np.random.default_rng(seed)
    k = int(band_mask(columns, p, q).sum())
    x, w, g = planar(rng, n, p, q, c, axis=2), planar(rng, k, c, f, axis=1), \
        planar(rng, n, p, q, f, axis=2)
    x_t, w_t = tf.constant(x), tf.constant(w)
    with tf.GradientTape() as tape:
        tape.watch([x_t, w_t])
        y = spectral_op.spectral_mul_planar(x_t, w_t, implementation, columns)
    dx, dw = tape.gradient(y, [x_t, w_t], output_gradients=tf.constant(g))
    want_y, want_dx, want_dw = numpy_modes(x, w, g, columns)
    assert_close(as_complex(y, 2), want_y)
    # The real gradient of a real loss is (Re, Im) of TF's complex gradient.
    assert_close(as_complex(dx, 2), want_dx)
    assert_close(as_complex(dw, 1), want_dw)


@pytest.mark.parametrize("shape", SHAPES)
def test_tf_path_matches_numpy(shape):
    check_against_numpy("tf", *shape)


@pytest.mark.parametrize("shape", SHAPES)
def test_op_matches_numpy(compiled_op, shape):
    check_against_numpy("op", *shape)


@pytest.mark.parametrize("implementation", ["tf", "op"])
def test_band_computes_leading_columns_and_zeros_the_rest(implementation, request):
    if implementation == "op":
        request.getfixturevalue("compiled_op")
    check_against_numpy(implementation, 3, 4, 5, 33, 20, columns=[5, 3, 0, 1])


@pytest.mark.parametrize("isa", ["avx512", "avx2", "baseline"])
def test_op_every_instruction_set(compiled_op, monkeypatch, isa):
    """Each instruction set's tiles, in place and packed, with edges of rows and columns."""
    monkeypatch.setenv("TFCOMPRESS_MAX_CPU_ISA", isa)
    for shape in SHAPES[:-1] + [(37, 2, 3, 64, 64), (5, 3, 2, 70, 66)]:
        check_against_numpy("op", *shape, columns=[shape[2] - 1] * shape[1], seed=1)


def test_op_numeric_jacobian(compiled_op):
    rng = np.random.default_rng(3)
    x, w = planar(rng, 2, 2, 3, 3, axis=2), planar(rng, 5, 3, 4, axis=1)
    theoretical, numerical = tf.test.compute_gradient(
        lambda x, w: spectral_op.spectral_mul_planar(x, w, "op", [3, 2]),
        [tf.constant(x), tf.constant(w)])
    for t, n in zip(theoretical, numerical):
        np.testing.assert_allclose(t, n, atol=2e-2)


def test_second_order_gradient(compiled_op):
    """Gradients of the gradient modes (grad_x, grad_w) match autodiff of the reference."""
    rng = np.random.default_rng(5)
    x, w = tf.constant(planar(rng, 2, 2, 3, 4, axis=2)), tf.constant(planar(rng, 4, 4, 5, axis=1))

    def grad_norm(implementation):
        with tf.GradientTape() as outer:
            outer.watch([x, w])
            with tf.GradientTape() as inner:
                inner.watch([x, w])
                y = spectral_op.spectral_mul_planar(x, w, implementation, [3, 1])
                loss = tf.reduce_sum(tf.sin(y))
            dx, dw = inner.gradient(loss, [x, w])
            norm = tf.reduce_sum(dx * dx) + tf.reduce_sum(dw * dw)
        return outer.gradient(norm, [x, w])

    for got, want in zip(grad_norm("op"), grad_norm("tf")):
        assert_close(got, want)


@pytest.mark.parametrize("implementation", ["tf", "op"])
def test_bad_operands_raise_clear_errors(implementation):
    x, w = np.zeros((2, 3, 2, 4, 5), np.float32), np.zeros((12, 2, 5, 6), np.float32)
    with pytest.raises(ValueError, match=r"x must be a float32 \[N, P, 2, Q, C\].*complex64"):
        spectral_op.spectral_mul_planar(x.astype(np.complex64), w, implementation)
    with pytest.raises(ValueError, match=r"w must be a float32 \[K, 2, C, F\].*\(12, 2, 5\)"):
        spectral_op.spectral_mul_planar(x, w[..., 0], implementation)
    with pytest.raises(ValueError, match=r"C = 5, x's channels.*\(12, 2, 4, 6\)"):
        spectral_op.spectral_mul_planar(x, w[:, :, :4], implementation)
    with pytest.raises(ValueError, match="implementation must be one of"):
        spectral_op.spectral_mul_planar(x, w, "cuda")


@pytest.mark.parametrize("implementation", ["tf", "op"])
def test_a_band_of_the_wrong_length_is_an_error(implementation):
    x, w = np.zeros((2, 3, 2, 4, 5), np.float32), np.zeros((6, 2, 5, 6), np.float32)
    with pytest.raises(ValueError, match="one count per row P = 3, got 2"):
        spectral_op.spectral_mul_planar(x, w, implementation, [1, 2])
    with pytest.raises(ValueError, match=r"in \[0, Q = 4\], got \[5, 0, 1\]"):
        spectral_op.spectral_mul_planar(x, w, implementation, [5, 0, 1])
    with pytest.raises(ValueError, match=r"K = 5, the band's coefficients.*\(6, 2, 5, 6\)"):
        spectral_op.spectral_mul_planar(x, w, implementation, [3, 2, 0])


def test_op_kernel_checks_the_band(compiled_op):
    """The raw op (no Python checks): the band's length, its counts and its size."""
    x, w = np.zeros((2, 3, 2, 4, 5), np.float32), np.zeros((6, 2, 5, 6), np.float32)
    library = spectral_op._require_library("test")
    with pytest.raises(tf.errors.InvalidArgumentError, match="one count per row P = 3"):
        library.spectral_mul_planar(x, w, [1, 2], band_size=6)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"columns\[0\] must be in \[0, Q = 4\], got 5"):
        library.spectral_mul_planar(x, w, [5, 0, 1], band_size=6)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"sum\(columns\) = 5, got 6"):
        library.spectral_mul_planar(x, w, [3, 2, 0], band_size=6)
    with pytest.raises(tf.errors.InvalidArgumentError, match="band_size must be P x Q = 12, got 6"):
        library.spectral_mul_planar(x, w, np.zeros([0], np.int64), band_size=6)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"b must have shape \[6,2,5,6\].*\[6,2,4,6\]"):
        library.spectral_mul_planar(x, w[:, :, :4], [3, 2, 1], band_size=6)
