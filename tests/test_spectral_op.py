"""spectral_mul: the compiled op and the pure-TF path against NumPy, gradients, errors.

Tests that need the compiled library skip when it is not built, unless
TFCOMPRESS_REQUIRE_OP=1, which makes them fail instead.
"""
import itertools
import logging
import os
import platform

import numpy as np
import pytest
import tensorflow as tf

import tfcompress.ops
from spectral_op_checks import assert_close, compiled_op  # noqa: F401 (compiled_op: a fixture)
from tfcompress.spectral import op as spectral_op
from tfcompress.spectral.op_benchmark import benchmark_op

# (N, C, F, K): odd sizes, N=1, K covering every row-group size of the CPU
# kernel (1, 2, 4, 8 k per group of a vector) with and without an overlapping
# last chunk of k, sizes past its cache blocks (C > 64 reduction steps,
# F > 64, N > 64), and empty reductions and outputs.
SHAPES = [(2, 3, 4, 5), (1, 1, 1, 1), (1, 7, 3, 9), (3, 5, 2, 17), (2, 4, 3, 2),
          (3, 2, 5, 3), (2, 3, 2, 8), (4, 70, 3, 37), (2, 3, 130, 12), (70, 3, 2, 7),
          (2, 0, 3, 5), (0, 3, 2, 5)]


def random_complex(rng, *shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def numpy_product(a, b, transpose_a=False, transpose_b=False, conj_a=False, conj_b=True):
    """Independent reference: out[i,j,k] = sum_r opA(i,r,k) opB(j,r,k) in complex128."""
    a = a.astype(np.complex128).transpose(1, 0, 2) if transpose_a else a.astype(np.complex128)
    b = b.astype(np.complex128).transpose(1, 0, 2) if transpose_b else b.astype(np.complex128)
    return np.einsum("irk,jrk->ijk", np.conj(a) if conj_a else a, np.conj(b) if conj_b else b)


def einsum_product(a, b, transpose_a, transpose_b, conj_a, conj_b):
    """The same product from TF ops, whose autodiff gives reference gradients."""
    a = tf.transpose(a, [1, 0, 2]) if transpose_a else a
    b = tf.transpose(b, [1, 0, 2]) if transpose_b else b
    return tf.einsum("irk,jrk->ijk", tf.math.conj(a) if conj_a else a,
                     tf.math.conj(b) if conj_b else b)


def gradients(fn, a, b, cotangent):
    a, b = tf.constant(a), tf.constant(b)
    with tf.GradientTape() as tape:
        tape.watch([a, b])
        out = fn(a, b)
    return tape.gradient(out, [a, b], output_gradients=tf.constant(cotangent))


@pytest.mark.parametrize("shape", SHAPES)
def test_tf_path_matches_numpy(shape):
    n, c, f, k = shape
    rng = np.random.default_rng(0)
    x, w = random_complex(rng, n, c, k), random_complex(rng, f, c, k)
    assert_close(tfcompress.ops.spectral_mul(x, w, implementation="tf"), numpy_product(x, w))


@pytest.mark.parametrize("shape", SHAPES)
def test_op_matches_numpy_and_tf_path(compiled_op, shape):
    n, c, f, k = shape
    rng = np.random.default_rng(1)
    x, w = random_complex(rng, n, c, k), random_complex(rng, f, c, k)
    y_op = tfcompress.ops.spectral_mul(x, w, implementation="op")
    assert y_op.shape == (n, f, k) and y_op.dtype == tf.complex64
    assert_close(y_op, numpy_product(x, w))
    assert_close(y_op, tfcompress.ops.spectral_mul(x, w, implementation="tf"))
    assert_close(tfcompress.ops.spectral_mul(x, w), y_op)  # auto uses the op


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 7, 3, 9), (4, 70, 3, 37), (70, 3, 2, 7)])
def test_op_gradients_match_autodiff_of_reference(compiled_op, shape):
    n, c, f, k = shape
    rng = np.random.default_rng(2)
    x, w = random_complex(rng, n, c, k), random_complex(rng, f, c, k)
    cotangent = random_complex(rng, n, f, k)
    got = gradients(lambda x, w: spectral_op.spectral_mul(x, w, "op"), x, w, cotangent)
    want = gradients(spectral_op.spectral_mul_reference, x, w, cotangent)
    for g, r in zip(got, want):
        assert_close(g, r)
    assert_op_gradients_match_numpy(x, w, cotangent)


