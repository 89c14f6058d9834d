"""tfcompress.export.save to TFLite: float / dynamic / float16 / int8, spectral models on builtin ops,
sparse models, files served by a fresh process without tfcompress, bad input, bin/export.py."""
import gzip
import os
import subprocess
import sys

import numpy as np
import pytest
import tf_keras as keras

from tfcompress import SpectralConv1D, SpectralConv2D, data, export, models, training

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A fresh process that never imports tfcompress: runs each file in tf.lite.Interpreter, one
# example at a time, quantizing int8 inputs and dequantizing int8 outputs from the file's own
# quantization parameters.
SERVE_WITHOUT_TFCOMPRESS = """
import sys
import numpy as np
import tensorflow as tf
x = np.load(sys.argv[1])
for path in sys.argv[2:]:
    interpreter = tf.lite.Interpreter(model_path=path, num_threads=1)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    ys = []
    for example in x:
        example = example[None]
        if inp["dtype"] != np.float32:
            scale, zero = inp["quantization"]
            example = np.clip(np.round(example / scale + zero), -128, 127).astype(inp["dtype"])
        interpreter.set_tensor(inp["index"], example)
        interpreter.invoke()
        y = interpreter.get_tensor(out["index"])[0]
        if out["dtype"] != np.float32:
            scale, zero = out["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        ys.append(y)
    np.save(path + ".npy", np.stack(ys))
assert "tfcompress" not in sys.modules
"""


def serve_elsewhere(tmp_path, x, paths):
    """Outputs of each TFLite file computed by a process that does not import tfcompress."""
    np.save(tmp_path / "x.npy", x)
    env = {k: v for k, v in os.environ.items() if k != "TFCOMPRESS_OP_LIBRARY"}
    result = subprocess.run([sys.executable, "-c", SERVE_WITHOUT_TFCOMPRESS, str(tmp_path / "x.npy"),
                             *map(str, paths)], capture_output=True, text=True, timeout=300,
                            env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return [np.load(str(p) + ".npy") for p in paths]


@pytest.fixture(scope="module")
def digits_lenet():
    """A LeNet-300-100 trained briefly on digits (28x28), with the test split as arrays."""
    keras.utils.set_random_seed(0)
    train = data.load("digits", "train", image_size=28, batch_size=32, seed=0)
    test = data.load("digits", "test", image_size=28, batch_size=256)
    x, y = map(np.concatenate, zip(*test.as_numpy_iterator()))
    model = models.build("lenet_300_100", (28, 28, 1), 10)
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), ["accuracy"])
    model.fit(train, epochs=4, verbose=0)
    return model, train.map(lambda images, labels: images), x, y


def spectral_models():
    keras.utils.set_random_seed(1)
    conv2d = keras.Sequential([
        keras.Input((12, 10, 2)),
        SpectralConv2D(4, 3, padding="same", compress_rate=0.5, activation="relu"),
        SpectralConv2D(3, (3, 2), strides=2, compress_rate=0.3, next_power2=True),
        keras.layers.Flatten(), keras.layers.Dense(5)])
    conv1d = keras.Sequential([
        keras.Input((20, 3)), SpectralConv1D(4, 5, strides=2, padding="same", compress_rate=0.6),
        keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(2)])
    return {"spectral2d": conv2d, "spectral1d": conv1d}


def accuracy(logits, labels):
    return float(np.mean(np.argmax(logits, -1) == labels))


