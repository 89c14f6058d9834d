"""The spectral products: compiled custom ops when loaded, pure TensorFlow otherwise.

`spectral_mul`, on complex spectra (the fft transform's):

    y[n, f, k] = sum_c x[n, c, k] * conj(w[f, c, k])   (complex64)

is one kernel, `SpectralMul`, with attributes that transpose or conjugate each
operand:

    product[i, j, k] = sum_r opA(i, r, k) * opB(j, r, k)

so that the forward product and both of its gradients are the same kernel
reading its operands in place (no permuted copies). `spectral_mul_planar` is
the same product on planar channels-last spectra (float32 x[N, P, 2, Q, C],
the direct and separable transforms'), the `SpectralMulPlanar` kernel in three
modes (forward, grad_x, grad_w) over an optional band. Both CPU kernels pick
AVX-512, AVX2 or baseline vectors at run time (`cpu_isa()` says which). Both
are in one library (custom_ops/spectral, built by `make build`), searched for,
in order, at $TFCOMPRESS_OP_LIBRARY,
tfcompress/lib/_spectral_ops.so and
<repo>/bazel-bin/custom_ops/spectral/spectral_ops.so, and loaded once.
"""
import functools
import os
import pathlib
import threading
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import tensorflow as tf
from absl import logging

IMPLEMENTATIONS = ("auto", "op", "tf")
LIBRARY_ENV = "TFCOMPRESS_OP_LIBRARY"
_PACKAGE_DIR = pathlib.Path(__file__).resolve().parents[1]
_BUILD_HINT = (f"build it with `make build` (Bazel), or set {LIBRARY_ENV} to the path "
               "of a built spectral_ops.so")


def library_candidates() -> list[pathlib.Path]:
    """Paths searched for the compiled op library, in order."""
    paths = [pathlib.Path(os.environ[LIBRARY_ENV])] if os.environ.get(LIBRARY_ENV) else []
    return paths + [_PACKAGE_DIR / "lib" / "_spectral_ops.so",
                    _PACKAGE_DIR.parent / "bazel-bin" / "custom_ops" / "spectral" / "spectral_ops.so"]


_LOAD_LOCK = threading.Lock()


def _library():
    """The loaded op module, or None; searched once, even from concurrent replica threads."""
    with _LOAD_LOCK:
        return _load_library()


@functools.cache
def _load_library():
    """The loaded op module, or None after one warning naming what was tried."""
    tried = []
    for path in library_candidates():
        if not path.is_file():
            tried.append(f"{path} (absent)")
            continue
        try:
            return tf.load_op_library(str(path))
        except (tf.errors.OpError, OSError) as err:  # stale ABI, missing symbols
            tried.append(f"{path} (failed to load: {err})")
    logging.warning("tfcompress: the compiled spectral_mul op is not available [%s]; using the "
                    "slower pure-TensorFlow path (tf.einsum). To use the op, %s.",
                    "; ".join(tried), _BUILD_HINT)
    return None


def op_loaded() -> bool:
    """Whether the compiled spectral op library is loaded (loads it on first call)."""
    return _library() is not None


def cpu_isa() -> str | None:
    """The instruction set the compiled CPU kernel dispatches to now, or None without the op.

    "avx512", "avx2" or "baseline": the widest this CPU supports, capped by
    $TFCOMPRESS_MAX_CPU_ISA when set, as chosen by the library's own dispatch
    (its SpectralMulCpuIsa op). None also for a library built before that op.
    An unknown name in that variable raises tf.errors.InvalidArgumentError.
    Runs eagerly, also inside a tf.function.
    """
    library = _library()
    if library is None or not hasattr(library, "spectral_mul_cpu_isa"):
        return None
    with tf.init_scope(), tf.device("/CPU:0"):
        return library.spectral_mul_cpu_isa().numpy().decode()


