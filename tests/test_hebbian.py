"""HebbianSparseConv2D: strengths vs a NumPy loop, rewiring, arguments, serialisation."""
import math

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

import tfcompress
from tfcompress import hebbian, models, sparse


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# Not 1x1 kernels with unequal strides: TF 2.21's oneDNN Conv2DBackpropFilter (so also
# the gradient of any such Conv2D) segfaults on CPU there.
@pytest.mark.parametrize("strides, kernel", [(1, 1), (2, 1), (1, 3), (2, 3), ((1, 2), 3),
                                             (1, (3, 5)), ((2, 1), (3, 5)), (1, 5), (2, 5)])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_coactivation_equals_numpy_loop(strides, padding, kernel):
    x = _x((3, 9, 8, 3))
    y = keras.layers.Conv2D(4, kernel, strides=strides, padding=padding)(x).numpy()
    window = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    for threshold in (0.0, 0.4):
        got = hebbian.coactivation(x, y, kernel, strides, padding, threshold).numpy()
        want = hebbian.strengths_reference(x, y, window, strides, padding, threshold)
        assert want.max() > 0
        np.testing.assert_array_equal(got, want)


def test_coactivation_rejects_bad_arguments():
    x, y = _x((1, 4, 4, 2)), _x((1, 4, 4, 3))
    with pytest.raises(ValueError, match="padding"):
        hebbian.coactivation(x, y, 3, padding="full")
    with pytest.raises(ValueError, match="kernel_size"):
        hebbian.coactivation(x, y, 0)
    with pytest.raises(ValueError, match="N, H, W, C"):
        hebbian.coactivation(x[0], y, 3, padding="same")


def test_strengths_accumulate_every_accumulate_every_training_calls():
    layer = tfcompress.HebbianSparseConv2D(4, 3, padding="same", accumulate_every=3, rewire_every=30, threshold=0.1)
    step = tf.function(lambda x: layer(x, training=True))
    want = np.zeros((3, 3, 2, 4), np.int64)
    for call in range(1, 8):
        x = _x((2, 6, 6, 2), seed=call)
        y = step(x).numpy()
        layer(x, training=False)  # inference calls neither count nor accumulate
        if call % 3 == 0:
            want += hebbian.strengths_reference(x, y, (3, 3), 1, "same", 0.1)
    assert int(layer.step.numpy()) == 7
    np.testing.assert_array_equal(layer.strengths.numpy(), want)


def test_slice_counts():
    assert hebbian.slice_counts(9, 0.10, 0.15) == (1, 2)
    assert hebbian.slice_counts(25, 0.10, 0.15) == (3, 4)
    assert hebbian.slice_counts(20, 0.15, 0.15) == (3, 3)
    assert hebbian.slice_counts(9, 1.0, 1.0) == (9, 9)


def _expected_ranks(strengths):
    """Independent ranking: lexsort by (-strength, flat window index) per (c, f) slice."""
    kh, kw, c, f = strengths.shape
    ranks = np.zeros_like(strengths, dtype=np.int64)
    for ci in range(c):
        for fi in range(f):
            flat = strengths[:, :, ci, fi].reshape(-1)
            order = np.lexsort((np.arange(flat.size), -flat))
            slice_ranks = np.empty(flat.size, np.int64)
            slice_ranks[order] = np.arange(flat.size)
            ranks[:, :, ci, fi] = slice_ranks.reshape(kh, kw)
    return ranks


def test_rewire_keeps_top_k1_reinitialises_to_k2_and_cuts_the_rest():
    layer = tfcompress.HebbianSparseConv2D(6, 5, padding="same", k1=0.10, k2=0.25, name="heb_rewire")
    layer.build((None, 8, 8, 4))
    optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
    optimizer.build(layer.trainable_variables)
    slot = sparse.slots.optimizer_slots(optimizer, layer.kernel)[0]
    slot.assign(tf.ones_like(slot))
    # Values 0..3 only: many ties.
    strengths = np.random.default_rng(1).integers(0, 4, (5, 5, 4, 6)).astype(np.float32)
    layer.strengths.assign(strengths)
    old = layer.kernel.numpy()
    layer.rewire(optimizer)

    kept, connected = 3, 7  # ceil(2.5), ceil(6.25)
    ranks = _expected_ranks(strengths)
    keep, fresh, cut = ranks < kept, (ranks >= kept) & (ranks < connected), ranks >= connected
    new = layer.kernel.numpy()
    np.testing.assert_array_equal(new[keep], old[keep])
    limit = math.sqrt(6 / (5 * 5 * 4))  # He-uniform
    assert np.all(new[fresh] != 0) and np.all(np.abs(new[fresh]) <= limit)
    assert not np.any(np.isin(new[fresh], old))
    np.testing.assert_array_equal(new[cut], 0)
    np.testing.assert_array_equal(layer.mask.numpy(), (ranks < connected).astype(np.float32))
    np.testing.assert_array_equal(slot.numpy(), keep.astype(np.float32))
    np.testing.assert_array_equal(layer.strengths.numpy(), 0)

    # Same name and seed: the same draw (replicas, workers and resumed runs agree).
    twin = tfcompress.HebbianSparseConv2D(6, 5, padding="same", k1=0.10, k2=0.25, name="heb_rewire")
    twin.build((None, 8, 8, 4))
    twin.strengths.assign(strengths)
    twin.rewire()
    np.testing.assert_array_equal(twin.kernel.numpy()[fresh], new[fresh])


