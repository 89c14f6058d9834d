"""Tests of tfcompress.models: published parameter counts, the conv_layer factory,
width, weight decay, and errors on bad input."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfcompress import models

CONV_TYPES = (keras.layers.Conv1D, keras.layers.Conv2D)

# A small input and options per model, so that every build here is fast
# (resnet50 has no smaller variant: its own test covers it).
SMALL = {
    "lenet_300_100": ((8, 8, 1), 10, {}),
    "mnist_mlp": ((8, 8, 1), 10, {}),
    "lenet5": ((16, 16, 1), 10, {}),
    "resnet18": ((8, 8, 3), 10, {}),
    "small_resnet": ((8, 8, 1), 10, {}),
    "densenet_bc": ((8, 8, 3), 100, {"depth": 40}),
    "wrn": ((8, 8, 3), 10, {"depth": 16}),
    "fcn1d": ((24, 1), 3, {}),
    "noscope": ((12, 12, 3), 2, {"convs": 4}),
    "game_cnn": ((15, 17, 3), 5, {"units": 2}),
}

# Convolutions each architecture must have, counted from its definition.
CONV_COUNT = {
    "lenet_300_100": 0,
    "mnist_mlp": 0,
    "lenet5": 2,
    "resnet18": 1 + 16 + 3,              # stem, 8 blocks x 2, 3 projections
    "small_resnet": 1 + 6 + 2,
    "densenet_bc": 1 + 3 * 6 * 2 + 2,    # stem, 3 blocks x 6 layers x 2, 2 transitions
    "wrn": 1 + 3 * 2 * 2 + 3,            # stem, 3 groups x 2 blocks x 2, 3 projections
    "fcn1d": 3,
    "noscope": 4,
    "game_cnn": 1 + 2 * 3 + 1,
}


def trainable_params(model):
    """Trainable weights: the papers' (PyTorch's) parameter count, BN moving stats excluded."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def conv_layers(model):
    return [layer for layer in model.layers if isinstance(layer, CONV_TYPES)]


class RecordingConv:
    """A conv_layer factory that wraps the default Keras conv and records every call.

    Its signature is exactly the documented contract: builders may pass nothing else.
    """

    def __init__(self, conv_class):
        self.conv_class = conv_class
        self.calls = []
        self.layers = []

    def __call__(self, filters, kernel_size, strides=1, padding="same", use_bias=True,
                 kernel_initializer="glorot_uniform", kernel_regularizer=None, name=None):
        kwargs = dict(strides=strides, padding=padding, use_bias=use_bias,
                      kernel_initializer=kernel_initializer,
                      kernel_regularizer=kernel_regularizer, name=name)
        self.calls.append(kwargs)
        layer = self.conv_class(filters, kernel_size, **kwargs)
        self.layers.append(layer)
        return layer


@pytest.fixture(autouse=True)
def _fresh_session():
    keras.backend.clear_session()
    yield


def test_names_cover_the_registry():
    assert models.names() == sorted([*SMALL, "resnet50"])


def test_unknown_name_lists_the_names():
    with pytest.raises(ValueError) as err:
        models.build("resnet19", (32, 32, 3), 10)
    assert "resnet19" in str(err.value)
    for name in models.names():
        assert name in str(err.value)


# Hand counts (weights + biases) of the published architectures.
LENET_300_100 = (784 * 300 + 300) + (300 * 100 + 100) + (100 * 10 + 10)
LENET5 = (5 * 5 * 1 * 20 + 20) + (5 * 5 * 20 * 50 + 50) + (4 * 4 * 50 * 500 + 500) + (500 * 10 + 10)
MNIST_MLP_BN = 784 * 300 + 300 * 100 + 100 * 10 + 2 * (300 + 100 + 10)


@pytest.mark.parametrize("name, kwargs, published, by_hand", [
    ("lenet_300_100", {}, 266_610, LENET_300_100),
    ("lenet5", {}, 431_080, LENET5),
    ("mnist_mlp", {}, None, MNIST_MLP_BN),
    ("mnist_mlp", {"batch_norm": False}, 266_610, LENET_300_100),
])
def test_mnist_models_exact_counts(name, kwargs, published, by_hand):
    expected = published or by_hand
    assert expected == by_hand
    model = models.build(name, (28, 28, 1), 10, **kwargs)
    assert trainable_params(model) == expected
    assert model.output_shape == (None, 10)


