"""tfcompress.pruning.magnitude: tfmot's cubic schedule, strip, custom layers, bad input, export."""
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_model_optimization as tfmot
import tf_keras as keras

from tfcompress import export, pruning


def closed_form(t, s_i, s_f, t0, t1, frequency, power=3):
    """Zhu & Gupta's sparsity in effect after training step t: the value at the last update step."""
    if t < t0:
        return 0.0
    last = t1 if t >= t1 else t0 + (t - t0) // frequency * frequency  # the last update is always at t1
    return s_f + (s_i - s_f) * (1 - (last - t0) / (t1 - t0)) ** power


class MatMul(keras.layers.Layer):
    """A custom layer with a `kernel` that neither tfmot's registry nor PrunableLayer knows."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units))

    def call(self, x):
        return x @ self.kernel

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class PrunableMatMul(MatMul):
    """MatMul with tfmot's PrunableLayer protocol."""

    def get_prunable_weights(self):
        return [self.kernel]


class MaskSparsity(keras.callbacks.Callback):
    """Records (optimizer step, fraction of zeros in each wrapper's mask) after every batch."""

    def __init__(self):
        super().__init__()
        self.rows = []

    def on_train_batch_end(self, batch, logs=None):
        masks = [layer.pruning_vars[0][1].numpy() for layer in self.model.layers
                 if hasattr(layer, "pruning_vars")]
        self.rows.append((int(self.model.optimizer.iterations), [float(np.mean(m == 0)) for m in masks]))


def fit_pruned(model, steps, batch=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((steps * batch, *model.input_shape[1:]), dtype=np.float32)
    y = rng.random((steps * batch, *model.output_shape[1:]), dtype=np.float32)
    model.compile(keras.optimizers.SGD(0.01), "mse")
    record = MaskSparsity()
    model.fit(x, y, batch_size=batch, epochs=1, callbacks=[*pruning.callbacks(), record], verbose=0)
    return record.rows


@pytest.mark.parametrize("frequency", [2, 4])  # 4: the span 10 is not a multiple, end_step still prunes
def test_cubic_schedule_matches_closed_form_and_reaches_target(frequency):
    model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(50, name="d"),
                              PrunableMatMul(20, name="custom")])
    wrapped = pruning.prune_low_magnitude(model, 0.8, begin_step=2, end_step=12, initial_sparsity=0.1,
                                          frequency=frequency)
    rows = fit_pruned(wrapped, steps=16)
    for step, sparsities in rows:
        expected = closed_form(step, 0.1, 0.8, 2, 12, frequency)
        for value, size in zip(sparsities, (32 * 50, 50 * 20)):
            assert abs(value - expected) <= 1.0 / size + 1e-9, (step, value, expected)
    assert rows[-1][1] == pytest.approx([0.8, 0.8], abs=1e-3)


def test_strip_gives_plain_model_with_zeros_and_same_outputs():
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, name="conv"),
                              keras.layers.Flatten(), PrunableMatMul(10, name="custom")])
    wrapped = pruning.prune_low_magnitude(model, 0.5, 0, 4, frequency=1)
    fit_pruned(wrapped, steps=6)
    x = np.random.default_rng(1).random((4, 8, 8, 1), dtype=np.float32)
    expected = wrapped(x, training=False).numpy()
    stripped = pruning.strip(wrapped)
    assert [type(layer) for layer in stripped.layers] == [keras.layers.Conv2D, keras.layers.Flatten,
                                                         PrunableMatMul]
    assert not any("prune" in w.name for w in stripped.weights)
    assert pruning.sparsity(stripped) == pytest.approx({"conv": 0.5, "custom": 0.5}, abs=0.02)
    np.testing.assert_allclose(stripped(x).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_block_size_prunes_dense_kernels_in_the_weakest_input_blocks_and_convs_unstructured():
    from tfcompress import serving
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(4, 3, name="conv"),
                              keras.layers.Flatten(), keras.layers.Dense(8, name="fc")])  # 64 x 8
    before = {layer.name: layer.kernel.numpy() for layer in model.layers if hasattr(layer, "kernel")}
    wrapped = pruning.prune_low_magnitude(model, 0.75, 0, 1, frequency=1, block_size=4)
    assert [layer.block_size for layer in wrapped.layers if hasattr(layer, "block_size")] == [
        (1, 1), (4, 1)]
    x = np.random.default_rng(0).random((2, 6, 6, 1), dtype=np.float32)
    wrapped.compile(keras.optimizers.SGD(0.0), "mse")  # weights unchanged: the masks are of `before`
    wrapped.fit(x, np.zeros((2, 8), np.float32), batch_size=1, callbacks=pruning.callbacks(), verbose=0)
    stripped = pruning.strip(wrapped)
    fc, conv = stripped.get_layer("fc").kernel.numpy(), stripped.get_layer("conv").kernel.numpy()
    # 16 x 8 blocks of 4 inputs of one unit; the 96 of smallest |w| sum are pruned (NumPy's ranking).
    np.testing.assert_array_equal(fc != 0, serving.block_mask(before["fc"], 0.75, 4))
    assert np.mean(conv == 0) == pytest.approx(0.75, abs=0.01)  # unstructured: any weight
    np.testing.assert_array_equal(conv != 0, np.abs(before["conv"]) > np.quantile(
        np.abs(before["conv"]), 0.75))
    with pytest.raises(ValueError, match="block_size must be an int >= 1, got 0"):
        pruning.prune_low_magnitude(model, 0.5, 0, 1, block_size=0)


