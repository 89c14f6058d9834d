"""fold_model(model, fold, width=None): FoldedCNN students derived from existing Keras models."""
import math

import numpy as np
import pytest
import tf_keras as keras

from tfcompress import folding
from tfcompress.rewrite import all_layers


def _snapshot(model):
    """What must not change in an input model: its layers, their weights and their call nodes."""
    layers = all_layers(model)
    return ([id(layer) for layer in layers], [w.copy() for w in model.get_weights()],
            [len(layer.inbound_nodes) for layer in layers])


def _assert_unchanged(model, snapshot, student):
    ids, weights, nodes = _snapshot(model)
    assert ids == snapshot[0] and nodes == snapshot[2]
    for before, after in zip(snapshot[1], weights, strict=True):
        np.testing.assert_array_equal(before, after)
    assert not set(ids) & {id(layer) for layer in all_layers(student)}  # nothing shared


def _residual_cnn():
    """Conv-BN-ReLU, a residual Add around a nested Sequential block, depthwise/separable convs."""
    block = keras.Sequential([keras.Input((12, 12, 8)),
                              keras.layers.Conv2D(8, 3, padding="same", name="block_conv"),
                              keras.layers.BatchNormalization(name="block_bn"),
                              keras.layers.ReLU(name="block_relu")], name="block")
    inputs = keras.Input((12, 12, 3), name="images")
    x = keras.layers.Conv2D(8, 3, padding="same", name="stem")(inputs)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.Add(name="residual")([x, block(x)])
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", name="depthwise")(x)
    x = keras.layers.SeparableConv2D(12, 3, padding="same", name="separable")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(16, activation="relu", name="hidden")(x)
    return keras.Model(inputs, keras.layers.Dense(5, activation="softmax", name="logits")(x),
                       name="residual_cnn")


def test_functional_cnn_with_residual_and_nested_sequential():
    model = _residual_cnn()
    snapshot = _snapshot(model)
    student = folding.fold_model(model, 3)
    assert student.input_shape == (None, 12, 12, 9) and student.output_shape == (None, 15)
    assert [layer.name for layer in student.layers] == [layer.name for layer in model.layers]
    wide = round(8 * math.sqrt(3))  # 14: one rounding, so both branches of the Add match
    assert student.get_layer("stem").filters == wide
    block = student.get_layer("block")
    assert isinstance(block, keras.Sequential) and block.get_layer("block_conv").filters == wide
    assert student.get_layer("depthwise").output_shape == (None, 6, 6, wide)
    assert student.get_layer("separable").filters == round(12 * math.sqrt(3))
    assert student.get_layer("hidden").units == round(16 * math.sqrt(3))
    head = student.get_layer("logits")
    assert head.units == 15 and head.get_config()["activation"] == "linear"  # logits, per image
    images = np.random.default_rng(0).random((7, 12, 12, 3), np.float32)
    assert folding.folded_call(student, images, 3).shape == (7, 5)
    _assert_unchanged(model, snapshot, student)
    same_widths = folding.fold_model(model, 3, width=1.0)
    assert same_widths.get_layer("stem").filters == 8
    assert same_widths.get_layer("block").get_layer("block_conv").filters == 8
    assert folding.fold_model(model, 2, width=1.5).get_layer("hidden").units == 24


def test_sequential_cnn_stays_sequential_and_drops_its_softmax():
    model = keras.Sequential([keras.Input((10, 10, 1)),
                              keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
                              keras.layers.MaxPooling2D(2, name="pool"),
                              keras.layers.Flatten(name="flatten"),
                              keras.layers.Dense(10, name="logits"),
                              keras.layers.Softmax(name="softmax")], name="seq")
    snapshot = _snapshot(model)
    student = folding.fold_model(model, 2)
    assert isinstance(student, keras.Sequential) and student.name == "seq"
    assert [layer.name for layer in student.layers] == ["conv", "pool", "flatten", "logits"]
    assert student.input_shape == (None, 10, 10, 2) and student.output_shape == (None, 20)
    assert student.get_layer("conv").filters == round(4 * math.sqrt(2))
    rows = folding.throughput(student, [3], trials=1, warmup=1, fold=2, min_images=6)
    assert rows[0]["images_per_sec"] > 0
    _assert_unchanged(model, snapshot, student)


@pytest.fixture(scope="module")
def mobilenet():
    keras.utils.set_random_seed(0)
    # Logits (classifier_activation=None), as FoldDistiller expects of its teacher.
    return keras.applications.MobileNetV2(input_shape=(32, 32, 3), weights=None, classes=10,
                                          alpha=0.35, classifier_activation=None)


