"""tfcompress.serving: 1x4-block pruning, the TFLite files it gives (sparse kernels, Keras's
predictions in a fresh process), the warning for unstructured sparsity, bad input, bin/export.py
and a quick run of `--suite=serving`."""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import tf_keras as keras
from test_export_tflite import ROOT, accuracy, digits_lenet, serve_elsewhere  # noqa: F401 (fixture)

from tfcompress import data, export, models, pruning, serving, sparse


def magnitude_pruned(model, sparsity=0.9):
    """An unstructured copy: each kernel's smallest-|w| fraction zeroed."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for layer in copy.layers:
        if hasattr(layer, "kernel"):
            kernel = layer.kernel.numpy()
            layer.kernel.assign(np.where(np.abs(kernel) < np.quantile(np.abs(kernel), sparsity), 0, kernel))
    return copy


def test_block_mask_drops_the_weakest_whole_blocks():
    kernel = np.random.default_rng(0).standard_normal((10, 6)).astype(np.float32)
    mask = serving.block_mask(kernel, 0.5, block=4)  # blocks: rows 0-3, 4-7 and 8-9 of each column
    blocks = [(rows, column) for column in range(6) for rows in (slice(0, 4), slice(4, 8), slice(8, 10))]
    kept = [mask[rows, column].all() for rows, column in blocks]
    assert all(mask[rows, column].all() or not mask[rows, column].any() for rows, column in blocks)
    assert sum(not k for k in kept) == 9  # round(0.5 * 18)
    norms = [np.abs(kernel[rows, column]).sum() for rows, column in blocks]
    assert max(n for n, k in zip(norms, kept) if not k) <= min(n for n, k in zip(norms, kept) if k)


def test_block_pruned_lenet_serves_sparse_and_reproduces_keras(tmp_path, digits_lenet):
    model, inputs, x, y = digits_lenet
    before = [w.copy() for w in model.get_weights()]
    pruned = serving.block_prune(model, 0.9)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # input unchanged
    for layer in pruned.layers:
        if isinstance(layer, keras.layers.Dense):
            kernel = layer.kernel.numpy()
            assert np.mean(kernel == 0) == pytest.approx(0.9, abs=1e-3), layer.name
            blocks = kernel.reshape(-1, 4, kernel.shape[1])  # 784, 300 and 100 inputs: 4 divides
            assert np.all((blocks == 0).all(1) | (blocks != 0).all(1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "not in 1x4 blocks" warning
        path = export.save(pruned, str(tmp_path / "sparse.tflite"), format="tflite")
    with open(path, "rb") as f:
        flatbuffer = f.read()
    assert serving.fully_connected_weights(flatbuffer) == {"sparse": 3, "densified": 0, "dense": 0}
    served, = serve_elsewhere(tmp_path, x[:40], [path])  # stock Interpreter: XNNPACK on
    np.testing.assert_allclose(served, pruned(x[:40]).numpy(), atol=1e-4)
    for xnnpack in (True, False):  # a resized batch, with and without the delegate
        interpreter = export.tflite_interpreter(flatbuffer, xnnpack=xnnpack)
        detail = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(detail["index"], [32, 28, 28, 1])
        interpreter.allocate_tensors()
        interpreter.set_tensor(detail["index"], x[:32])
        interpreter.invoke()
        np.testing.assert_allclose(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]),
                                   pruned(x[:32]).numpy(), atol=1e-4)
    int8 = export.save(pruned, str(tmp_path / "sparse_int8.tflite"), format="tflite",
                       quantize="int8", representative_data=inputs)
    assert abs(accuracy(export.tflite_predict(int8, x), y)
               - accuracy(pruned.predict(x, verbose=0), y)) <= 0.01


def test_unstructured_sparsity_is_densified_with_a_warning(digits_lenet):
    model = digits_lenet[0]
    unstructured = magnitude_pruned(model)
    with pytest.warns(UserWarning, match=r"3 sparse FULLY_CONNECTED weight\(s\).*not in 1x4 blocks"):
        flatbuffer = export.to_tflite(unstructured)
    assert serving.fully_connected_weights(flatbuffer) == {"sparse": 0, "densified": 3, "dense": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dense_file = export.to_tflite(unstructured, sparse=False)
        int8 = export.to_tflite(serving.block_prune(model, 0.9), "int8",
                                np.zeros((4, 28, 28, 1), np.float32))  # int8: no warning
    assert serving.fully_connected_weights(dense_file) == {"sparse": 0, "densified": 0, "dense": 3}
    assert len(dense_file) > 4 * len(flatbuffer)
    assert serving.fully_connected_weights(int8)["sparse"] == 0  # 1x16 int8 blocks only


def test_bad_input_is_named(tmp_path):
    model = models.build("lenet_300_100", (8, 8, 1), 10)
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match=rf"sparsity must be in \[0, 1\), got {bad}"):
            serving.block_prune(model, bad)
    with pytest.raises(ValueError, match="block must be a positive integer, got 0"):
        serving.block_prune(model, 0.5, block=0)
    with pytest.raises(ValueError, match=r"mask wrappers; strip the model first"):
        serving.block_prune(sparse.sparsify(model, sparsity=0.5, keep_dense=()), 0.5)
    convolutional = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3)])
    with pytest.raises(ValueError, match="has no Dense layer to prune"):
        serving.block_prune(convolutional, 0.5)
    with pytest.raises(ValueError, match="sparse must be None .*got 'yes'"):
        export.save(model, str(tmp_path / "m.tflite"), format="tflite", sparse="yes")
    with pytest.raises(ValueError, match="sparse=True applies to format='tflite' only"):
        export.save(model, str(tmp_path / "sm"), sparse=True)
    assert not os.listdir(tmp_path)


def test_bin_export_block_prunes_and_reports_sparse_weights(tmp_path):
    model = models.build("lenet_300_100", (8, 8, 1), 10)
    model.save(tmp_path / "model.keras")
    out = tmp_path / "sparse.tflite"
    result = subprocess.run([sys.executable, os.path.join(ROOT, "bin", "export.py"),
                             f"--model={tmp_path / 'model.keras'}", "--format=tflite",
                             "--block_sparsity=0.9", f"--output={out}"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "FULLY_CONNECTED weights: 3 sparse, 0 densified, 0 dense" in result.stdout


def test_serving_suite_quick_run():
    from tfcompress.benchmarks import serving as suite
    result = suite.run(quick=True, repeats=1)
    variants = {(row["runtime"], row["variant"]) for row in result.rows}
    assert ("tflite float32", "block1x4 90%") in variants and len(result.rows) == 2 * len(variants)
    assert all(row["latency_us"] > 0 for row in result.rows)
    targeted = [ratio for ratio in result.ratios if ratio["target"]]
    assert [ratio["ratio"] for ratio in targeted] == [
        "tflite float32 block1x4 90% / best dense, batch 1"]
    assert "serving.md" in result.plots


def test_block_pruning_trains_to_sparse_blocks_and_keeps_accuracy(digits_lenet):
    model, _, x, y = digits_lenet
    train = data.load("digits", "train", image_size=28, batch_size=32, seed=0)  # 45 batches
    wrapped = serving.block_pruning(model, 0.9, 0, 135, frequency=10)
    wrapped.compile(keras.optimizers.SGD(0.02, momentum=0.9),
                    keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    wrapped.fit(train, epochs=6, verbose=0, callbacks=pruning.callbacks())
    stripped = pruning.strip(wrapped)
    for layer in stripped.layers:
        if isinstance(layer, keras.layers.Dense):
            kernel = layer.kernel.numpy()
            assert np.mean(kernel == 0) == pytest.approx(0.9, abs=0.01), layer.name
            blocks = kernel.reshape(-1, 4, kernel.shape[1])
            assert np.all((blocks == 0).all(1) | (blocks != 0).all(1)), layer.name
    assert serving.fully_connected_weights(export.to_tflite(stripped))["sparse"] == 3
    assert accuracy(stripped.predict(x, verbose=0), y) >= accuracy(model.predict(x, verbose=0), y) - 0.02
    with pytest.raises(ValueError, match="final_sparsity must be a number in"):
        serving.block_pruning(model, 1.5, 0, 10)