# ---------------------------------------------------------------- float, spectral, served elsewhere
def test_float_and_spectral_files_reproduce_keras_in_a_fresh_process(tmp_path, digits_lenet):
    dense, _, x_digits, _ = digits_lenet
    cases = {"lenet": (dense, x_digits[:40]), **{
        name: (model, np.random.default_rng(2).standard_normal((6, *model.input_shape[1:]))
               .astype(np.float32)) for name, model in spectral_models().items()}}
    for name, (model, x) in cases.items():
        path = export.save(model, str(tmp_path / name / "model.tflite"), format="tflite")
        assert path == str(tmp_path / name / "model.tflite")
        ops = {op["op_name"] for op in export.tflite_interpreter(path)._get_ops_details()}
        assert not any(op.startswith("Flex") for op in ops), (name, ops)  # builtin ops only
        served, = serve_elsewhere(tmp_path / name, x, [path])
        np.testing.assert_allclose(served, model(x).numpy(), atol=1e-4, err_msg=name)
    assert dense.layers[1].__class__.__name__ != "SpectralConv2D"
    spectral = cases["spectral2d"][0].layers[0]
    assert spectral.implementation == "auto" and "call" not in vars(spectral)  # restored


def test_quantized_files_keep_accuracy_in_a_fresh_process(tmp_path, digits_lenet):
    model, inputs, x, y = digits_lenet
    keras_accuracy = accuracy(model.predict(x, verbose=0), y)
    assert keras_accuracy > 0.85
    paths = [export.save(model, str(tmp_path / f"{q}.tflite"), format="tflite", quantize=q,
                         representative_data=inputs if q == "int8" else None)
             for q in ("dynamic", "float16", "int8")]
    sizes = {os.path.basename(p): os.path.getsize(p) for p in paths}
    float_bytes = 4 * model.count_params()
    assert sizes["dynamic.tflite"] < 0.3 * float_bytes and sizes["int8.tflite"] < 0.3 * float_bytes
    assert sizes["float16.tflite"] < 0.55 * float_bytes
    dynamic, half, int8 = serve_elsewhere(tmp_path, x, paths)
    np.testing.assert_allclose(half, model(x).numpy(), atol=2e-2)
    for name, served in (("dynamic", dynamic), ("int8", int8)):
        assert abs(accuracy(served, y) - keras_accuracy) <= 0.01, name
    # The library's own interpreter helper agrees with the fresh process.
    np.testing.assert_allclose(export.tflite_predict(paths[2], x[:20]), int8[:20], atol=1e-6)


def test_int8_accepts_arrays_and_unbatched_datasets(tmp_path, digits_lenet):
    import tensorflow as tf
    model, _, x, _ = digits_lenet
    for name, given in (("array", x[:50]), ("unbatched", tf.data.Dataset.from_tensor_slices(x[:50])),
                        ("pairs", tf.data.Dataset.from_tensor_slices((x[:50], x[:50, 0, 0, 0])))):
        path = export.save(model, str(tmp_path / f"{name}.tflite"), format="tflite",
                           quantize="int8", representative_data=given)
        assert export.tflite_interpreter(path).get_input_details()[0]["dtype"] == np.int8
    with pytest.raises(ValueError, match=r"examples of shape \(8, 8, 1\).*input is \(28, 28, 1\)"):
        export.save(model, str(tmp_path / "bad.tflite"), format="tflite", quantize="int8",
                    representative_data=np.zeros((4, 8, 8, 1), np.float32))


def test_sparse_model_is_stored_sparse(tmp_path, digits_lenet):
    model, inputs, x, y = digits_lenet
    sparse = keras.models.clone_model(model)
    sparse.set_weights(model.get_weights())
    for layer in sparse.layers:
        if hasattr(layer, "kernel"):
            kernel = layer.kernel.numpy()
            kernel[np.abs(kernel) < np.quantile(np.abs(kernel), 0.9)] = 0.0
            layer.kernel.assign(kernel)
    assert export.kernel_sparsity(sparse) == pytest.approx(0.9, abs=1e-3)
    assert export.kernel_sparsity(model) < 0.01
    dense_path = export.save(model, str(tmp_path / "dense.tflite"), format="tflite")
    with pytest.warns(UserWarning, match="not in 1x4 blocks"):  # unstructured: served dense
        sparse_path = export.save(sparse, str(tmp_path / "sparse.tflite"), format="tflite")
    # EXPERIMENTAL_SPARSITY: the 90%-zero float kernels are stored as sparse tensors.
    assert os.path.getsize(sparse_path) < 0.25 * os.path.getsize(dense_path)
    np.testing.assert_allclose(export.tflite_predict(sparse_path, x[:20]), sparse(x[:20]).numpy(),
                               atol=1e-4)
    int8 = export.save(sparse, str(tmp_path / "sparse_int8.tflite"), format="tflite",
                       quantize="int8", representative_data=inputs)
    raw = open(int8, "rb").read()
    assert len(gzip.compress(raw)) < 0.2 * len(gzip.compress(open(dense_path, "rb").read()))