def test_resnet18_matches_kuangliu_count():
    model = models.build("resnet18", (32, 32, 3), 10)
    assert trainable_params(model) == 11_173_962


def test_resnet50_matches_keras_applications():
    # Parameter counts do not depend on the spatial size: 32x32 keeps the test fast.
    factory = RecordingConv(keras.layers.Conv2D)
    ours = models.build("resnet50", (32, 32, 3), 1000, conv_layer=factory)
    reference = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3))
    # Keras' ResNet50 has biases on its convolutions; ours (torchvision's) has none.
    reference_conv_biases = sum(int(layer.bias.shape[0]) for layer in conv_layers(reference))
    assert trainable_params(ours) == trainable_params(reference) - reference_conv_biases
    assert ours.count_params() == reference.count_params() - reference_conv_biases
    assert trainable_params(ours) == 25_557_032
    assert len(factory.layers) == len(conv_layers(ours)) == len(conv_layers(reference))
    assert {id(layer) for layer in conv_layers(ours)} == {id(layer) for layer in factory.layers}
    assert ours.output_shape == reference.output_shape == (None, 1000)
    # Same downsampling: the last feature map before pooling has the same shape.
    assert ours.get_layer("pool").input_shape == reference.get_layer("avg_pool").input_shape
    assert np.isfinite(ours(np.ones((1, 32, 32, 3), "float32")).numpy()).all()


@pytest.mark.parametrize("name, input_shape, classes, kwargs, published", [
    ("densenet_bc", (32, 32, 3), 100, {}, 0.8e6),
    ("wrn", (32, 32, 3), 10, {}, 1.47e6),
    ("wrn", (8, 8, 3), 10, {"depth": 28, "widen_factor": 10}, 36.5e6),
])
def test_approximate_published_counts(name, input_shape, classes, kwargs, published):
    model = models.build(name, input_shape, classes, **kwargs)
    assert abs(trainable_params(model) - published) / published < 0.02


def test_fcn1d_matches_reference_keras_code():
    # Fawaz et al.'s reference FCN (dl-4-tsc, classifiers/fcn.py), written out with Keras.
    inputs = keras.Input((64, 1))
    x = inputs
    for filters, kernel in ((128, 8), (256, 5), (128, 3)):
        x = keras.layers.Conv1D(filters, kernel, padding="same")(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    reference = keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(x))
    ours = models.build("fcn1d", (64, 1), 5)
    assert trainable_params(ours) == trainable_params(reference)
    assert ours.count_params() == reference.count_params()
    assert trainable_params(ours) - (128 * 5 + 5) == 264_704  # the trunk, as in Fawaz et al.


def test_small_model_counts_by_hand():
    noscope = models.build("noscope", (50, 50, 3), 2)  # NoScope coral/night
    assert trainable_params(noscope) == ((3 * 9 * 16 + 16) + (16 * 9 * 16 + 16)
                                         + (25 * 25 * 16 * 128 + 128) + (128 * 2 + 2))
    game = models.build("game_cnn", (22, 52, 3), 11)  # 22x52 -> 10x25 -> 8x23 -> 3x11
    assert trainable_params(game) == ((3 * 9 * 32 + 32) + 3 * (32 * 9 * 32 + 32)
                                      + (32 * 9 * 8 + 8) + (3 * 11 * 8 * 11 + 11))
    small = models.build("small_resnet", (32, 32, 3), 10)

    def conv_bn(c_in, c_out, k):
        return k * k * c_in * c_out + 2 * c_out

    assert trainable_params(small) == (
        conv_bn(3, 16, 3) + 2 * conv_bn(16, 16, 3)
        + conv_bn(16, 32, 3) + conv_bn(32, 32, 3) + conv_bn(16, 32, 1)
        + conv_bn(32, 64, 3) + conv_bn(64, 64, 3) + conv_bn(32, 64, 1)
        + (64 * 10 + 10)) == 78_042