def test_layers_argument_prunes_only_those_layers():
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, name="a"),
                              keras.layers.Dense(3, name="b")])
    wrapped = pruning.prune_low_magnitude(model, 0.6, 0, 2, frequency=1, layers=["b"])
    assert [type(layer).__name__ for layer in wrapped.layers] == ["Dense", "PruneLowMagnitude"]


def test_spectral_conv_is_prunable():
    layers = pytest.importorskip("tfcompress.spectral.layers")
    model = keras.Sequential([keras.Input((8, 8, 2)), layers.SpectralConv2D(3, 3, name="spectral")])
    wrapped = pruning.prune_low_magnitude(model, 0.5, 0, 2, frequency=1)
    fit_pruned(wrapped, steps=4)
    stripped = pruning.strip(wrapped)
    assert isinstance(stripped.layers[0], layers.SpectralConv2D)
    assert pruning.sparsity(stripped)["spectral"] == pytest.approx(0.5, abs=0.02)


def test_tfmots_own_prune_low_magnitude_accepts_our_layers():
    spectral = pytest.importorskip("tfcompress.spectral.layers")
    from tfcompress.hebbian import HebbianSparseConv2D
    from tfcompress.sparse import HashedDense
    model = keras.Sequential([keras.Input((8, 8, 2)), spectral.SpectralConv2D(3, 3, name="spectral"),
                              HebbianSparseConv2D(4, 3, name="hebbian"), keras.layers.Flatten(),
                              HashedDense(5, density=0.5, name="hashed")])
    wrapped = tfmot.sparsity.keras.prune_low_magnitude(
        model, pruning_schedule=tfmot.sparsity.keras.ConstantSparsity(0.5, 0, frequency=1))
    assert type(wrapped.layers[0].layer) is spectral.SpectralConv2D
    x = np.random.default_rng(0).random((8, 8, 8, 2), dtype=np.float32)
    wrapped.compile(keras.optimizers.SGD(0.01), "mse")
    wrapped.fit(x, np.zeros((8, 5), np.float32), batch_size=4, verbose=0,
                callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    assert pruning.sparsity(wrapped) == pytest.approx({"spectral": 0.5, "hebbian": 0.5, "hashed": 0.5},
                                                      abs=0.02)
    assert not hasattr(keras.layers.Dense(2), "get_prunable_weights")

    # One strip for every wrapper, nested ones too: tfmot's around our Hebbian MaskedLayer.
    from tfcompress import sparse
    assert sparse.strip is pruning.strip
    hebbian = wrapped.layers[1].layer
    hebbian.mask.assign(hebbian.mask * (np.arange(4) % 2 == 0))  # the Hebbian mask cuts filters 1, 3
    expected = wrapped(x, training=False).numpy()
    stripped = pruning.strip(wrapped)
    assert [type(layer) for layer in stripped.layers] == [spectral.SpectralConv2D, keras.layers.Conv2D,
                                                         keras.layers.Flatten, HashedDense]
    np.testing.assert_allclose(stripped(x).numpy(), expected, rtol=1e-5, atol=1e-5)
    counted = sparse.stats(wrapped)["layers"]  # one counter: tfmot's masks times the Hebbian one
    (_, tfmot_mask, _), = wrapped.layers[1].pruning_vars
    kept = (tfmot_mask.numpy() != 0) & (hebbian.mask.numpy() != 0)  # the union of both masks' zeros
    assert counted["prune_low_magnitude_hebbian"]["sparsity"] == pytest.approx(1 - kept.mean())
    assert counted["prune_low_magnitude_hebbian"]["sparsity"] > 0.5  # each mask alone cuts half
    assert sparse.stats(stripped)["layers"]["hebbian"] == counted["prune_low_magnitude_hebbian"]


def test_a_custom_layer_without_get_prunable_weights_is_named():
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, name="d"), MatMul(3, name="custom")])
    with pytest.warns(UserWarning, match=r"skipping layer 'custom' \(MatMul\): it is not in tfmot's "
                                         r"registry .*get_prunable_weights\(self\)"):
        wrapped = pruning.prune_low_magnitude(model, 0.5, 0, 2)
    assert [type(layer).__name__ for layer in wrapped.layers] == ["PruneLowMagnitude", "MatMul"]
    assert not hasattr(model.layers[1], "get_prunable_weights")
    with pytest.raises(ValueError, match=r"layer 'custom' \(MatMul\) cannot be converted: it is not in "
                                         r"tfmot's registry and has no get_prunable_weights\(\); give"):
        pruning.prune_low_magnitude(model, 0.5, 0, 2, layers=["custom"])