# ---------------------------------------------------------------- bad input, nothing left behind
@pytest.mark.parametrize("kwargs,match", [
    (dict(format="onnx"), r"format must be one of \('saved_model', 'tflite'\), got 'onnx'"),
    (dict(format="tflite", quantize="int4"), r"quantize must be one of .*got 'int4'"),
    (dict(format="tflite", quantize="int8"), "quantize='int8' needs representative_data"),
    (dict(quantize="dynamic"), "quantize='dynamic' applies to format='tflite' only"),
])
def test_bad_arguments_are_named_and_leave_nothing(tmp_path, kwargs, match):
    model = models.build("lenet_300_100", (8, 8, 1), 10)
    with pytest.raises(ValueError, match=match):
        export.save(model, str(tmp_path / "out" / "model"), **kwargs)
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")


def test_unwritable_directory_is_named(tmp_path):
    model = models.build("lenet_300_100", (8, 8, 1), 10)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    for fmt in ("tflite", "saved_model"):
        with pytest.raises(ValueError, match=f"cannot write '{blocker}/m': its directory "
                                             f"'{blocker}' cannot be created"):
            export.save(model, str(blocker / "m"), format=fmt)
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(ValueError, match="is not writable"):
            export.save(model, str(locked / "m.tflite"), format="tflite")


def test_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    model = models.build("lenet_300_100", (8, 8, 1), 10)
    path = export.save(model, str(tmp_path / "m.tflite"), format="tflite")
    before = open(path, "rb").read()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export.os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        export.save(model, path, format="tflite", quantize="dynamic")
    with pytest.raises(OSError, match="No space left"):
        export.save(model, str(tmp_path / "sm"), format="saved_model")
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["m.tflite"]
    assert open(path, "rb").read() == before


def test_saved_model_is_replaced_whole(tmp_path):
    model = models.build("lenet_300_100", (8, 8, 1), 10)
    path = str(tmp_path / "sm")
    assert export.save(model, path) == path
    assert export.save(model, path, portable=True) == path  # overwrite an earlier export
    assert sorted(os.listdir(tmp_path)) == ["sm"] and os.path.exists(os.path.join(path, "saved_model.pb"))
    with pytest.raises(ValueError, match="is a directory; a TFLite export is one file"):
        export.save(model, path, format="tflite")


# ---------------------------------------------------------------- bin/export.py
def test_bin_export_writes_an_int8_file_calibrated_on_the_run(tmp_path):
    run = tmp_path / "run"
    training.train(training.TrainConfig(model="lenet_300_100", dataset="digits", image_size=16,
                                        limit=256, epochs=1, batch_size=64, run_dir=str(run),
                                        export=False, verbose=0))
    out = tmp_path / "exported" / "lenet_int8.tflite"
    result = subprocess.run([sys.executable, os.path.join(ROOT, "bin", "export.py"), f"--run_dir={run}",
                             "--format=tflite", "--quantize=int8", f"--output={out}"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"wrote tflite {out}" in result.stdout and out.exists()
    assert export.tflite_interpreter(str(out)).get_input_details()[0]["shape"].tolist() == [1, 16, 16, 1]
    bad = subprocess.run([sys.executable, os.path.join(ROOT, "bin", "export.py"), f"--run_dir={run}",
                          "--format=tflite", "--quantize=int4"], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert bad.returncode != 0 and "int4" in bad.stderr