@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_model_builds_small_and_runs(name):
    input_shape, classes, kwargs = SMALL[name]
    model = models.build(name, input_shape, classes, **kwargs)
    x = np.random.default_rng(0).normal(size=(2, *input_shape)).astype("float32")
    y = model(x, training=False).numpy()
    assert y.shape == (2, classes)
    assert np.isfinite(y).all()
    assert model.name == name


@pytest.mark.parametrize("name", sorted(SMALL))
def test_conv_layer_factory_makes_every_convolution(name):
    input_shape, classes, kwargs = SMALL[name]
    factory = RecordingConv(keras.layers.Conv1D if name == "fcn1d" else keras.layers.Conv2D)
    model = models.build(name, input_shape, classes, conv_layer=factory, weight_decay=1e-4,
                         **kwargs)
    assert len(factory.calls) == CONV_COUNT[name]
    assert {id(layer) for layer in conv_layers(model)} == {id(layer) for layer in factory.layers}
    for call in factory.calls:
        assert call["kernel_regularizer"] is not None
        assert call["kernel_initializer"] is not None
        assert call["name"]


@pytest.mark.parametrize("name", sorted(SMALL))
def test_width_scales_every_hidden_layer(name):
    input_shape, classes, kwargs = SMALL[name]
    base = models.build(name, input_shape, classes, **kwargs)
    wide = models.build(name, input_shape, classes, width=2, **kwargs)
    compared = 0
    for layer in base.layers:
        other = wide.get_layer(layer.name)
        if isinstance(layer, CONV_TYPES):
            assert other.filters == 2 * layer.filters, layer.name
            compared += 1
        elif isinstance(layer, keras.layers.Dense):
            expected = layer.units if layer.name == "logits" else 2 * layer.units
            assert other.units == expected, layer.name
            compared += 1
    assert compared == CONV_COUNT[name] + sum(
        isinstance(layer, keras.layers.Dense) for layer in base.layers)
    assert wide.output_shape == base.output_shape


def test_fractional_width_rounds_like_folding():
    model = models.build("noscope", (50, 50, 6), 4, width=2 ** 0.5)  # fold 2 of NoScope
    assert [layer.filters for layer in conv_layers(model)] == [23, 23]
    assert model.get_layer("fc1").units == 181
    assert model.input_shape == (None, 50, 50, 6) and model.output_shape == (None, 4)


def test_weight_decay_is_pytorch_sgd_weight_decay():
    wd = 5e-4
    model = models.build("small_resnet", (8, 8, 3), 10, weight_decay=wd)
    kernels = [layer.kernel for layer in model.layers
               if isinstance(layer, (*CONV_TYPES, keras.layers.Dense))]
    assert len(model.losses) == len(kernels) == CONV_COUNT["small_resnet"] + 1
    expected = wd / 2 * sum(float(np.sum(k.numpy() ** 2)) for k in kernels)
    with tf.GradientTape() as tape:
        penalty = tf.add_n(model.losses)
    np.testing.assert_allclose(float(penalty), expected, rtol=1e-5)
    # PyTorch's SGD adds wd * w to the gradient.
    for kernel, grad in zip(kernels, tape.gradient(penalty, kernels)):
        np.testing.assert_allclose(grad.numpy(), wd * kernel.numpy(), rtol=1e-5, atol=1e-12)
    assert not models.build("small_resnet", (8, 8, 3), 10).losses


@pytest.mark.parametrize("name", ["mnist_mlp", "small_resnet"])
def test_logits_are_float32_under_mixed_precision(name):
    input_shape, classes, kwargs = SMALL[name]
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = models.build(name, input_shape, classes, **kwargs)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("fc1" if name == "mnist_mlp" else "stem_conv").compute_dtype == "float16"
    assert model(np.zeros((1, *input_shape), "float32")).dtype == tf.float32


def test_config_round_trip():
    model = models.build("small_resnet", (8, 8, 3), 10, weight_decay=1e-4)
    clone = keras.Model.from_config(model.get_config())
    assert clone.count_params() == model.count_params()
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]