@pytest.mark.parametrize("kwargs,match", [
    (dict(final_sparsity=1.0), "final_sparsity must be a number in \\[0, 1\\), got 1.0"),
    (dict(final_sparsity=-0.1), "final_sparsity"),
    (dict(initial_sparsity=0.9, final_sparsity=0.5), "initial_sparsity 0.9 must be <="),
    (dict(begin_step=10, end_step=10), "begin_step \\(10\\) must be < end_step \\(10\\)"),
    (dict(layers=["nope"]), "layers \\['nope'\\] are not in model"),
    (dict(layers=["flat"]), "layer 'flat' \\(Flatten\\) is not a kind of layer prune_low_magnitude handles"),
])
def test_bad_arguments_raise_before_wrapping(kwargs, match):
    model = keras.Sequential([keras.Input((4, 4)), keras.layers.Flatten(name="flat"),
                              keras.layers.Dense(3, name="d")])
    args = {**dict(final_sparsity=0.5, begin_step=0, end_step=10, frequency=1), **kwargs}
    with pytest.raises(ValueError, match=match):
        pruning.prune_low_magnitude(model, **args)


def test_a_wrapped_model_saves_and_loads_with_its_schedule(tmp_path):
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, name="d")])
    wrapped = pruning.prune_low_magnitude(model, 0.5, 0, 10, frequency=3)
    wrapped.save(tmp_path / "wrapped.keras")
    with tfmot.sparsity.keras.prune_scope():
        loaded = keras.models.load_model(tmp_path / "wrapped.keras")
    schedule = loaded.get_layer("prune_low_magnitude_d").pruning_schedule
    assert isinstance(schedule, pruning.magnitude.PolynomialDecay)
    assert bool(schedule(10)[0]) and not bool(schedule(8)[0])


def test_stripped_savedmodel_loads_without_tfcompress(tmp_path):
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, name="conv"),
                              keras.layers.Flatten(), keras.layers.Dense(10, name="fc")])
    wrapped = pruning.prune_low_magnitude(model, 0.75, 0, 4, frequency=1)
    fit_pruned(wrapped, steps=5)
    stripped = pruning.strip(wrapped)
    path = export.save(stripped, str(tmp_path / "saved"), portable=True)
    x = np.random.default_rng(2).random((5, 8, 8, 1), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    code = (
        "import sys, numpy as np, tensorflow as tf\n"
        f"m = tf.saved_model.load({path!r})\n"
        f"y = m.signatures['serving_default'](inputs=tf.constant(np.load({str(tmp_path / 'x.npy')!r})))\n"
        f"np.save({str(tmp_path / 'y.npy')!r}, y['outputs'].numpy())\n"
        "kernels = [v.numpy() for v in m.variables_ if 'kernel' in v.name]\n"
        "assert kernels and all((k == 0).mean() >= 0.74 for k in kernels), kernels\n"
        "assert 'tfcompress' not in sys.modules and 'tensorflow_model_optimization' not in sys.modules\n")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), stripped(x).numpy(), rtol=1e-5, atol=1e-6)