@pytest.mark.parametrize("implementation", ["tf", "op"])
def test_transpose_w_reads_w_in_the_kernels_channel_order(implementation):
    if implementation == "op" and not spectral_op.op_loaded():
        pytest.skip("compiled spectral_mul op not built")
    rng = np.random.default_rng(5)
    x, w = random_complex(rng, 3, 5, 9), random_complex(rng, 4, 5, 9)
    w_cfk = np.ascontiguousarray(w.transpose(1, 0, 2))
    cotangent = random_complex(rng, 3, 4, 9)
    assert_close(spectral_op.spectral_mul(x, w_cfk, implementation, transpose_w=True),
                 numpy_product(x, w))
    dx, dw_cfk = gradients(lambda x, w: spectral_op.spectral_mul(x, w, implementation,
                                                                 transpose_w=True),
                           x, w_cfk, cotangent)
    g128 = cotangent.astype(np.complex128)
    assert_close(dx, np.einsum("nfk,fck->nck", g128, w))
    assert_close(dw_cfk, np.einsum("nfk,nck->cfk", np.conj(g128), x))
    with pytest.raises(ValueError, match=r"C \(input channels\) must match.*w\[C, F, K\]"):
        spectral_op.spectral_mul(x, w, implementation, transpose_w=True)


def assert_op_gradients_match_numpy(x, w, cotangent):
    """TF's complex convention, independently of TF: dx = g . w, dw = conj(g)^T . x."""
    dx, dw = gradients(lambda x, w: spectral_op.spectral_mul(x, w, "op"), x, w, cotangent)
    x128, w128, g128 = (v.astype(np.complex128) for v in (x, w, cotangent))
    assert_close(dx, np.einsum("nfk,fck->nck", g128, w128))
    assert_close(dw, np.einsum("nfk,nck->fck", np.conj(g128), x128))


@pytest.mark.parametrize("isa", ["avx512", "avx2", "baseline"])
def test_op_every_instruction_set_and_row_group(compiled_op, monkeypatch, isa):
    """Each instruction set the CPU kernel is built for, capped by TFCOMPRESS_MAX_CPU_ISA.

    Under each cap these shapes make the kernel pick its whole-vector path and every
    row-group size it has there (k per group of a vector), in the forward product
    and both gradients; (32, 70, 66, 21) takes the small-K path past one block of
    j and of r, with an overlapping last chunk of k. (40, 70, 66, 40) takes the
    whole-vector path past one block of i, j and r, with a last work unit of fewer
    vectors of k, and (40, 20, 70, 37) adds an overlapping last chunk of k.
    """
    monkeypatch.setenv("TFCOMPRESS_MAX_CPU_ISA", isa)
    rng = np.random.default_rng(7)
    shapes = [shape for shape in SHAPES if min(shape) > 0] + [
        (16, 3, 2, 1), (32, 70, 66, 21), (40, 70, 66, 40), (40, 20, 70, 37)]
    for n, c, f, k in shapes:
        x, w = random_complex(rng, n, c, k), random_complex(rng, f, c, k)
        assert_close(spectral_op.spectral_mul(x, w, "op"), numpy_product(x, w))
        assert_op_gradients_match_numpy(x, w, random_complex(rng, n, f, k))


def expected_cpu_isa(cap):
    """The widest of our instruction sets /proc/cpuinfo lists, at most cap (Linux x86-64)."""
    flags = set()
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    supported = [isa for isa, needs in (("avx512", {"avx512f", "avx512vl", "fma"}),
                                        ("avx2", {"avx2", "fma"}), ("baseline", set()))
                 if needs <= flags]
    order = ["avx512", "avx2", "baseline"]
    return next(isa for isa in supported if order.index(isa) >= order.index(cap))


@pytest.mark.skipif(platform.machine() != "x86_64" or not os.path.exists("/proc/cpuinfo"),
                    reason="reads x86 CPU flags from /proc/cpuinfo")
