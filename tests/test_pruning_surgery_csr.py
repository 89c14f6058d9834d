"""tfcompress.pruning.surgery and csr: dead-neuron removal and CSR storage against numpy references."""
import numpy as np
import pytest
import tf_keras as keras

from tfcompress import data, models, pruning


@pytest.fixture(scope="module")
def digits16():
    return np.concatenate([x for x, _ in data.load("digits", "test", image_size=16, batch_size=512)])


def pruned_model(name, seed=0):
    """A model with random weights, 80% of them zeroed, plus whole units without inputs or outputs."""
    keras.utils.set_random_seed(seed)
    model = models.build(name, (16, 16, 1), 10)
    rng = np.random.default_rng(seed)
    weighted = [layer for layer in model.layers if hasattr(layer, "kernel")]
    for i, layer in enumerate(weighted):
        kernel, bias = layer.kernel.numpy(), layer.bias.numpy()
        kernel *= rng.random(kernel.shape) > 0.8
        if i < len(weighted) - 1:
            units = kernel.shape[-1]
            kernel[..., : units // 4] = 0                          # no incoming weights
            bias[: units // 8] = -np.abs(bias[: units // 8]) - 0.1  # ... some constant at zero
            bias[units // 8: units // 4] = rng.normal(size=units // 4 - units // 8)  # ... some not
        layer.kernel.assign(kernel)
        layer.bias.assign(bias)
    return model


@pytest.mark.parametrize("name", ["lenet_300_100", "lenet5"])
def test_remove_dead_neurons_keeps_outputs(name, digits16):
    model = pruned_model(name)
    smaller = pruning.remove_dead_neurons(model)
    assert smaller.count_params() < 0.85 * model.count_params()
    assert [layer.name for layer in smaller.layers] == [layer.name for layer in model.layers]
    np.testing.assert_array_less(np.abs(smaller.predict(digits16, verbose=0)
                                        - model.predict(digits16, verbose=0)).max(), 1e-5)
    assert smaller.get_layer("logits").kernel.shape[-1] == 10


def test_units_without_outgoing_weights_are_removed():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, activation="relu", name="a"),
                              keras.layers.Dense(3, name="b")])
    kernel = model.get_layer("b").kernel.numpy()
    kernel[[1, 4]] = 0
    model.get_layer("b").kernel.assign(kernel)
    smaller = pruning.remove_dead_neurons(model)
    assert smaller.get_layer("a").units == 4
    x = np.random.default_rng(0).random((8, 4), dtype=np.float32)
    np.testing.assert_allclose(smaller(x).numpy(), model(x).numpy(), atol=1e-6)


def test_unsupported_models_raise():
    with pytest.raises(ValueError, match="BatchNormalization.*not supported"):
        pruning.remove_dead_neurons(models.build("mnist_mlp", (8, 8, 1), 10))
    inputs = keras.Input((4,))
    branch = keras.layers.Add(name="add")([keras.layers.Dense(4, name="a")(inputs), inputs])
    with pytest.raises(ValueError, match="single chain"):
        pruning.remove_dead_neurons(keras.Model(inputs, keras.layers.Dense(2)(branch)))


def csr_reference(matrix):
    """Plain numpy CSR: values, column indices, row pointers."""
    rows, cols = np.nonzero(matrix)
    counts = np.bincount(rows, minlength=matrix.shape[0])
    return matrix[rows, cols], cols, np.concatenate([[0], np.cumsum(counts)])


def test_csr_round_trip_is_exact_and_sizes_match_numpy(tmp_path):
    model = pruned_model("lenet5", seed=1)
    path = str(tmp_path / "w.npz")
    report = pruning.to_csr(model, path)
    restored = pruning.from_csr(path)
    assert list(restored) == [w.name for w in model.weights]
    for w in model.weights:
        np.testing.assert_array_equal(restored[w.name], w.numpy())
    with np.load(path) as stored:
        for i, w in enumerate(model.weights):
            value = w.numpy()
            if value.ndim < 2:
                continue
            values, cols, indptr = csr_reference(value.reshape(-1, value.shape[-1]))
            np.testing.assert_array_equal(stored[f"{i}.values"], values)
            np.testing.assert_array_equal(stored[f"{i}.indices"], cols)
            np.testing.assert_array_equal(stored[f"{i}.indptr"], indptr)
    entries = {e.name: e for e in report.entries}
    fc1 = model.get_layer("fc1").kernel.numpy()  # 256 x 500: uint16 indices and pointers
    nnz = np.count_nonzero(fc1)
    assert entries["fc1/kernel:0"].stored_bytes == nnz * (4 + 2) + (fc1.shape[0] + 1) * 2
    assert entries["fc1/kernel:0"].break_even_sparsity == pytest.approx(
        1 - (fc1.size * 4 - (fc1.shape[0] + 1) * 2) / 6 / fc1.size)
    conv1 = model.get_layer("conv1").kernel.numpy()  # 25 x 20: uint8 indices, uint16 pointers
    assert entries["conv1/kernel:0"].stored_bytes == np.count_nonzero(conv1) * 5 + 26 * 1
    assert report.dense_bytes == 4 * model.count_params()
    assert report.ratio == pytest.approx(report.dense_bytes / report.csr_bytes)
    assert report.csr_bytes < report.file_bytes < report.csr_bytes + 8000
    assert 0.2 < report.break_even_sparsity < 0.5


def test_from_csr_into_a_model_checks_names_and_shapes(tmp_path):
    model = pruned_model("lenet_300_100")
    path = str(tmp_path / "w.npz")
    pruning.to_csr(model, path)
    fresh = models.build("lenet_300_100", (16, 16, 1), 10)
    pruning.from_csr(path, fresh)
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="does not match model"):
        pruning.from_csr(path, models.build("lenet_300_100", (8, 8, 1), 10))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        pruning.from_csr(str(tmp_path / "missing.npz"))