def test_mobilenet_v2_f2_keeps_flops_per_image(mobilenet):
    snapshot = _snapshot(mobilenet)
    student = folding.fold_model(mobilenet, 2)
    assert student.input_shape == (None, 32, 32, 6) and student.output_shape == (None, 20)
    # widths x sqrt(2): about twice the weights, about the same FLOPs per image
    assert student.count_params() / mobilenet.count_params() == pytest.approx(2, rel=0.1)
    assert folding.flops(student) / 2 == pytest.approx(folding.flops(mobilenet), rel=0.1)
    _assert_unchanged(mobilenet, snapshot, student)


@pytest.mark.slow  # about 10 s; FoldDistiller on small CNNs stays in test_folding*.py
def test_mobilenet_v2_f2_student_distils(mobilenet):
    snapshot = _snapshot(mobilenet)
    student = folding.fold_model(mobilenet, 2)
    rng = np.random.default_rng(0)
    x, y = rng.random((48, 32, 32, 3), np.float32), rng.integers(0, 10, 48)
    distiller = folding.FoldDistiller(student, mobilenet)
    distiller.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"])
    history = distiller.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert distiller.predict(x[:5], verbose=0).shape == (5, 10)
    _assert_unchanged(mobilenet, snapshot, student)  # the teacher is frozen, not changed


def test_resnet50_folds_with_its_softmax_dropped():
    model = keras.applications.ResNet50(input_shape=(32, 32, 3), weights=None, classes=10)
    student = folding.fold_model(model, 2)
    assert student.input_shape == (None, 32, 32, 6) and student.output_shape == (None, 20)
    assert student.get_layer("predictions").get_config()["activation"] == "linear"
    assert student.get_layer("conv1_conv").filters == round(64 * math.sqrt(2))
    assert student.count_params() / model.count_params() == pytest.approx(2, rel=0.1)


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(3)

    def call(self, x):
        return self.dense(keras.layers.Flatten()(x))


def _functional(*layers, shape=(8, 8, 2)):
    inputs = keras.Input(shape)
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x, name="bad")


@pytest.mark.parametrize("model, error, message", [
    (lambda: Subclassed(), ValueError, "subclassed Subclassed"),
    (lambda: _functional(keras.layers.Conv2D(4, 3)), ValueError,
     r"must output one \(batch, classes\) tensor; its output is \(None, 6, 6, 4\)"),
    (lambda: _functional(keras.layers.Flatten(), keras.layers.Dense(3), shape=(8,)), ValueError,
     r"must take one batch of images \(batch, height, width, channels\); it takes \(None, 8\)"),
    (lambda: _functional(keras.layers.Conv2D(3, 1), keras.layers.GlobalAveragePooling2D(name="gap")),
     ValueError, r"must come from a Dense layer .* comes from 'gap' \(GlobalAveragePooling2D\)"),
    (lambda: _functional(keras.layers.Conv2D(4, 1), keras.layers.Reshape((64, 4), name="tokens"),
                         keras.layers.Flatten(), keras.layers.Dense(3)), ValueError,
     r"Reshape 'tokens' has a fixed target_shape \(64, 4\), but folding changes its input "
     r"from \(None, 8, 8, 4\) to \(None, 8, 8, 6\)"),
    (lambda: _functional(keras.layers.Flatten(), keras.layers.Dense(64),
                         keras.layers.Reshape((8, 8, 1), name="to_image"), keras.layers.Flatten(),
                         keras.layers.Dense(3)), ValueError, "Reshape 'to_image' has a fixed"),
    (lambda: _functional(keras.layers.Rescaling([0.5, 2.0], name="per_channel"),
                         keras.layers.Flatten(), keras.layers.Dense(3)), ValueError,
     r"layer 'per_channel' \(Rescaling\) cannot take its folded inputs \[\(None, 8, 8, 4\)\]"),
])
def test_models_folding_cannot_handle_are_refused_by_name(model, error, message):
    model = model()
    if not model.built:
        model.build((None, 8, 8, 2))
    with pytest.raises(error, match=message):
        folding.fold_model(model, 2)


@pytest.mark.parametrize("fold", [0, -1, 1.5, True])
def test_bad_fold_of_a_model_is_rejected(fold):
    with pytest.raises(ValueError, match="fold must be an int >= 1"):
        folding.fold_model(_residual_cnn(), fold)


def test_bad_arguments_of_the_model_form_are_rejected():
    model = _residual_cnn()
    with pytest.raises(TypeError, match="reads the input shape and classes from the model"):
        folding.fold_model(model, 2, (12, 12, 3), 5)
    with pytest.raises(ValueError, match="width must be a number > 0 or None, got 0"):
        folding.fold_model(model, 2, width=0)
    with pytest.raises(ValueError, match="give width or width_multiplier"):
        folding.fold_model("noscope", 2, (8, 8, 1), 2, 1.0, width=1.0)


def test_builder_form_takes_width_too():
    model = folding.fold_model("noscope", 3, (12, 10, 3), 2, width=1.0)
    assert model.get_layer("conv1").filters == 16 and model.output_shape == (None, 6)