@pytest.mark.parametrize("cap", ["", "avx512", "avx2", "baseline"])
def test_cpu_isa_names_the_dispatched_instruction_set(compiled_op, monkeypatch, cap):
    monkeypatch.setenv("TFCOMPRESS_MAX_CPU_ISA", cap)
    assert spectral_op.cpu_isa() == expected_cpu_isa(cap or "avx512")
    assert tf.function(lambda: tf.constant(spectral_op.cpu_isa()))() == expected_cpu_isa(
        cap or "avx512").encode()


def test_cpu_isa_errors_and_absent_library(compiled_op, monkeypatch):
    monkeypatch.setenv("TFCOMPRESS_MAX_CPU_ISA", "avx1024")
    with pytest.raises(tf.errors.InvalidArgumentError, match='must name.*got "avx1024"'):
        spectral_op.cpu_isa()
    monkeypatch.setattr(spectral_op, "_library", lambda: None)
    assert spectral_op.cpu_isa() is None


def test_op_unknown_instruction_set_cap(compiled_op, monkeypatch):
    monkeypatch.setenv("TFCOMPRESS_MAX_CPU_ISA", "avx1024")
    x = np.ones((1, 2, 3), np.complex64)
    with pytest.raises(tf.errors.InternalError, match="TFCOMPRESS_MAX_CPU_ISA must name"):
        spectral_op.spectral_mul(x, x, "op")


def test_op_numeric_jacobian(compiled_op):
    rng = np.random.default_rng(3)
    x, w = random_complex(rng, 2, 3, 5), random_complex(rng, 2, 3, 5)
    theoretical, numerical = tf.test.compute_gradient(
        lambda x, w: spectral_op.spectral_mul(x, w, "op"), [tf.constant(x), tf.constant(w)])
    for t, n in zip(theoretical, numerical):
        np.testing.assert_allclose(t, n, atol=2e-2)


@pytest.mark.parametrize("attrs", list(itertools.product([False, True], repeat=4)))
def test_every_attribute_variant_and_its_gradients(compiled_op, attrs):
    transpose_a, transpose_b, conj_a, conj_b = attrs
    i, j, r, k = 3, 4, 5, 6
    rng = np.random.default_rng(4)
    a = random_complex(rng, *((r, i, k) if transpose_a else (i, r, k)))
    b = random_complex(rng, *((r, j, k) if transpose_b else (j, r, k)))
    cotangent = random_complex(rng, i, j, k)
    assert_close(spectral_op.spectral_mul_op(a, b, *attrs), numpy_product(a, b, *attrs))
    got = gradients(lambda a, b: spectral_op.spectral_mul_op(a, b, *attrs), a, b, cotangent)
    want = gradients(lambda a, b: einsum_product(a, b, *attrs), a, b, cotangent)
    for g, w in zip(got, want):
        assert_close(g, w)


def test_second_order_gradient(compiled_op):
    rng = np.random.default_rng(5)
    x, w = tf.constant(random_complex(rng, 2, 3, 4)), tf.constant(random_complex(rng, 3, 3, 4))

    def grad_norm(fn):
        with tf.GradientTape() as outer:
            outer.watch(w)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = fn(x, w)
                loss = tf.reduce_sum(tf.math.real(y * tf.math.conj(y)))
            dx = inner.gradient(loss, x)
            norm = tf.reduce_sum(tf.math.real(dx * tf.math.conj(dx)))
        return outer.gradient(norm, w)

    assert_close(grad_norm(lambda x, w: spectral_op.spectral_mul(x, w, "op")),
                 grad_norm(spectral_op.spectral_mul_reference))


def test_op_works_in_tf_function_with_unknown_shapes(compiled_op):
    spec = tf.TensorSpec([None, None, None], tf.complex64)
    fn = tf.function(lambda x, w: spectral_op.spectral_mul(x, w, "op"), input_signature=[spec, spec])
    rng = np.random.default_rng(6)
    x, w = random_complex(rng, 2, 3, 7), random_complex(rng, 4, 3, 7)
    assert_close(fn(x, w), numpy_product(x, w))
    with pytest.raises(tf.errors.InvalidArgumentError, match="reduction sizes differ"):
        fn(x, random_complex(rng, 4, 2, 7))


