"""spectral.convert and hebbian.convert over the user's own models; drop-in Conv configs."""
import warnings

import numpy as np
import pytest
import tf_keras as keras

from tfcompress import hebbian, spectral
from tfcompress.hebbian import HebbianRewiring, HebbianSparseConv2D
from tfcompress.spectral import SpectralConv1D, SpectralConv2D


def _images(n=4, size=12, channels=3, seed=0):
    return np.random.default_rng(seed).standard_normal((n, size, size, channels)).astype("float32")


def _residual_cnn():
    """A functional CNN with a nested Sequential block, a dilated conv and a depthwise conv."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="stem")(inputs)
    block = keras.Sequential([keras.Input((5, 5, 8)),
                              keras.layers.Conv2D(8, 3, padding="same", name="inner"),
                              keras.layers.BatchNormalization(name="inner_bn")], name="block")
    x = keras.layers.Add(name="add")([x, block(x)])
    x = keras.layers.Conv2D(6, 3, padding="same", dilation_rate=2, name="dilated")(x)
    x = keras.layers.DepthwiseConv2D(3, name="depthwise")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(5, name="head")(x), name="user_cnn")
    # Non-trivial BatchNorm statistics, so that a lost weight would show.
    model.get_layer("block").get_layer("inner_bn").set_weights(
        [np.full(8, 1.5), np.full(8, 0.2), np.full(8, 0.1), np.full(8, 2.0)])
    return model


def _snapshot(model):
    return [layer for layer in model.layers], [w.copy() for w in model.get_weights()]


def _assert_unchanged(model, snapshot):
    layers, weights = snapshot
    assert model.layers == layers
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)


def _relative_error(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(np.asarray(b))))


# ---------------------------------------------------------------- drop-in layers
@pytest.mark.parametrize("conv,spectral_class,shape", [
    (keras.layers.Conv2D(5, 3, strides=2, activation="relu", name="c"), SpectralConv2D, (2, 9, 9, 3)),
    (keras.layers.Conv2D(4, (3, 2), padding="same", use_bias=False, name="c"), SpectralConv2D,
     (2, 8, 7, 2)),
    (keras.layers.Conv1D(4, 5, name="c"), SpectralConv1D, (2, 20, 3)),
])
def test_spectral_layers_load_conv_configs_and_weights(conv, spectral_class, shape):
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    expected = conv(x)
    layer = spectral_class.from_config(conv.get_config())
    assert layer.padding == conv.padding and layer.name == "c"
    layer.build(shape)
    layer.set_weights(conv.get_weights())
    assert _relative_error(layer(x), expected) <= 1e-4
    # A spectral config is a Conv config plus the spectral arguments.
    assert set(conv.get_config()) <= set(layer.get_config())


def test_defaults_are_those_of_conv2d():
    conv = keras.layers.Conv2D(4, 3)
    for layer in (SpectralConv2D(4, 3), HebbianSparseConv2D(4, 3)):
        config = layer.get_config()
        for key in ("padding", "strides", "use_bias", "activation", "kernel_initializer"):
            assert config[key] == conv.get_config()[key], key


def test_hebbian_layer_loads_a_conv2d_config():
    conv = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c")
    x = _images(2, 6, 2)
    expected = conv(x)
    layer = HebbianSparseConv2D.from_config({**conv.get_config(), "k1": 0.2, "k2": 0.3})
    layer.build(x.shape)
    layer.layer.set_weights(conv.get_weights())
    np.testing.assert_allclose(layer(x), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("layer_class", [SpectralConv2D, HebbianSparseConv2D])
@pytest.mark.parametrize("kwargs,match", [
    (dict(data_format="channels_first"), "data_format='channels_last' only, got 'channels_first'"),
    (dict(dilation_rate=2), r"dilation_rate=1 only, got 2"),
    (dict(dilation_rate=(1, 3)), r"dilation_rate=1 only, got \(1, 3\)"),
    (dict(groups=2), "groups=1 only, got 2"),
])
def test_unsupported_conv_arguments_are_errors(layer_class, kwargs, match):
    with pytest.raises(ValueError, match=match):
        layer_class(4, 3, **kwargs)


# ---------------------------------------------------------------- spectral.convert
def test_spectral_convert_keeps_outputs_and_leaves_the_model_alone():
    model = _residual_cnn()
    snapshot = _snapshot(model)
    x = _images()
    with pytest.warns(UserWarning, match=r"skipping layer 'dilated' \(Conv2D\).*dilation_rate"):
        converted = spectral.convert(model)
    _assert_unchanged(model, snapshot)
    assert isinstance(converted.get_layer("stem"), SpectralConv2D)
    assert isinstance(converted.get_layer("block").get_layer("inner"), SpectralConv2D)
    assert type(converted.get_layer("dilated")) is keras.layers.Conv2D
    assert type(converted.get_layer("depthwise")) is keras.layers.DepthwiseConv2D
    assert _relative_error(converted(x), model(x)) <= 1e-4
    # The copy trains on its own: the original's weights stay.
    converted.compile("sgd", "mse")
    converted.fit(x, np.ones((4, 5)), verbose=0)
    _assert_unchanged(model, snapshot)


def test_spectral_convert_named_layers_and_rate():
    model = _residual_cnn()
    converted = spectral.convert(model, compress_rate=0.5, layers=["inner"], implementation="tf")
    inner = converted.get_layer("block").get_layer("inner")
    assert isinstance(inner, SpectralConv2D) and inner.compress_rate == 0.5
    assert inner.implementation == "tf"
    assert type(converted.get_layer("stem")) is keras.layers.Conv2D
    assert converted(_images()).shape == (4, 5)


def test_spectral_convert_conv1d_sequential_with_preserve_energy():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64, 2)), keras.layers.Conv1D(4, 8, padding="same"),
                              keras.layers.ReLU(), keras.layers.Conv1D(3, 5),
                              keras.layers.GlobalAveragePooling1D()])
    x = np.random.default_rng(0).standard_normal((3, 64, 2)).astype("float32")
    exact = spectral.convert(model)
    assert _relative_error(exact(x), model(x)) <= 1e-4
    energy = spectral.convert(model, preserve_energy=90)
    assert all(isinstance(layer, SpectralConv1D) and layer.preserve_energy == 90
               for layer in energy.layers[::2][:2])
    assert energy(x).shape == (3, 3)


@pytest.mark.parametrize("kwargs,match", [
    (dict(layers=["dilated"]), r"layer 'dilated' \(Conv2D\) cannot be converted: .*dilation_rate=1"),
    (dict(layers=["nope"]), r"layers \['nope'\] are not in model 'user_cnn'.*stem, inner, dilated"),
    (dict(layers=["depthwise"]), r"'depthwise' \(DepthwiseConv2D\) is not a kind of layer"),
    (dict(compress_rate=1.0), r"compress_rate must be a number in \[0, 1\), got 1.0"),
])
def test_spectral_convert_bad_arguments(kwargs, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=match):
            spectral.convert(_residual_cnn(), **kwargs)


def test_spectral_convert_refuses_converted_subclassed_and_unsized_models():
    model = _residual_cnn()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converted = spectral.convert(model)
        with pytest.raises(ValueError, match=r"no layer to convert; it is already converted \(stem"):
            spectral.convert(converted)
    with pytest.raises(ValueError, match="layer 'inner' is already a SpectralConv2D"):
        spectral.convert(converted, layers=["inner"])

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(2, 3)

        def call(self, x):
            return self.conv(x)

    net = Net()
    net(_images())
    with pytest.raises(ValueError, match="subclassed Net"):
        spectral.convert(net)
    unsized = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(2, 3, name="c")])
    with pytest.raises(ValueError, match=r"'c' \(Conv2D\) cannot be converted: .*spatial size"):
        spectral.convert(unsized, layers=["c"])


# ---------------------------------------------------------------- hebbian.convert
def test_hebbian_convert_keeps_weights_and_rewires():
    model = _residual_cnn()
    snapshot = _snapshot(model)
    x = _images(8)
    with pytest.warns(UserWarning, match="skipping layer 'dilated'"):
        converted = hebbian.convert(model, k1=0.2, k2=0.4, accumulate_every=1, rewire_every=2)
    _assert_unchanged(model, snapshot)
    inner = converted.get_layer("block").get_layer("inner")
    assert isinstance(inner, HebbianSparseConv2D) and inner.k1 == 0.2
    np.testing.assert_allclose(converted(x), model(x), rtol=1e-5, atol=1e-5)
    converted.compile("sgd", "mse")
    converted.fit(x, np.ones((8, 5)), batch_size=2, epochs=1, verbose=0,
                  callbacks=[HebbianRewiring()])
    assert int(inner.rewires.numpy()) == 2
    kept = float(np.mean(inner.mask.numpy()))
    assert kept == pytest.approx(4 / 9)  # ceil(0.4 * 9) of every 3x3 slice
    _assert_unchanged(model, snapshot)
    with pytest.raises(ValueError, match="already converted"):
        hebbian.convert(converted, layers=None)
    with pytest.raises(ValueError, match="k1"):
        hebbian.convert(model, k1=0.5, k2=0.2)
