"""tfcompress.sparse masks: sparsify/strip, distributions, masked weights staying zero, errors, hashing."""
import warnings

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from sparse_helpers import compiled, data, tiny_model
from tfcompress import sparse
from tfcompress.training import TrainConfig


def test_forward_is_the_masked_product_and_counts_are_exact():
    model = tiny_model(sparsity=0.75)
    x, _ = data()
    hidden, out = sparse.masked_layers(model)
    for layer in (hidden, out):
        mask = layer.mask.numpy()
        assert set(np.unique(mask)) <= {0.0, 1.0}
        assert mask.sum() == round(0.25 * mask.size)
        assert np.all(layer.kernel.numpy()[mask == 0] == 0)
    # numpy reference of the MLP with W * M
    h = np.maximum(x @ (hidden.kernel.numpy() * hidden.mask.numpy()) + hidden.layer.bias.numpy(), 0)
    expected = h @ (out.kernel.numpy() * out.mask.numpy()) + out.layer.bias.numpy()
    np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-5, atol=1e-5)
    plain = sparse.strip(model)
    assert not sparse.masked_layers(plain)
    np.testing.assert_allclose(plain(x).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_masked_weights_stay_exactly_zero_with_momentum_and_weight_decay():
    model = compiled(tiny_model(sparsity=0.8))
    x, y = data(128)
    rewire = sparse.DynamicSparsity(sparse.SET(0.3), update_every=3)
    model.fit(x, y, batch_size=8, epochs=4, callbacks=[rewire], verbose=0)
    assert int(rewire.updates.numpy()) == 64 // 3  # 16 steps per epoch
    for layer in sparse.masked_layers(model):
        kernel, mask = layer.kernel.numpy(), layer.mask.numpy()
        assert np.all(kernel[mask == 0] == 0.0)
        assert np.count_nonzero(kernel) > 0
    assert sparse.stats(model)["total"]["nonzeros"] == round(0.2 * 128) + round(0.2 * 64)


def test_update_period_and_stop_step():
    model = compiled(tiny_model())
    x, y = data(64)
    rewire = sparse.DynamicSparsity(sparse.SET(0.3), update_every=2, stop_step=5)
    model.fit(x, y, batch_size=8, epochs=1, callbacks=[rewire], verbose=0)  # 8 steps
    assert int(rewire.updates.numpy()) == 2  # steps 2 and 4


def test_erk_matches_the_formula_and_the_budget():
    shapes = [(3, 3, 16, 32), (3, 3, 32, 32), (512, 10)]
    densities = sparse.layer_densities(shapes, "erk", sparsity=0.9)
    sizes = np.array([np.prod(s) for s in shapes])
    raw = np.array([np.sum(s) / np.prod(s) for s in shapes])
    np.testing.assert_allclose(densities, raw * 0.1 * sizes.sum() / (raw * sizes).sum(), rtol=1e-9)
    capped = sparse.layer_densities([(3, 3, 3, 8), (1000, 1000)], "erk", sparsity=0.5)
    assert capped[0] == 1.0
    assert capped[0] * 216 + capped[1] * 1e6 == pytest.approx(0.5 * (216 + 1e6))
    assert sparse.layer_densities(shapes, "per_kind") == [0.5, 0.5, pytest.approx(0.02)]


def test_kernel_granularity_masks_whole_patches():
    model = tiny_model(sparsity=0.5, conv=True, granularity="kernel")
    conv = sparse.masked_layers(model)[0]
    mask = conv.mask.numpy()
    assert np.all(mask == mask[:1, :1])  # constant over kh x kw
    assert mask[0, 0].sum() == 12  # half of 3 x 8 channel pairs
    x, y = data(32, (6, 6, 3))
    compiled(model).fit(x, y, batch_size=8, epochs=1, verbose=0,
                        callbacks=[sparse.DynamicSparsity(sparse.SET(0.5), update_every=2)])
    mask = conv.mask.numpy()
    assert np.all(mask == mask[:1, :1]) and mask[0, 0].sum() == 12


def test_same_seed_same_masks_other_seed_other_masks():
    a, b, c = tiny_model(seed=3), tiny_model(seed=3), tiny_model(seed=4)
    np.testing.assert_array_equal(a.layers[0].mask.numpy(), b.layers[0].mask.numpy())
    assert not np.array_equal(a.layers[0].mask.numpy(), c.layers[0].mask.numpy())


def test_masked_model_round_trips_through_keras_file(tmp_path):
    model = tiny_model()
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    x, _ = data(4)
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6)
    np.testing.assert_array_equal(loaded.layers[0].mask.numpy(), model.layers[0].mask.numpy())