def test_rewire_ties_go_to_the_first_window_positions():
    layer = tfcompress.HebbianSparseConv2D(2, 3, padding="same", k1=0.25, k2=0.25)
    layer.build((None, 5, 5, 3))
    layer.rewire()  # all strengths zero: every weight ties
    mask = layer.mask.numpy().reshape(9, 3, 2)
    np.testing.assert_array_equal(mask[:3], 1)
    np.testing.assert_array_equal(mask[3:], 0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(k1=0.0), "k1"), (dict(k1=0.2, k2=0.1), "k1"), (dict(k2=1.5), "k2"),
    (dict(k1="0.1"), "k1"), (dict(accumulate_every=0), "accumulate_every"),
    (dict(accumulate_every=2.5), "accumulate_every"),
    (dict(accumulate_every=10, rewire_every=5), "rewire_every"),
    (dict(padding="full"), "padding"),
])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tfcompress.HebbianSparseConv2D(4, 3, **kwargs)


def _model(seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        tfcompress.HebbianSparseConv2D(8, 3, padding="same", activation="relu", name="heb1", **kwargs),
        tfcompress.HebbianSparseConv2D(8, 3, strides=2, padding="valid", name="heb2", **kwargs),
        keras.layers.Flatten(), keras.layers.Dense(10)])


def test_fit_rewires_and_round_trips_through_keras_file_and_strip(tmp_path):
    model = _model(accumulate_every=1, rewire_every=3)
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = _x((40, 8, 8, 1)), np.arange(40) % 10
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[hebbian.HebbianRewiring()])
    layer = model.get_layer("heb1")
    assert int(layer.step.numpy()) == 10 and int(layer.rewires.numpy()) == 3
    per_slice = layer.mask.numpy().sum(axis=(0, 1))
    np.testing.assert_array_equal(per_slice, 2)  # 3x3 at k2 = 0.15
    assert np.all(layer.kernel.numpy()[layer.mask.numpy() == 0] == 0)

    path = str(tmp_path / "hebbian.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-6)
    for name in ("heb1", "heb2"):
        a, b = model.get_layer(name), loaded.get_layer(name)
        assert type(b) is hebbian.HebbianSparseConv2D and b.get_config() == a.get_config()
        for variable in ("mask", "strengths", "step", "rewires"):
            np.testing.assert_array_equal(getattr(b, variable).numpy(),
                                          getattr(a, variable).numpy())

    plain = sparse.strip(model)  # the sparse package's mask machinery applies as is
    assert not hebbian.hebbian_layers(plain)
    np.testing.assert_allclose(plain.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)
    assert sparse.stats(model)["layers"]["heb1"]["nonzeros"] == 2 * 8


def test_rewiring_callback_needs_hebbian_layers():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="HebbianSparseConv2D"):
        model.fit(np.zeros((4, 4)), np.zeros((4, 2)), verbose=0,
                  callbacks=[hebbian.HebbianRewiring()])


def test_conv_factory_builds_reference_models():
    model = models.build("lenet5", (28, 28, 1), 10, conv_layer=hebbian.conv_factory(k2=0.2))
    layers = hebbian.hebbian_layers(model)
    assert len(layers) == 2 and all(layer.k2 == 0.2 for layer in layers)
    assert layers[0].kernel.shape == (5, 5, 1, 20)


def test_grouped_conv_port_equals_numpy_loop_and_quick_suite_runs():
    from tfcompress.benchmarks import hebbian as suite
    for padding in ("same", "valid"):
        x = _x((2, 7, 7, 3))
        y = keras.layers.Conv2D(4, 3, padding=padding)(x)
        np.testing.assert_array_equal(suite.grouped_conv_strengths(x, y, 3, padding).numpy(),
                                      hebbian.strengths_reference(x, y.numpy(), (3, 3), 1, padding))
    result = suite.run(quick=True, repeats=1)
    assert len(result.ratios) == 4 and all(r["value"] > 0 for r in result.ratios)
    assert {row["variant"] for row in result.rows} >= {
        "conv2d_backprop_filter", "grouped_conv_port", "Conv2D", "HebbianSparseConv2D"}
