"""pruning.prune_low_magnitude/strip over any model: every kernel kind, nested models."""
import numpy as np
import pytest
import tensorflow_model_optimization as tfmot
import tf_keras as keras
from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import PruneLowMagnitude

from kernel_models import KERNELS, assert_unchanged, cnn, conv1d_model, inputs_for, kernel_of, snapshot
from tfcompress import pruning
from tfcompress.rewrite import all_layers


def fit(model, steps, batch=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((steps * batch, *model.input_shape[1:]), dtype=np.float32)
    y = rng.random((steps * batch, *model.output_shape[1:]), dtype=np.float32)
    model.compile(keras.optimizers.SGD(0.01), "mse")
    model.fit(x, y, batch_size=batch, epochs=1, callbacks=pruning.callbacks(), verbose=0)


@pytest.mark.parametrize("build", [cnn, conv1d_model])
def test_every_kernel_reaches_the_sparsity_at_end_step_nested_ones_too(build, tmp_path):
    model = build()
    before = snapshot(model)
    wrapped = pruning.prune_low_magnitude(model, 0.6, begin_step=0, end_step=4, frequency=1)
    assert_unchanged(model, before)
    kernel_layers = [layer for layer in all_layers(model) if type(layer).__name__ in KERNELS]
    wrappers = [layer for layer in all_layers(wrapped) if isinstance(layer, PruneLowMagnitude)]
    assert [layer.layer.name for layer in wrappers] == [layer.name for layer in kernel_layers]
    fit(wrapped, steps=6)
    reached = pruning.sparsity(wrapped)
    assert reached == pytest.approx({layer.name: 0.6 for layer in kernel_layers}, abs=0.01)

    wrapped.save(tmp_path / "wrapped.keras")  # a pruned DepthwiseConv2D loads back
    with tfmot.sparsity.keras.prune_scope():
        loaded = keras.models.load_model(tmp_path / "wrapped.keras")
    assert len(loaded.weights) == len(wrapped.weights)

    x = inputs_for(model)
    expected = wrapped(x, training=False).numpy()
    stripped = pruning.strip(wrapped)
    assert [type(layer) for layer in all_layers(stripped)] == [type(layer) for layer in all_layers(model)]
    assert pruning.sparsity(stripped) == reached
    for layer in all_layers(stripped):
        if type(layer).__name__ in KERNELS:
            assert np.mean(kernel_of(layer).numpy() == 0) == pytest.approx(0.6, abs=0.01)
    np.testing.assert_allclose(stripped(x).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_mobilenet_v2_wraps_every_kernel_and_strips_back():
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=10)
    wrapped = pruning.prune_low_magnitude(model, 0.8, begin_step=0, end_step=10)
    wrappers = [layer for layer in all_layers(wrapped) if isinstance(layer, PruneLowMagnitude)]
    assert len(wrappers) == sum(type(layer).__name__ in KERNELS for layer in all_layers(model))
    assert all(len(layer.pruning_vars) == 1 for layer in wrappers)  # depthwise kernels too
    stripped = pruning.strip(wrapped)
    assert [type(layer) for layer in all_layers(stripped)] == [type(layer) for layer in all_layers(model)]
    x = inputs_for(model, n=2)
    np.testing.assert_allclose(stripped(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)