@pytest.mark.parametrize("implementation", ["tf", "op"])
def test_bad_operands_raise_clear_errors(implementation):
    x, w = np.zeros((2, 3, 5), np.complex64), np.zeros((4, 3, 5), np.complex64)
    with pytest.raises(TypeError, match="x must be complex64, got complex128"):
        tfcompress.ops.spectral_mul(x.astype(np.complex128), w, implementation)
    with pytest.raises(TypeError, match="w must be complex64, got float32"):
        tfcompress.ops.spectral_mul(x, w.real.astype(np.float32), implementation)
    with pytest.raises(ValueError, match="x must have rank 3"):
        tfcompress.ops.spectral_mul(x[0], w, implementation)
    with pytest.raises(ValueError, match=r"C \(input channels\) must match"):
        tfcompress.ops.spectral_mul(x, w[:, :2], implementation)
    with pytest.raises(ValueError, match=r"K \(frequencies\) must match"):
        tfcompress.ops.spectral_mul(x, w[..., :4], implementation)
    with pytest.raises(ValueError, match="implementation must be one of"):
        tfcompress.ops.spectral_mul(x, w, "cuda")


def test_op_shape_function_errors(compiled_op):
    a, b = np.zeros((2, 3, 5), np.complex64), np.zeros((4, 2, 5), np.complex64)
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="reduction sizes"):
        spectral_op.spectral_mul_op(a, b)
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="rank-3"):
        spectral_op.spectral_mul_op(a[0], b)
    b_transposed = np.zeros((3, 4, 4), np.complex64)
    graph = tf.function(lambda: spectral_op.spectral_mul_op(a, b_transposed, transpose_b=True))
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="frequency sizes K"):
        graph.get_concrete_function()


def test_missing_library_warns_once_and_falls_back(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv(spectral_op.LIBRARY_ENV, str(tmp_path / "nowhere.so"))
    monkeypatch.setattr(spectral_op, "_PACKAGE_DIR", tmp_path / "tfcompress")
    spectral_op._load_library.cache_clear()
    try:
        with caplog.at_level(logging.WARNING):
            assert not spectral_op.op_loaded()
            assert not tfcompress.ops.op_loaded()
        warnings = [r for r in caplog.records if "spectral_mul op is not available" in r.getMessage()]
        assert len(warnings) == 1 and "make build" in warnings[0].getMessage()
        assert "nowhere.so (absent)" in warnings[0].getMessage()
        x, w = np.ones((1, 2, 3), np.complex64), np.ones((2, 2, 3), np.complex64)
        assert_close(spectral_op.spectral_mul(x, w), numpy_product(x, w))  # auto -> tf
        with pytest.raises(RuntimeError, match="make build"):
            spectral_op.spectral_mul(x, w, implementation="op")
    finally:
        spectral_op._load_library.cache_clear()


def test_library_search_order(monkeypatch):
    monkeypatch.setenv(spectral_op.LIBRARY_ENV, "/opt/custom/spectral_ops.so")
    paths = [str(p) for p in spectral_op.library_candidates()]
    assert paths[0] == "/opt/custom/spectral_ops.so"
    assert paths[1].endswith("tfcompress/lib/_spectral_ops.so")
    assert paths[2].endswith("bazel-bin/custom_ops/spectral/spectral_ops.so")


@pytest.mark.parametrize("product", ["spectral_mul", "spectral_mul_planar"])
def test_benchmark_rows(product):
    rows = benchmark_op([(2, 3, 4, 5)], repeats=1, product=product)
    implementations = ["tf", "op"] if spectral_op.op_loaded() else ["tf"]
    assert [r["implementation"] for r in rows] == implementations
    assert all(r["shape"] == "2x3x4x5" and r["seconds"] > 0 for r in rows)
    assert rows[0]["ratio"] == 1.0
    with pytest.raises(ValueError, match="product must be one of"):
        benchmark_op([(2, 3, 4, 5)], repeats=1, product="planar")
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        benchmark_op([(2, 3, 4, 5)], repeats=0)
    with pytest.raises(ValueError, match=r"\(N, C, F, K\)"):
        benchmark_op([(2, 3, 4)], repeats=1)
