"""Serving suite: does a pruned LeNet-300-100 serve faster than the dense one, and when?

LeNet-300-100 is trained on digits (28x28) for `EPOCHS`, then for `EPOCHS` more: densely (the
dense variant, same training budget) or with `serving.block_pruning` (each block-sparse
variant; sparsity reached after 60% of those epochs, then held), and stripped. Accuracy is
top-1 of the float32 TFLite file on the digits test split.
Latency per call at batch 1 and batch 128, one thread, every variant timed in turn in this one
process (median of `repeats` samples, each a loop of at least `MIN_SECONDS`):

- TFLite float32 (the route `tfcompress.serving` ships): the dense file in the Interpreter with
  XNNPACK (the default) and without it (builtin kernels), against the file of
  `serving.block_prune(model, s)` (1x4 blocks, served by the default Interpreter) for each
  sparsity s, and, at 90%, an unstructured magnitude-pruned file (densified at load).
- TFLite int8 at 90%: dense (XNNPACK and builtin) against 1x16-block sparse (TFLite's sparse
  int8 kernel).
- TF graph at 90%: a `tf.function` of dense matmuls against one of `tf.sparse.sparse_dense_matmul`
  (TensorFlow's own thread settings).

Each sparse variant's speed-up is over the *fastest* dense variant of its own runtime. The int8,
unstructured (`block_prune` with blocks of one weight) and TF-graph variants are one-shot
pruned by magnitude: latency only. TFLite inputs are zeros (`reports.tflite.warm_invoke`).
Writes `serving.md`, the README table. `quick`: 1 epoch each, 90% only, short timing loops.
"""
from __future__ import annotations

import functools
import warnings
from collections.abc import Callable

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfcompress import data, export, models, pruning, serving
from tfcompress.benchmarks import SuiteResult, time_alternately, time_fn
from tfcompress.reports import tflite

SPARSITIES = (0.5, 0.8, 0.9, 0.95)
BATCHES = (1, 128)
TARGET = 2.0  # at 90% sparsity, batch 1 (issue 15)
MIN_SECONDS = 0.1
SHAPE = (28, 28, 1)
EPOCHS = 4


def run(quick: bool = False, repeats: int = 5) -> SuiteResult:
    """Time dense and sparse LeNet-300-100 files; rows, ratios and the Markdown table."""
    result = SuiteResult()
    files, graph, accuracy = _variants(quick)
    for batch in BATCHES:
        result.rows += _measure(files, graph, accuracy, batch, repeats,
                                0.005 if quick else MIN_SECONDS)
    for row in result.rows:
        if not row["variant"].startswith("dense"):
            target = (f">= {TARGET:g}" if row["batch"] == 1 and row["runtime"] == "tflite float32"
                      and row["variant"] == f"block1x{serving.BLOCK} 90%" else "")
            result.add_ratio(f"{row['runtime']} {row['variant']} / best dense, batch {row['batch']}",
                             row["speedup_vs_best_dense"], target)
    result.notes.append("TFLite on 1 thread; speed-up = fastest dense variant of the same "
                        "runtime / this variant (the CSVs name the CPU)")
    result.add_text("serving.md", _table(result.rows))
    return result


def _variants(quick: bool) -> tuple[dict, dict, dict]:
    """TFLite files by runtime and variant, TF-graph functions, float32 files' test accuracy."""
    epochs = 1 if quick else EPOCHS
    train = data.load("digits", "train", image_size=SHAPE[0], batch_size=32, seed=0)
    x_test, y_test = map(np.concatenate, zip(*data.load(
        "digits", "test", image_size=SHAPE[0], batch_size=256).as_numpy_iterator()))
    keras.utils.set_random_seed(0)
    start = _fit(models.build("lenet_300_100", SHAPE, 10), train, epochs)
    model = keras.models.clone_model(start)
    model.set_weights(start.get_weights())
    model = _fit(model, train, epochs)
    floats = {"dense": export.to_tflite(model)}
    end_step = max(1, int(0.6 * epochs * len(train)))
    for sparsity in (0.9,) if quick else SPARSITIES:
        pruned = _fit(serving.block_pruning(start, sparsity, 0, end_step, frequency=10), train,
                      epochs, pruning.callbacks())
        floats[f"block1x{serving.BLOCK} {sparsity:.0%}"] = export.to_tflite(pruning.strip(pruned))
    accuracy = {name: float(np.mean(np.argmax(export.tflite_predict(flatbuffer, x_test), -1) == y_test))
                for name, flatbuffer in floats.items()}
    unstructured = serving.block_prune(model, 0.9, block=1)  # blocks of one weight: no structure
    with warnings.catch_warnings():  # "not in 1x4 blocks": that is what this variant shows
        warnings.simplefilter("ignore", UserWarning)
        floats["unstructured 90%"] = export.to_tflite(unstructured)
    calibration = x_test[:32]
    int8 = {"dense": export.to_tflite(model, "int8", calibration),
            f"block1x{serving.INT8_BLOCK} 90%": export.to_tflite(
                serving.block_prune(model, 0.9, serving.INT8_BLOCK), "int8", calibration)}
    graph = {"dense": _graph(model, sparse=False), "tf.sparse 90%": _graph(unstructured, sparse=True)}
    return {"tflite float32": floats, "tflite int8": int8}, graph, accuracy


