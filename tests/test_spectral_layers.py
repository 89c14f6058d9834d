"""SpectralConv1D/2D against tf.nn.conv, an independent NumPy band-limited reference, gradients."""
import dataclasses
import math
import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfcompress import SpectralConv1D, SpectralConv2D
from tfcompress.spectral import transforms
from tfcompress.spectral.fft_conv import make_plan, spectral_conv
from tfcompress.spectral.op import op_loaded

RNG = np.random.default_rng(0)


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------- NumPy reference
def same_pads(size, k, s):
    total = max((math.ceil(size / s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def numpy_band(fft_shape, rate):
    """Boolean mask over the rfft half spectrum: the band written from the spec, without bands.py."""
    height, width = (fft_shape[0], fft_shape[1]) if len(fft_shape) == 2 else (1, fft_shape[0])
    half = width // 2 + 1
    coefficients = []
    for fy in range(height):
        for fx in range(half):
            a = min(fy, height - fy)
            coefficients.append(((a * width) ** 2 + (fx * height) ** 2, a, fx, fy > height - fy, fy))
    coefficients.sort()
    count = max(1, int(round((1 - rate) * len(coefficients))))
    kept = {(c[4], c[2]) for c in coefficients[:count]}
    fy, fx = coefficients[count - 1][4], coefficients[count - 1][2]
    if fx == 0 or 2 * fx == width:  # never keep half of a conjugate pair
        kept.add(((height - fy) % height, fx))
    mask = np.zeros((height, half), bool)
    for fy, fx in kept:
        mask[fy, fx] = True
    return mask if len(fft_shape) == 2 else mask[0]


def numpy_spectral_conv(x, w, strides, padding, rate, fft_size="minimal"):
    """Band-limited cross-correlation with numpy.fft, written from the spec: a circular
    correlation on the grid L per axis (minimal: n + max(pad before, after); linear:
    padded + k - 1) of x zero-extended to L with tap u of w at (u - pad before) mod L,
    its spectrum masked, read at the strided output positions."""
    rank = w.ndim - 2
    strides = (strides,) * rank
    spatial, kernel = x.shape[1:-1], w.shape[:-2]
    pads = [same_pads(n, k, s) if padding == "same" else (0, 0)
            for n, k, s in zip(spatial, kernel, strides)]
    fft_shape = tuple(n + max(p) if fft_size == "minimal" else n + sum(p) + k - 1
                      for n, k, p in zip(spatial, kernel, pads))
    shifted = np.zeros((*fft_shape, *w.shape[-2:]))
    for tap in np.ndindex(*kernel):  # np.add.at: taps that land on one grid point add up
        at = tuple((u - before) % size for u, (before, _), size in zip(tap, pads, fft_shape))
        np.add.at(shifted, at, w[tap].astype(np.float64))
    axes = tuple(range(1, rank + 1))
    xf = np.fft.rfftn(x.astype(np.float64), s=fft_shape, axes=axes)   # N, *spectrum, C
    wf = np.fft.rfftn(shifted, axes=tuple(range(rank)))                # *spectrum, C, F
    mask = numpy_band(fft_shape, rate)
    yf = np.einsum("n...c,...cf->n...f", xf, np.conj(wf)) * mask[None, ..., None]
    y = np.fft.irfftn(yf, s=fft_shape, axes=axes)
    window = tuple(slice(0, n + sum(p) - k + 1, s)
                   for n, k, s, p in zip(spatial, kernel, strides, pads))
    return y[(slice(None),) + window].astype(np.float32)


# ---------------------------------------------------------------- exactness at r = 0
@pytest.mark.parametrize("shape,kernel,strides,padding", [
    ((1, 7, 7, 3), (3, 3), 1, "same"), ((2, 8, 6, 3), (3, 3), 2, "same"),
    ((2, 9, 8, 2), (4, 5), 2, "valid"), ((3, 6, 7, 2), (2, 2), 1, "valid"),
    ((2, 5, 5, 4), (5, 5), 1, "valid"), ((1, 10, 9, 2), (1, 1), 2, "same"),
])
def test_rate_zero_equals_conv2d(shape, kernel, strides, padding):
    x, w, b = randn(*shape), randn(*kernel, shape[-1], 4), randn(4)
    layer = SpectralConv2D(4, kernel, strides=strides, padding=padding)
    layer.build(shape)
    layer.set_weights([w, b])
    expected = tf.nn.bias_add(tf.nn.conv2d(x, w, strides, padding.upper()), b)
    np.testing.assert_allclose(layer(x), expected, atol=2e-5 * np.abs(expected).max())


@pytest.mark.parametrize("length,kernel,strides,padding", [
    (16, 5, 1, "same"), (17, 4, 2, "same"), (20, 7, 3, "valid"), (9, 9, 1, "valid")])
def test_rate_zero_equals_conv1d(length, kernel, strides, padding):
    x, w = randn(2, length, 3), randn(kernel, 3, 5)
    conv = keras.layers.Conv1D(5, kernel, strides=strides, padding=padding)
    conv.build(x.shape)
    conv.set_weights([w, randn(5)])
    layer = SpectralConv1D(5, kernel, strides=strides, padding=padding)
    layer.build(x.shape)
    layer.set_weights(conv.get_weights())  # drop-in: same kernel layout as Conv1D
    np.testing.assert_allclose(layer(x), conv(x), atol=2e-5 * np.abs(conv(x)).max())


@pytest.mark.parametrize("transform", ["fft", "direct", "separable"])
@pytest.mark.parametrize("shape,kernel,strides,padding", [
    ((2, 7, 7), (3, 3), 1, "same"), ((2, 8, 6), (3, 3), 2, "same"),
    ((2, 9, 8), (4, 5), 2, "valid"), ((1, 10, 9), (1, 1), 2, "same"),
    ((2, 16), (3,), 1, "same"), ((2, 17), (4,), 2, "same"), ((2, 20), (7,), 3, "valid")])
@pytest.mark.parametrize("fft_size", ["minimal", "linear"])
def test_every_transform_equals_conv_at_rate_zero(transform, shape, kernel, strides, padding,
                                                  fft_size):
    if transform == "separable" and len(kernel) == 1:
        pytest.skip("the separable transform is 2-D only")
    x, w = randn(*shape, 3), randn(*kernel, 3, 4)
    expected = tf.nn.convolution(x, w, strides, padding.upper())
    got = spectral_conv(x, w, strides, padding, transform=transform, fft_size=fft_size)
    np.testing.assert_allclose(got, expected, atol=2e-5 * np.abs(expected).max())


# ---------------------------------------------------------------- band-limited against NumPy
@pytest.mark.parametrize("fft_size", ["minimal", "linear"])
@pytest.mark.parametrize("transform", ["fft", "direct", "separable"])
@pytest.mark.parametrize("rate", [0.3, 0.5, 0.8])
@pytest.mark.parametrize("shape,kernel,strides,padding", [
    ((2, 8, 8, 3), (3, 3), 1, "same"), ((1, 7, 9, 2), (3, 2), 2, "same"),
    ((2, 9, 6, 2), (4, 3), 1, "valid"), ((1, 2, 3, 2), (5, 4), 1, "same")])
def test_band_limited_2d_matches_numpy(fft_size, transform, rate, shape, kernel, strides, padding):
    x, w = randn(*shape), randn(*kernel, shape[-1], 3)
    got = spectral_conv(x, w, strides, padding, compress_rate=rate, transform=transform,
                        fft_size=fft_size)
    expected = numpy_spectral_conv(x, w, strides, padding, rate, fft_size)
    np.testing.assert_allclose(got, expected, atol=1e-5 * np.abs(expected).max() + 1e-6)


@pytest.mark.parametrize("fft_size", ["minimal", "linear"])
@pytest.mark.parametrize("transform", ["fft", "direct"])
@pytest.mark.parametrize("rate", [0.25, 0.6])
@pytest.mark.parametrize("strides,padding", [(1, "same"), (2, "valid")])
def test_band_limited_1d_matches_numpy(fft_size, transform, rate, strides, padding):
    x, w = randn(3, 21, 2), randn(6, 2, 4)
    got = spectral_conv(x, w, strides, padding, compress_rate=rate, transform=transform,
                        fft_size=fft_size)
    np.testing.assert_allclose(got, numpy_spectral_conv(x, w, strides, padding, rate, fft_size),
                               atol=2e-5)


@pytest.mark.parametrize("spatial,kernel,strides,padding,minimal,linear", [
    ((32, 32), (3, 3), (1, 1), "same", (33, 33), (36, 36)),
    ((4, 4), (3, 3), (1, 1), "same", (5, 5), (8, 8)),
    ((32, 32), (3, 3), (2, 2), "same", (33, 33), (35, 35)),  # pads (0, 1)
    ((32, 32), (1, 1), (2, 2), "same", (32, 32), (32, 32)),
    ((9, 6), (4, 3), (1, 1), "valid", (9, 6), (12, 8)),
    ((150,), (8,), (1,), "same", (154,), (164,))])  # pads (3, 4)
def test_fft_size_minimal_is_input_plus_the_larger_pad(spatial, kernel, strides, padding,
                                                       minimal, linear):
    for fft_size, want in (("minimal", minimal), ("linear", linear)):
        plan = make_plan(spatial, kernel, strides, padding, 0.5, fft_size=fft_size)
        assert plan.fft_shape == want, fft_size
    with pytest.raises(ValueError, match="fft_size must be one of .*'circular'"):
        make_plan(spatial, kernel, strides, padding, 0.5, fft_size="circular")


def test_fft_size_is_configured_and_older_spectral_configs_keep_linear():
    assert SpectralConv2D(4, 3).fft_size == "minimal"
    config = SpectralConv2D(4, 3, compress_rate=0.5, fft_size="linear").get_config()
    assert SpectralConv2D.from_config(config).fft_size == "linear"
    # A spectral config written before fft_size existed: the grid it was trained on.
    del config["fft_size"]
    assert SpectralConv2D.from_config(config).fft_size == "linear"
    # A Conv2D config has no compress_rate: the default.
    assert SpectralConv2D.from_config(keras.layers.Conv2D(4, 3).get_config()).fft_size == "minimal"
    with pytest.raises(ValueError, match="fft_size must be one of"):
        SpectralConv2D(4, 3, fft_size="full")


def test_error_to_full_spectrum_shrinks_as_rate_falls():
    x, w = randn(2, 12, 12, 3), randn(3, 3, 3, 4)
    exact = tf.nn.conv2d(x, w, 1, "SAME")
    errors = [float(tf.norm(spectral_conv(x, w, compress_rate=r) - exact))
              for r in (0.9, 0.75, 0.5, 0.25, 0.1)]
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 0.5 * errors[0]


@pytest.mark.skipif(not op_loaded() and os.environ.get("TFCOMPRESS_REQUIRE_OP") != "1",
                    reason="compiled spectral op library not loaded")
@pytest.mark.parametrize("rank,transform", [(1, "fft"), (1, "direct"), (2, "fft"), (2, "direct"),
                                            (2, "separable")])
def test_op_and_tf_implementations_agree(rank, transform):
    x = randn(3, 11, 10, 4) if rank == 2 else randn(3, 40, 4)
    w = randn(*(3,) * rank, 4, 6)
    results, gradients = {}, {}
    for impl in ("op", "tf"):
        x_t, w_t = tf.constant(x), tf.constant(w)
        with tf.GradientTape() as tape:
            tape.watch([x_t, w_t])
            results[impl] = spectral_conv(x_t, w_t, compress_rate=0.5, implementation=impl,
                                          transform=transform)
            loss = tf.reduce_sum(results[impl] * np.cos(np.arange(results[impl].shape[-1])))
        gradients[impl] = tape.gradient(loss, [x_t, w_t])
    np.testing.assert_allclose(results["op"], results["tf"], atol=1e-5 * np.abs(results["tf"]).max())
    for got, expected in zip(gradients["op"], gradients["tf"]):
        np.testing.assert_allclose(got, expected, atol=1e-5 * np.abs(expected).max())


# ---------------------------------------------------------------- gradients
@pytest.mark.parametrize("transform", ["fft", "direct", "separable"])
@pytest.mark.parametrize("rank,rate,strides", [(2, 0.5, 1), (2, 0.7, 2), (1, 0.5, 1)])
def test_gradients_of_band_limited_function(transform, rank, rate, strides):
    if transform == "separable" and rank == 1:
        pytest.skip("the separable transform is 2-D only")
    x = randn(2, 5, 6, 2) if rank == 2 else randn(2, 9, 2)
    w = randn(*(3,) * rank, 2, 3)

    @tf.function  # traced once: the numerical gradient evaluates it many times
    def of_x(x_):
        return spectral_conv(x_, tf.constant(w), strides, "same", compress_rate=rate,
                             transform=transform)

    @tf.function
    def of_w(w_):
        return spectral_conv(tf.constant(x), w_, strides, "same", compress_rate=rate,
                             transform=transform)

    for fn, arg in ((of_x, x), (of_w, w)):
        theoretical, numerical = tf.test.compute_gradient(fn, [tf.constant(arg)], delta=1e-2)
        np.testing.assert_allclose(theoretical[0], numerical[0], atol=5e-3 * np.abs(numerical[0]).max())


def test_input_gradient_is_band_limited():
    """The input gradient of a single output equals the NumPy reference's adjoint (no full-band leak)."""
    x, w = randn(1, 8, 8, 1), randn(3, 3, 1, 1)
    x_t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_t)
        y = spectral_conv(x_t, tf.constant(w), compress_rate=0.6)
        picked = y[0, 4, 4, 0]
    grad = tape.gradient(picked, x_t).numpy()
    basis = np.eye(64, dtype=np.float32).reshape(64, 1, 8, 8, 1)
    adjoint = np.array([numpy_spectral_conv(e, w, 1, "same", 0.6)[0, 4, 4, 0] for e in basis])
    np.testing.assert_allclose(grad.ravel(), adjoint, atol=1e-5)


# ---------------------------------------------------------------- preserve_energy, rate, flops
@pytest.mark.parametrize("transform", ["fft", "direct", "separable"])
def test_preserve_energy_rate_matches_numpy_prefix(transform):
    x = randn(2, 10, 10, 2)
    layer = SpectralConv2D(3, 3, padding="same", preserve_energy=70, compress_rate=0.2)
    layer.build(x.shape)
    layer.plan = dataclasses.replace(layer.plan, transform=transform)
    y = layer(x)
    fft_shape = (11, 11)  # fft_size "minimal": 10 + max(1, 1) ('same' pads 1 and 1)
    xf = np.fft.rfft2(x.astype(np.float64), s=fft_shape, axes=(1, 2))
    weights = np.where(np.arange(6) == 0, 1.0, 2.0)  # the DC column counts once (L odd: no Nyquist)
    energy = (np.abs(xf) ** 2).sum(axis=(0, 3)) * weights
    total = energy.sum()
    best = None
    for count in range(1, energy.size + 1):  # shortest pair-closed band holding 70%
        rate = 1 - count / energy.size
        band = numpy_band(fft_shape, rate)
        if band.sum() == count and energy[band].sum() >= 0.7 * total:
            best = count
            break
    assert float(layer.compress_rate_reached) == pytest.approx(1 - best / energy.size, abs=1e-6)
    band = numpy_band(fft_shape, 1 - best / energy.size)
    assert band.sum() == best
    w = layer.kernel.numpy()
    # Tap u at (u - 1) mod 11: the 'same' padding before the input, moved onto the kernel.
    shifted = np.roll(np.pad(w.astype(np.float64), [(0, 8), (0, 8), (0, 0), (0, 0)]), (-1, -1),
                      axis=(0, 1))
    wf = np.fft.rfft2(shifted, axes=(0, 1))
    yf = np.einsum("nabc,abcf->nabf", xf, np.conj(wf)) * band[None, :, :, None]
    expected = np.fft.irfftn(yf, s=fft_shape, axes=(1, 2))[:, :10, :10]
    np.testing.assert_allclose(y, expected, atol=1e-4)


def test_preserve_energy_100_keeps_everything():
    x = randn(2, 6, 6, 2)
    full = SpectralConv2D(3, 3, padding="same")
    full.build(x.shape)
    energy = SpectralConv2D(3, 3, padding="same", preserve_energy=100)
    energy.build(x.shape)
    energy.set_weights(full.get_weights())
    np.testing.assert_allclose(energy(x), full(x), atol=1e-5)
    assert float(energy.compress_rate_reached) == 0.0


def test_separable_flops_count_the_product_over_the_band():
    layer = SpectralConv2D(8, 3, padding="same", compress_rate=0.5)
    shape = (2, 16, 16, 4)
    plan = layer._make_plan(tf.TensorShape(shape))
    assert plan.transform == "separable" and plan.fft_shape == (17, 17)
    rows, columns = transforms.separable_box(plan)
    forward = 4 * columns * (16 * 16 + 2 * 16 * rows.size)  # width then height DFT, per slice
    kernel_dft = 4 * 9 * 4 * 8 * rows.size * columns  # over the box
    product = 8 * 2 * 4 * 8 * plan.kept.size  # over the band only
    assert layer.flops(shape) == 2 * (4 + 8) * forward + kernel_dft + product


def test_rate_reached_and_flops():
    layer = SpectralConv2D(8, 3, padding="same", compress_rate=0.5, fft_size="linear")
    assert layer.compress_rate_reached is None
    layer.build((None, 4, 4, 4))
    k = 8 * 5  # FFT 4 + 2 + 3 - 1 = 8, rfft half width 5
    kept = layer.plan.kept.size
    assert kept == 20 and layer.compress_rate_reached == pytest.approx(1 - kept / k)
    assert layer.plan.transform == "direct"  # the cost model's choice for this grid and band
    fy, fx = np.divmod(layer.plan.kept, 5)
    # The direct DFT computes one of each conjugate pair (fy, -fy) of the fx = 0, 4 columns.
    computed = kept - np.sum(((fx == 0) | (fx == 4)) & (fy > 4))
    dft = 2 * 16 * 2 * computed  # 2 flops per multiply-add, 4 x 4 positions, 2K real outputs
    transforms = (2 * 4 + 2 * 8) * dft  # forward of 2 x 4 input slices, inverse of 2 x 8 outputs
    kernel_dft = 4 * 9 * 4 * 8 * computed
    assert layer.flops((2, 4, 4, 4)) == round(transforms + kernel_dft + 8 * 2 * 4 * 8 * computed)
    assert layer.flops((None, 4, 4, 4)) < layer.flops((2, 4, 4, 4))
    narrower = SpectralConv2D(8, 3, padding="same", compress_rate=0.75, fft_size="linear")
    assert narrower.flops((1, 16, 16, 4)) < layer.flops((1, 16, 16, 4))