@pytest.mark.parametrize("name, input_shape, message", [
    ("resnet18", (32, 32), "3 axes"),
    ("resnet50", (224, 224), "3 axes"),
    ("fcn1d", (32, 32, 3), "2 axes"),
    ("lenet5", (15, 16, 1), ">= 16"),
    ("densenet_bc", (3, 32, 3), ">= 4"),
    ("noscope", (50, 1, 3), ">= 2"),
    ("game_cnn", (10, 52, 3), ">= 11"),
    ("resnet18", (32, 0, 3), "positive ints"),
    ("resnet18", (32.0, 32, 3), "positive ints"),
    ("lenet_300_100", 784, "positive ints"),
])
def test_bad_input_shapes_raise(name, input_shape, message):
    with pytest.raises(ValueError, match=message) as err:
        models.build(name, input_shape, 10)
    assert name in str(err.value) and repr(input_shape) in str(err.value)


def test_numpy_ints_and_lists_are_valid_shapes():
    model = models.build("small_resnet", [np.int64(8), 8, np.int32(3)], np.int64(10))
    assert model.input_shape == (None, 8, 8, 3)


def test_smallest_allowed_inputs_build():
    for name, shape in (("lenet5", (16, 16, 1)), ("densenet_bc", (4, 4, 3)),
                        ("noscope", (2, 2, 3)), ("game_cnn", (11, 11, 3))):
        kwargs = {"depth": 10} if name == "densenet_bc" else {}
        model = models.build(name, shape, 3, **kwargs)
        assert model(np.zeros((1, *shape), "float32")).shape == (1, 3)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"name": "wrn", "depth": 27}, ValueError, "depth must be 6n"),
    ({"name": "densenet_bc", "depth": 99}, ValueError, "depth must be 6n"),
    ({"name": "wrn", "widen_factor": 0}, ValueError, "widen_factor"),
    ({"name": "noscope", "convs": 3}, ValueError, "even"),
    ({"name": "lenet5", "dropout": 1.0}, ValueError, r"dropout must be a number in \[0, 1\)"),
    ({"name": "resnet18", "depth": 18}, ValueError, r"unknown option\(s\) \['depth'\]"),
    ({"name": "resnet18", "width": 0}, ValueError, "width must be a number > 0"),
    ({"name": "resnet18", "weight_decay": -1e-4}, ValueError, "weight_decay must be"),
    ({"name": "resnet18", "num_classes": 0}, ValueError, "num_classes must be a positive int"),
    ({"name": "resnet18", "conv_layer": "spectral"}, TypeError, "conv_layer must be a callable"),
])
def test_bad_options_raise(kwargs, error, message):
    args = {"input_shape": (8, 8, 3), "num_classes": 10, **kwargs}
    with pytest.raises(error, match=message):
        models.build(**args)


def test_with_policy_copies_a_trained_model_to_bfloat16_and_keeps_the_original():
    model = models.build("noscope", (8, 8, 3), 2)
    x = np.random.default_rng(0).random((4, 8, 8, 3), np.float32)
    copy = models.with_policy(model, "bfloat16")
    assert {w.dtype.name for w in copy.weights} == {"bfloat16"}
    assert {w.dtype.name for w in model.weights} == {"float32"}
    assert copy(x).dtype == tf.bfloat16
    # bfloat16 images go in as they are: the input is bfloat16, not float32 cast up and down
    assert copy.inputs[0].dtype == tf.bfloat16
    np.testing.assert_array_equal(copy(tf.cast(x, tf.bfloat16)).numpy(), copy(x).numpy())
    np.testing.assert_allclose(copy(x).numpy().astype(np.float32), model(x).numpy(),
                               rtol=0.05, atol=0.01)
    mixed = models.with_policy(model, "mixed_bfloat16")
    assert {w.dtype.name for w in mixed.weights} == {"float32"} and mixed(x).dtype == tf.bfloat16
    with pytest.raises(ValueError, match="nope"):
        models.with_policy(model, "nope")