def spectral_mul_reference(x: tf.Tensor, w: tf.Tensor, transpose_w: bool = False) -> tf.Tensor:
    """Pure-TensorFlow reference of spectral_mul (tf.einsum)."""
    return tf.einsum("nck,cfk->nfk" if transpose_w else "nck,fck->nfk", x, tf.math.conj(w))


def _check_operands(x: tf.Tensor, w: tf.Tensor, transpose_w: bool) -> None:
    """Raises a clear error unless x[N,C,K] and w[F,C,K] (w[C,F,K] with ``transpose_w``) are
    complex64 with matching C and K."""
    w_layout = "w[C, F, K]" if transpose_w else "w[F, C, K]"
    for name, t, layout in (("x", x, "x[N, C, K]"), ("w", w, w_layout)):
        if t.dtype != tf.complex64:
            raise TypeError(f"spectral_mul: {name} must be complex64, got {t.dtype.name}")
        if t.shape.rank is not None and t.shape.rank != 3:
            raise ValueError(f"spectral_mul: {name} must have rank 3 ({layout}), "
                             f"got shape {t.shape}")
    for x_axis, w_axis, what in ((1, 0 if transpose_w else 1, "C (input channels)"),
                                 (2, 2, "K (frequencies)")):
        if (x.shape.rank and w.shape.rank and x.shape[x_axis] is not None
                and w.shape[w_axis] is not None and x.shape[x_axis] != w.shape[w_axis]):
            raise ValueError(f"spectral_mul: {what} must match, got x of shape {x.shape} "
                             f"and {w_layout} of shape {w.shape}")


def spectral_mul(x: tf.Tensor, w: tf.Tensor, implementation: str = "auto",
                 transpose_w: bool = False) -> tf.Tensor:
    """Complex product x[N,C,K] * conj(w[F,C,K]) summed over C -> y[N,F,K].

    implementation: "op" (the compiled kernel; error when it is not built),
    "tf" (tf.einsum), or "auto" (the op when loaded, else tf). Both agree to
    float32 rounding and have the same gradients. ``transpose_w``: w is stored
    w[C, F, K], the channel order of a Keras kernel (the op reads it in place).
    """
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
    x = tf.convert_to_tensor(x)
    w = tf.convert_to_tensor(w)
    _check_operands(x, w, transpose_w)
    if implementation == "tf" or (implementation == "auto" and not op_loaded()):
        return spectral_mul_reference(x, w, transpose_w)
    return _require_library("spectral_mul(implementation='op')").spectral_mul(
        x, w, transpose_b=transpose_w)


def _require_library(caller: str):
    """The loaded op module; RuntimeError saying how to build it when absent."""
    library = _library()
    if library is None:
        raise RuntimeError(f"{caller}: the compiled op library is not loaded (searched "
                           f"{[str(p) for p in library_candidates()]}); {_BUILD_HINT}, "
                           "or use implementation='tf'")
    return library


class _Operand(NamedTuple):
    """A tensor read as op(i, r): stored [r, i] when transposed, conjugated when conj."""
    tensor: tf.Tensor
    transposed: bool
    conj: bool


def _product(p: _Operand, q: _Operand) -> tf.Tensor:
    """out[i, j, k] = sum_r p(i, r, k) * q(j, r, k), one SpectralMul call."""
    return _require_library("SpectralMul").spectral_mul(
        p.tensor, q.tensor, transpose_a=p.transposed, transpose_b=q.transposed,
        conj_a=p.conj, conj_b=q.conj)