def _measure(files: dict, graph: dict, accuracy: dict, batch: int, repeats: int,
             min_seconds: float) -> list[dict]:
    """One row per variant at `batch`: every variant timed in turn; dense TFLite files both with
    XNNPACK and without."""
    calls = {}
    for runtime, variants in files.items():
        for name, flatbuffer in variants.items():
            for xnnpack in (True, False) if name == "dense" else (True,):
                label = name if name != "dense" else f"dense ({'XNNPACK' if xnnpack else 'builtin'})"
                calls[runtime, label] = tflite.warm_invoke(flatbuffer, 1, batch, xnnpack)
    x = tf.constant(np.random.default_rng(1).random((batch, *SHAPE), np.float32))
    for name, fn in graph.items():
        calls["tf graph", name] = functools.partial(fn, x)
    microseconds = _per_call_us(calls, repeats, min_seconds)
    rows = []
    for (runtime, label), us in microseconds.items():
        best_dense = min(t for (other, variant), t in microseconds.items()
                         if other == runtime and variant.startswith("dense"))
        rows.append({"model": "lenet_300_100", "runtime": runtime, "variant": label, "batch": batch,
                     "latency_us": us, "speedup_vs_best_dense": best_dense / us,
                     "accuracy": accuracy.get(label.split(" (")[0], "")
                     if runtime == "tflite float32" else "",
                     "threads": 1 if runtime.startswith("tflite") else "tf default"})
    return rows


def _fit(model: keras.Model, train, epochs: int, callbacks=()) -> keras.Model:
    """`model` compiled (SGD with momentum) and trained for `epochs` on `train`."""
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(train, epochs=epochs, verbose=0, callbacks=list(callbacks))
    return model


def _graph(model: keras.Model, sparse: bool) -> Callable[[tf.Tensor], tf.Tensor]:
    """A `tf.function` of the MLP's Dense layers: `tf.matmul`, or `tf.sparse.sparse_dense_matmul`
    with each kernel as a SparseTensor (outputs x inputs, applied to the transposed batch)."""
    layers = [(layer.kernel.numpy(), tf.constant(layer.bias.numpy()), layer.activation)
              for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    kernels = [tf.sparse.from_dense(kernel.T) if sparse else tf.constant(kernel)
               for kernel, _, _ in layers]

    @tf.function
    def forward(x):
        x = tf.reshape(x, [tf.shape(x)[0], -1])
        if sparse:
            x = tf.transpose(x)
        for kernel, (_, bias, activation) in zip(kernels, layers):
            if sparse:
                x = activation(tf.sparse.sparse_dense_matmul(kernel, x) + bias[:, None])
            else:
                x = activation(tf.matmul(x, kernel) + bias)
        return tf.transpose(x) if sparse else x

    return forward


def _per_call_us(calls: dict, repeats: int, min_seconds: float) -> dict:
    """Median microseconds per call of each function, all timed in turn (loops of >= min_seconds)."""
    counts = {key: max(1, int(min_seconds / max(time_fn(fn, 3), 1e-7))) for key, fn in calls.items()}
    seconds = time_alternately({key: functools.partial(_repeat, fn, counts[key])
                                for key, fn in calls.items()}, repeats)
    return {key: seconds[key] / counts[key] * 1e6 for key in calls}


def _repeat(fn: Callable[[], object], count: int) -> None:
    for _ in range(count):
        fn()


def _table(rows: list[dict]) -> str:
    """Markdown: one line per variant, batch-1 and batch-128 latency and speed-up."""
    lines = ["| runtime | variant | digits accuracy | batch 1 µs | speed-up | batch 128 µs | speed-up |",
             "|---|---|---:|---:|---:|---:|---:|"]
    by_key = {(row["runtime"], row["variant"], row["batch"]): row for row in rows}
    for runtime, variant in dict.fromkeys(key[:2] for key in by_key):
        accuracy = by_key[runtime, variant, BATCHES[0]]["accuracy"]
        cells = [f"{accuracy:.1%}" if accuracy != "" else ""]
        for batch in BATCHES:
            row = by_key[runtime, variant, batch]
            cells += [f"{row['latency_us']:,.1f}", f"{row['speedup_vs_best_dense']:.2f}x"]
        lines.append(f"| {runtime} | {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