@pytest.mark.parametrize("call,match", [
    (lambda: tiny_model(sparsity=1.0), "sparsity must be a sparsity in"),
    (lambda: tiny_model(sparsity=-0.1), "sparsity must be a sparsity in"),
    (lambda: tiny_model(granularity="row"), "granularity must be one of"),
    (lambda: tiny_model(distribution="gaussian"), "distribution must be one of"),
    (lambda: sparse.DynamicSparsity(sparse.SET(), update_every=0), "update_every must be"),
    (lambda: sparse.SET(fraction=1.5), "fraction must be in"),
    (lambda: sparse.DSR(n_prune_params=0), "n_prune_params must be"),
    (lambda: sparse.MaskedLayer(keras.layers.Flatten())(tf.zeros((1, 2, 2))), "has none"),
    (lambda: sparse.sparsify(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]),
                             sparsity=0.5, keep_dense=("middle",)), "keep_dense item 'middle'"),
    (lambda: sparse.HashedDense(4, density=0.0), "density"),
])
def test_bad_arguments_raise_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("settings,flag", [
    ({"sparse": "magic"}, "--sparse"), ({"sparse": "dsr", "update_every": 0}, "--update_every"),
    ({"sparse": "set", "sparse_distribution": "erk"}, "--sparsity"),
    ({"sparse": "dsr", "initial_sparsity_fc": 1.0}, "--initial_sparsity_fc"),
    ({"sparse": "rigl", "rewire_fraction": 0.0}, "--rewire_fraction"),
])
def test_bad_sparse_flags_name_the_flag(settings, flag):
    with pytest.raises(ValueError, match=flag):
        TrainConfig(**settings).validate()


def test_hashed_dense_shares_weights_by_its_hash():
    layer = sparse.HashedDense(6, density=0.25, hash_seed=1)
    x = np.random.default_rng(0).normal(size=(3, 8)).astype("float32")
    y = layer(x).numpy()
    real, buckets, signs = (layer.hashed_weights.numpy(), layer.hash_buckets.numpy(),
                            layer.hash_signs.numpy())
    assert real.shape == (12,) and len(layer.trainable_weights) == 2  # real weights + bias
    np.testing.assert_allclose(y, x @ (real[buckets] * signs) + layer.bias.numpy(), rtol=1e-5, atol=1e-6)
    # the gradient of a real weight is the sum over the virtual entries sharing it (or their mean)
    for rescale in (False, True):
        layer.rescale_gradient = rescale
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x))
        grad = tf.convert_to_tensor(tape.gradient(loss, layer.hashed_weights)).numpy()
        virtual = np.tile(x.sum(0)[:, None], (1, 6)) * signs
        expected = np.bincount(buckets.ravel(), virtual.ravel(), minlength=12)
        if rescale:
            expected /= np.maximum(np.bincount(buckets.ravel(), minlength=12), 1)
        np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-5)


def test_tie_hashes_all_but_kept_layers_and_trains():
    model = keras.Sequential([keras.Input((6, 6, 3)), keras.layers.Conv2D(8, 3, name="c1"),
                              keras.layers.Conv2D(8, 3, name="c2"), keras.layers.Flatten(),
                              keras.layers.Dense(4, name="out")])
    tied = sparse.tie(model, density=0.1, keep_dense=("last",))
    assert [type(l).__name__ for l in tied.layers] == ["HashedConv2D", "HashedConv2D", "Flatten", "Dense"]
    assert tied.get_layer("c2").hashed_weights.shape == (58,)
    counted = sparse.stats(tied)["layers"]
    assert counted["c2"] == {"nonzeros": 58, "size": 576, "sparsity": 1 - 58 / 576}
    assert counted["out"]["size"] == counted["out"]["nonzeros"] == 32 * 4  # kept dense
    x, y = data(16, (6, 6, 3))
    history = compiled(tied).fit(x, y, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    restored = keras.Sequential.from_config(tied.get_config())
    assert restored.get_layer("c1").density == 0.1


def test_keeping_a_large_layer_dense_warns_with_the_sparsity_reached():
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(300, name="fc1"),
                              keras.layers.Dense(100, name="fc2"), keras.layers.Dense(10, name="logits")])
    with pytest.warns(UserWarning, match=r"kernels are 10\.1% sparse overall, far below the requested "
                                         r"sparsity=0\.9, because keep_dense leaves fc1 \(235,200 weights\), "
                                         r"logits \(1,000 weights\) dense"):
        sparse.sparsify(model, sparsity=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        masked = sparse.sparsify(model, sparsity=0.9, keep_dense=())
    assert sparse.stats(masked)["total"]["sparsity"] == pytest.approx(0.9, abs=0.01)
