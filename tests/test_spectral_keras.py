"""SpectralConv1D/2D as Keras layers: tracing, mixed precision, saving, export, strategies, errors."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfcompress import SpectralConv1D, SpectralConv2D, export
from tfcompress.spectral import op as spectral_op
from tfcompress.spectral.layers import conv_factory

RNG = np.random.default_rng(1)


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def test_tf_function_matches_eager():
    x = randn(2, 8, 8, 3)
    layer = SpectralConv2D(4, 3, padding="same", compress_rate=0.4)
    eager = layer(x)
    traced = tf.function(lambda t: layer(t))(tf.constant(x))
    np.testing.assert_allclose(traced, eager, atol=1e-5)


@pytest.mark.skipif(not spectral_op.op_loaded(),
                    reason="the compiled spectral_mul op library is not loaded (build it with "
                           "`make build`); the op path cannot be compared with the tf path")
def test_op_path_matches_tf_path_and_switches_when_retraced():
    x = randn(2, 8, 8, 3)
    layer = SpectralConv2D(4, 3, padding="same", compress_rate=0.4, implementation="op")
    with tf.GradientTape() as tape:
        y_op = layer(x)
        loss = tf.reduce_sum(y_op * y_op)
    grad_op = tape.gradient(loss, layer.kernel)
    ops = {op.type for op in tf.function(lambda t: layer(t)).get_concrete_function(
        tf.TensorSpec(x.shape)).graph.get_operations()}
    assert "SpectralMulPlanar" in ops  # the compiled op really is on this path (separable)
    layer.implementation = "tf"  # what the portable export does before re-tracing
    traced = tf.function(lambda t: layer(t))
    ops = {op.type for op in traced.get_concrete_function(tf.TensorSpec(x.shape)).graph.get_operations()}
    assert not any(op.startswith("SpectralMul") for op in ops)
    with tf.GradientTape() as tape:
        y_tf = traced(tf.constant(x))
        loss = tf.reduce_sum(y_tf * y_tf)
    grad_tf = tape.gradient(loss, layer.kernel)
    np.testing.assert_allclose(y_op, y_tf, atol=1e-5)
    np.testing.assert_allclose(grad_op, grad_tf, rtol=1e-4, atol=1e-4)


def test_mixed_precision_computes_in_float32():
    x = randn(2, 8, 8, 3)
    exact = SpectralConv2D(4, 3, padding="same", compress_rate=0.3)
    mixed = SpectralConv2D(4, 3, padding="same", compress_rate=0.3, dtype="mixed_float16")
    exact.build(x.shape)
    mixed.build(x.shape)
    mixed.set_weights(exact.get_weights())
    assert mixed.kernel.dtype == tf.float32
    out = mixed(x)
    assert out.dtype == tf.float16
    np.testing.assert_allclose(tf.cast(out, tf.float32), exact(x), atol=2e-3, rtol=2e-3)


def small_model(**spectral):
    inputs = keras.Input((8, 8, 2))
    y = SpectralConv2D(4, 3, padding="same", activation="relu", **spectral)(inputs)
    y = SpectralConv1D(3, 5, padding="valid")(keras.layers.Reshape((64, 4))(y))
    return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(y)))


def test_config_round_trip():
    layer = SpectralConv2D(6, (3, 2), strides=2, padding="valid", compress_rate=0.25,
                           next_power2=True, activation="relu", kernel_regularizer="l2",
                           implementation="tf", name="sc")
    clone = SpectralConv2D.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    x = randn(2, 9, 9, 3)
    layer.build(x.shape)
    clone.build(x.shape)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x), layer(x))


@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_save_and_load(tmp_path, suffix):
    model = small_model(compress_rate=0.5)
    x = randn(3, 8, 8, 2)
    path = str(tmp_path / f"model{suffix}")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.layers[1], SpectralConv2D)
    assert loaded.layers[1].compress_rate == 0.5
    np.testing.assert_allclose(loaded(x), model(x), atol=1e-6)


def test_conv_factory_builds_models():
    factory = conv_factory(2, compress_rate=0.5)
    layer = factory(8, 3, strides=2, padding="same", use_bias=False, name="c1")
    assert isinstance(layer, SpectralConv2D) and layer.compress_rate == 0.5
    assert layer.strides == (2, 2) and not layer.use_bias and layer.name == "c1"
    assert isinstance(conv_factory(1, preserve_energy=90)(4, 7), SpectralConv1D)
    from tfcompress import models
    model = models.build("lenet5", (28, 28, 1), 10, conv_layer=factory)
    assert sum(isinstance(layer, SpectralConv2D) for layer in model.layers) == 2
    assert model(randn(2, 28, 28, 1)).shape == (2, 10)


def test_fit_and_rate_variable_under_mirrored_strategy():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = small_model(preserve_energy=80)
        model.compile(keras.optimizers.SGD(0.01), "mse")
    history = model.fit(randn(8, 8, 8, 2), randn(8, 2), batch_size=4, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert 0.0 < model.layers[1].compress_rate_reached.numpy() < 1.0


LOAD_WITHOUT_TFCOMPRESS = """
import sys
import numpy as np
import tensorflow as tf
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
out = serve(inputs=tf.constant(np.load(sys.argv[2])))["outputs"].numpy()
assert "tfcompress" not in sys.modules
np.save(sys.argv[3], out)
"""


def test_portable_savedmodel_loads_without_tfcompress(tmp_path):
    model = small_model(compress_rate=0.5)  # "auto": the compiled op when it is loaded
    x = randn(3, 8, 8, 2)
    export.save(model, str(tmp_path / "sm"), portable=True)
    np.save(tmp_path / "x.npy", x)
    env = {k: v for k, v in os.environ.items() if k != "TFCOMPRESS_OP_LIBRARY"}
    result = subprocess.run([sys.executable, "-c", LOAD_WITHOUT_TFCOMPRESS, str(tmp_path / "sm"),
                             str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
                            capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), model(x), atol=1e-5)
    assert model.layers[1].implementation == "auto"  # restored after the export


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("kwargs,match", [
    (dict(compress_rate=1.0), "compress_rate.*1.0"), (dict(compress_rate=-0.1), "compress_rate"),
    (dict(compress_rate="half"), "compress_rate.*'half'"),
    (dict(preserve_energy=0), "preserve_energy.*0"), (dict(preserve_energy=100.5), "preserve_energy"),
    (dict(padding="causal"), "padding.*'causal'"), (dict(implementation="cuda"), "implementation.*'cuda'"),
    (dict(filters=0), "filters.*0"), (dict(kernel_size=(3, 0)), "kernel_size"),
    (dict(strides=(1, 2, 3)), "strides"), (dict(kernel_size=3.0), "kernel_size.*3.0"),
])
def test_bad_arguments(kwargs, match):
    arguments = {"filters": 4, "kernel_size": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        SpectralConv2D(**arguments)


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"larger than the input"):
        SpectralConv2D(2, 5, padding="valid").build((None, 4, 8, 1))
    with pytest.raises(ValueError, match="floating-point.*int32"):
        SpectralConv2D(2, 3)(tf.ones((1, 5, 5, 1), tf.int32))
    with pytest.raises(ValueError, match="static spatial sizes"):
        SpectralConv1D(2, 3, padding="same").build((None, None, 1))
    with pytest.raises(ValueError, match="rank must be 1 or 2, got 3"):
        conv_factory(3)
