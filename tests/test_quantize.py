"""tfcompress.quantize: QAT over models holding tfcompress's layers, pruning-preserving QAT,
custom layers without a config, export of the QAT model to int8 TFLite."""
import numpy as np
import pytest
import tensorflow_model_optimization as tfmot
import tf_keras as keras

from tfcompress import export, hebbian, models, quantize, sparse, spectral


class Scale(keras.layers.Layer):
    """A custom layer with a kernel and an activation that neither tfmot nor tfcompress knows."""

    def __init__(self, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1],), initializer="ones")

    def call(self, x):
        return self.activation(x * self.kernel)

    def get_config(self):
        return {**super().get_config(), "activation": keras.activations.serialize(self.activation)}


def data(shape=(16, 16, 1), n=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, *shape), np.float32), rng.integers(0, 10, n)


def fit(model, x, y, epochs=1, lr=0.05):
    model.compile(keras.optimizers.SGD(lr), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0)
    return model


def tfcompress_models():
    keras.utils.set_random_seed(0)
    base = models.build("lenet5", (16, 16, 1), 10)
    return {"spectral": spectral.convert(base, compress_rate=0.5),
            "masked": sparse.sparsify(base, sparsity=0.8, keep_dense=()),
            "hebbian": hebbian.convert(base),
            "hashed": sparse.tie(base, density=0.25)}


def wrapped(model):
    """{inner layer class name: quantize config class name} of the QuantizeWrappers."""
    return {type(layer.layer).__name__: type(layer.quantize_config).__name__
            for layer in model.layers if hasattr(layer, "quantize_config")}


def test_tfmot_alone_rejects_spectral_layers_and_quantize_model_accepts_every_tfcompress_layer():
    found = tfcompress_models()
    with pytest.raises(RuntimeError, match="is not supported"):
        tfmot.quantization.keras.quantize_model(found["spectral"])
    x, y = data()
    expected = {"spectral": "SpectralConv2D", "masked": "MaskedLayer", "hebbian": "HebbianSparseConv2D",
                "hashed": "HashedConv2D"}
    for name, model in found.items():
        weights = [w.copy() for w in model.get_weights()]
        qat = quantize.quantize_model(model, preserve_sparsity=False)
        assert wrapped(qat)[expected[name]] == "WeightQuantizeConfig", name
        fit(qat, x, y)
        assert qat(x[:4]).shape == (4, 10) and np.all(np.isfinite(qat(x[:4]).numpy())), name
        assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights())), name  # untouched


def test_pruning_preserving_qat_keeps_the_zeros_and_quantizes_every_kernel():
    keras.utils.set_random_seed(0)
    model = models.build("lenet_300_100", (16, 16, 1), 10)
    for layer in model.layers:
        if hasattr(layer, "kernel"):
            kernel = layer.kernel.numpy()
            kernel[np.abs(kernel) < np.quantile(np.abs(kernel), 0.8)] = 0.0
            layer.kernel.assign(kernel)
    x, y = data()
    kernels = lambda m: {w.name: w.numpy() for w in m.weights if w.name.endswith("kernel:0")}  # noqa: E731
    zeros_before = {name: k == 0 for name, k in kernels(model).items()}

    plain = fit(quantize.quantize_model(model, preserve_sparsity=False), x, y, epochs=2, lr=0.2)
    assert all(np.mean(k == 0) < 0.5 for k in kernels(plain).values())  # zeros are lost without it

    preserved = fit(quantize.quantize_model(model), x, y, epochs=2, lr=0.2)  # auto: 80% zeros
    for name, kernel in kernels(preserved).items():
        assert np.array_equal(kernel == 0, zeros_before[name]), name
    # tfmot 0.8.1 alone gives a Dense before a ReLU layer a NoOp config (no weight quantizer).
    quantizers = {layer.layer.name: [type(q).__name__ for _, q, _ in layer._weight_vars]
                  for layer in preserved.layers if hasattr(layer, "_weight_vars")}
    assert quantizers["fc1"] == quantizers["fc2"] == quantizers["logits"] == [
        "PrunePreserveDefault8BitWeightsQuantizer"]
    # int8 TFLite of the QAT model keeps the zeros (int8 zero is exact) and its predictions.
    flatbuffer = export.to_tflite(preserved, "int8", x[:32])
    served = export.tflite_predict(flatbuffer, x[:16])
    assert np.mean(np.argmax(served, -1) == np.argmax(preserved(x[:16]).numpy(), -1)) >= 0.9


def test_custom_layer_without_config_is_named_or_skipped_or_configured():
    inputs = keras.Input((8,))
    hidden = Scale(activation="relu", name="my_scale")(keras.layers.Dense(8, name="d")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, name="out")(hidden))
    with pytest.raises(quantize.UnsupportedLayerError, match=r"'my_scale' \(Scale\).*configs=.*'skip'"):
        quantize.quantize_model(model)
    skipped = quantize.quantize_model(model, unsupported="skip")
    assert "Scale" not in wrapped(skipped) and "Dense" in wrapped(skipped)
    configured = quantize.quantize_model(model, configs={"my_scale": quantize.WeightQuantizeConfig("kernel")})
    assert wrapped(configured)["Scale"] == "WeightQuantizeConfig"
    x = np.random.default_rng(0).random((64, 8), np.float32)
    configured.compile(keras.optimizers.SGD(0.0), "mse")
    configured.fit(x, model(x).numpy(), verbose=0)  # calibrate the ranges
    np.testing.assert_allclose(configured(x).numpy(), model(x).numpy(), atol=0.1)
    with pytest.raises(ValueError, match=r"unsupported must be one of \('error', 'skip'\), got 'float'"):
        quantize.quantize_model(model, unsupported="float")
    with pytest.raises(ValueError, match=r"configs names layers \['nope'\]"):
        quantize.quantize_model(model, configs={"nope": quantize.WeightQuantizeConfig()})


def test_qat_spectral_model_exports_to_int8_tflite():
    model = tfcompress_models()["spectral"]
    x, y = data()
    qat = fit(quantize.quantize_model(model), x, y)
    flatbuffer = export.to_tflite(qat, "int8", x[:32])
    served = export.tflite_predict(flatbuffer, x[:16])
    expected = qat(x[:16]).numpy()
    # int8 outputs: within a few quantization steps of the fake-quantized model.
    assert np.abs(served - expected).max() < 0.2 * np.abs(expected).max() + 1e-2
