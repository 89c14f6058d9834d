"""sparse.sparsify/strip over any functional/Sequential model: every kernel kind, nested models."""
import logging
import warnings

import numpy as np
import pytest
import tf_keras as keras

from kernel_models import KERNELS, assert_unchanged, cnn, conv1d_model, conv3d_model, inputs_for, \
    kernel_of, snapshot
from tfcompress import sparse
from tfcompress.rewrite import all_layers


@pytest.mark.parametrize("build", [cnn, conv1d_model, conv3d_model])
def test_sparsify_masks_every_kernel_and_strip_gives_plain_layers(build):
    model = build()
    before = snapshot(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        masked_model = sparse.sparsify(model, sparsity=0.75, keep_dense=(), seed=1)
    assert_unchanged(model, before)
    masked = sparse.masked_layers(masked_model)
    assert [type(layer.layer).__name__ for layer in masked] == [
        type(layer).__name__ for layer in all_layers(model) if type(layer).__name__ in KERNELS]
    for layer in masked:
        kernel, mask = layer.kernel.numpy(), layer.mask.numpy()
        assert layer.kernel is kernel_of(layer.layer)
        assert mask.sum() == round(0.25 * mask.size)
        assert np.all(kernel[mask == 0] == 0)

    # The dense computation with each kernel times its mask.
    reference = keras.models.clone_model(model)
    reference.set_weights(model.get_weights())
    by_name = {layer.name: layer for layer in all_layers(reference)}
    for layer in masked:
        kernel = kernel_of(by_name[layer.layer.name])
        kernel.assign(kernel * layer.mask)
    x = inputs_for(model)
    expected = reference(x).numpy()
    np.testing.assert_allclose(masked_model(x).numpy(), expected, rtol=1e-5, atol=1e-5)

    plain = sparse.strip(masked_model)
    assert [type(layer) for layer in all_layers(plain)] == [type(layer) for layer in all_layers(model)]
    by_name = {layer.name: layer for layer in all_layers(plain)}
    for layer in masked:
        np.testing.assert_array_equal(kernel_of(by_name[layer.layer.name]).numpy() != 0,
                                      layer.mask.numpy() != 0)
    np.testing.assert_allclose(plain(x).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_keep_dense_first_and_last_are_those_of_the_whole_model():
    stem = keras.Sequential([keras.Input((6, 6, 2)), keras.layers.Conv2D(4, 3, name="stem_conv")],
                            name="stem")
    head = keras.Sequential([keras.Input((16,)), keras.layers.Dense(6, name="hidden"),
                             keras.layers.Dense(3, name="logits")], name="head")
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(4, 3, name="mid")(stem(inputs))
    model = keras.Model(inputs, head(keras.layers.Flatten()(x)))
    with pytest.warns(UserWarning,
                      match=r"keep_dense leaves stem_conv \(72 weights\), logits \(18 weights\)"):
        masked = sparse.sparsify(model, sparsity=0.5)
    assert [layer.layer.name for layer in sparse.masked_layers(masked)] == ["mid", "hidden"]


def test_a_layer_sparsify_cannot_mask_is_named():
    model = keras.Sequential([keras.Input((5,), dtype="int32"), keras.layers.Embedding(10, 4, name="emb"),
                              keras.layers.Flatten(), keras.layers.Dense(3, name="fc")])
    with pytest.warns(UserWarning, match=r"sparsify: layers 'emb' \(Embedding\) have weights but no "
                                         r"kernel variable it can mask"):
        masked = sparse.sparsify(model, sparsity=0.5, keep_dense=())
    assert [layer.layer.name for layer in sparse.masked_layers(masked)] == ["fc"]


def test_mobilenet_v2_sparsifies_and_rewires_with_rigl(caplog):
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=10)
    with caplog.at_level(logging.INFO, logger="absl"):
        masked_model = sparse.sparsify(model, sparsity=0.8, keep_dense=())
    assert "kernels 80.0% sparse overall" in caplog.text
    masked = sparse.masked_layers(masked_model)
    assert len(masked) == sum(type(layer).__name__ in KERNELS for layer in all_layers(model))
    assert {type(layer.layer).__name__ for layer in masked} == {"Conv2D", "DepthwiseConv2D", "Dense"}
    total = sparse.stats(masked_model)["total"]
    assert total["sparsity"] == pytest.approx(0.8, abs=1e-3)

    rng = np.random.default_rng(0)
    x, y = rng.random((8, 32, 32, 3), dtype=np.float32), rng.integers(0, 10, 8)
    first = [layer.mask.numpy() for layer in masked]
    masked_model.compile(keras.optimizers.SGD(0.01, momentum=0.9),
                         keras.losses.SparseCategoricalCrossentropy())
    rigl = sparse.DynamicSparsity(sparse.RigL(0.3), update_every=1)
    masked_model.fit(x, y, batch_size=4, epochs=1, callbacks=[rigl], verbose=0)
    assert int(rigl.updates.numpy()) == 2
    assert sparse.stats(masked_model)["total"]["nonzeros"] == total["nonzeros"]
    assert any(not np.array_equal(layer.mask.numpy(), mask) for layer, mask in zip(masked, first))
    for layer in masked:
        assert np.all(layer.kernel.numpy()[layer.mask.numpy() == 0] == 0)