@tf.RegisterGradient("SpectralMul")
def _spectral_mul_grad(op: tf.Operation, grad: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Gradients of SpectralMul as two more SpectralMul calls (TF's complex convention).

    For out(i, j) = sum_r opA(i, r) opB(j, r), TF's gradient with respect to
    opA is sum_j grad(i, j) conj(opB(j, r)) (as for tf.matmul); when opA =
    conj(a) the gradient of a is its conjugate, so grad is conjugated iff
    conj_a and b iff conj_a == conj_b. Likewise for b. A transposed operand
    gets its gradient written transposed by swapping the product's operands.
    """
    a, b = op.inputs
    transpose_a, transpose_b, conj_a, conj_b = (
        op.get_attr(name) for name in ("transpose_a", "transpose_b", "conj_a", "conj_b"))
    same_conj = conj_a == conj_b
    # grad_a(i, r) = sum_j grad(i, j) * b(r, j), each read and conjugated as above.
    g_rows_i = _Operand(grad, False, conj_a)
    b_rows_r = _Operand(b, not transpose_b, same_conj)
    grad_a = (_product(b_rows_r, g_rows_i) if transpose_a else _product(g_rows_i, b_rows_r))
    # grad_b(j, r) = sum_i grad'(i, j) * a'(r, i).
    g_rows_j = _Operand(grad, True, conj_b)
    a_rows_r = _Operand(a, not transpose_a, same_conj)
    grad_b = (_product(a_rows_r, g_rows_j) if transpose_b else _product(g_rows_j, a_rows_r))
    return grad_a, grad_b


def _complex_of_planes(t: tf.Tensor, axis: int) -> tf.Tensor:
    """Complex64 view (a copy) of a planar spectrum with its re/im planes on ``axis``."""
    real, imag = tf.unstack(t, 2, axis=axis)
    return tf.complex(real, imag)


def _planes_of_complex(z: tf.Tensor, axis: int) -> tf.Tensor:
    """The planar float32 spectrum of complex ``z``, re/im planes on ``axis``."""
    return tf.stack([tf.math.real(z), tf.math.imag(z)], axis)


def _band_mask(columns: Sequence[int], rows: int, width: int) -> np.ndarray:
    """(P, Q) bool mask of the band: q < columns[p]; all True for empty columns."""
    columns = np.full(rows, width) if len(columns) == 0 else np.asarray(columns)
    return np.arange(width)[None, :] < columns[:, None]


def band_size(columns: Sequence[int], rows: int, width: int) -> int:
    """K: how many of the P x Q coefficients the band ``columns`` holds (all, when empty)."""
    return int(_band_mask(columns, rows, width).sum())


def spectral_mul_planar_reference(a: tf.Tensor, b: tf.Tensor, columns: Sequence[int] = (),
                                  mode: str = "forward") -> tf.Tensor:
    """Pure-TensorFlow reference of the SpectralMulPlanar op (a complex tf.einsum over the box,
    masked to the band ``columns``); ``mode`` as the op's: forward (x, w), grad_x (dy, w),
    grad_w (x, dy). w and dw hold the band only, [K, 2, C, F]."""
    rows, width = a.shape[1], a.shape[3]
    mask = _band_mask(columns, rows, width)
    a = _complex_of_planes(a, 2)
    if mode == "grad_w":
        out = tf.einsum("npqc,npqf->pqcf", a, tf.math.conj(_complex_of_planes(b, 2)))
        return _planes_of_complex(tf.boolean_mask(out, mask), 1)
    # The band's K rows of w into the box: coefficients outside it read an appended zero row.
    slot = np.full(mask.shape, mask.sum())
    slot[mask] = np.arange(mask.sum())
    w = _complex_of_planes(b, 1)
    w = tf.gather(tf.concat([w, tf.zeros_like(w[:1])], 0), slot)
    if mode == "forward":
        out = tf.einsum("npqc,pqcf->npqf", a, tf.math.conj(w))
    else:
        out = tf.einsum("npqf,pqcf->npqc", a, w)
    return _planes_of_complex(out * mask[..., None].astype(np.complex64), 2)


def spectral_mul_planar(x: tf.Tensor, w: tf.Tensor, implementation: str = "auto",
                        columns: Sequence[int] = ()) -> tf.Tensor:
    """The spectral product on planar channels-last spectra: x[N, P, 2, Q, C] (float32, real
    and imaginary planes on axis 2, P x Q coefficients) times conj(w) summed over C ->
    y[N, P, 2, Q, F]. The layout in which GEMMs on an NHWC input write a separable DFT
    (``transforms``), so the layer needs no NHWC/NCHW transpose. ``columns`` (P static
    counts, or empty for the whole box) restricts it to the band q < columns[p], zero
    elsewhere. w[K, 2, C, F] holds the K coefficients of the band only (all P x Q for an
    empty ``columns``), row-major: coefficient (p, q) is row columns[0] + ... + columns[p-1]
    + q; its gradient likewise.
    ``implementation`` as for ``spectral_mul``; gradients are the op's other modes over the
    same band (or autodiff of the reference).
    """
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
    x = tf.convert_to_tensor(x)
    w = tf.convert_to_tensor(w)
    for name, t, layout in (("x", x, "[N, P, 2, Q, C]"), ("w", w, "[K, 2, C, F]")):
        if t.dtype != tf.float32 or t.shape.rank != len(layout.split(",")):
            raise ValueError(f"spectral_mul_planar: {name} must be a float32 {layout} planar "
                             f"spectrum, got {t.dtype.name} of shape {t.shape}")
    if None in x.shape[1:]:
        raise ValueError(f"spectral_mul_planar: x [N, P, 2, Q, C] needs static P, Q and C, "
                         f"got shape {x.shape}")
    rows, width = x.shape[1], x.shape[3]
    if len(columns) not in (0, rows):
        raise ValueError(f"spectral_mul_planar: columns must be empty or hold one count per row "
                         f"P = {rows}, got {len(columns)}")
    if len(columns) and not all(0 <= c <= width for c in columns):
        raise ValueError(f"spectral_mul_planar: every count in columns must be in [0, Q = "
                         f"{width}], got {list(columns)}")
    size = band_size(columns, rows, width)
    if not w.shape.is_compatible_with([size, 2, x.shape[4], None]):
        raise ValueError(f"spectral_mul_planar: w must be [K, 2, C, F] with K = {size}, the "
                         f"band's coefficients, and C = {x.shape[4]}, x's channels; got x of "
                         f"shape {x.shape}, w of shape {w.shape} and columns {list(columns)}")
    if implementation == "tf" or (implementation == "auto" and not op_loaded()):
        return spectral_mul_planar_reference(x, w, columns)
    return _require_library("spectral_mul_planar(implementation='op')").spectral_mul_planar(
        x, w, np.asarray(columns, np.int64).reshape(-1), mode="forward", band_size=size)


@tf.RegisterGradient("SpectralMulPlanar")
def _spectral_mul_planar_grad(op: tf.Operation,
                              grad: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, None]:
    """Gradients of each SpectralMulPlanar mode as calls of the others over the same band (per
    coefficient, TF's complex convention, as for ``_spectral_mul_grad``): forward y = x conj(w)
    gives dx = grad_x(g, w), dw = grad_w(x, g); grad_x dx = dy w gives d(dy) = forward(g, w),
    dw = grad_w(g, dy); grad_w dw = x^T conj(dy) gives dx = grad_x(dy, g),
    d(dy) = forward(x, g)."""
    a, b, columns = op.inputs
    library = _require_library("SpectralMulPlanar")
    size = op.get_attr("band_size")

    def call(p, q, mode):
        return library.spectral_mul_planar(p, q, columns, mode=mode, band_size=size)

    mode = op.get_attr("mode").decode()
    if mode == "forward":
        return call(grad, b, "grad_x"), call(a, grad, "grad_w"), None
    if mode == "grad_x":
        return call(grad, b, "forward"), call(grad, a, "grad_w"), None
    return call(b, grad, "grad_x"), call(a, grad, "forward"), None


def spectral_mul_op(a: tf.Tensor, b: tf.Tensor, transpose_a: bool = False,
                    transpose_b: bool = False, conj_a: bool = False,
                    conj_b: bool = True) -> tf.Tensor:
    """The compiled SpectralMul with all its attributes (see the module docstring)."""
    return _product(_Operand(a, transpose_a, conj_a), _Operand(b, transpose_b, conj_b))
