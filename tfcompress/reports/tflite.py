"""What a model costs once deployed with TFLite: file sizes (raw and gzipped) of the float32 and
the full-integer int8 files, int8 accuracy in `tf.lite.Interpreter`, and batch-1 latency in the
Interpreter on one thread.

Files come from `tfcompress.export.to_tflite` (the same bytes `export.save` writes): sparse
models are converted with `EXPERIMENTAL_SPARSITY` (1x4-block-sparse Dense kernels then run
TFLite's sparse kernel: `tfcompress.serving`), spectral layers on their real-valued path.
Latency is the median over `trials` of the mean time of one `invoke()` at batch 1 (after a
warm-up), one thread; float32 files get the faster of XNNPACK on and off (at batch 1 TFLite's
builtin float kernels often beat XNNPACK on these small models), int8 files XNNPACK (several
times faster than the builtin int8 kernels here): README "Sparse serving". Ratios between
variants measured in one process are what to compare, not absolute times across machines:
`latencies_us` times several files in turn (the report times all its variants' files so).
"""
from __future__ import annotations

import gzip
import os
import statistics
import time
from collections.abc import Callable, Hashable

import numpy as np
import tf_keras as keras

from tfcompress import export

# Keys of `measures`, in the order of the report's columns.
KEYS = ("tflite_bytes", "tflite_gzip_bytes", "int8_bytes", "int8_gzip_bytes", "int8_accuracy",
        "latency_us", "int8_latency_us")
# The files `measures` writes to its `save_dir`: float32, int8.
FILES = ("model_float32.tflite", "model_int8.tflite")


def latency_us(flatbuffer: bytes, trials: int = 5, min_seconds: float = 0.2, num_threads: int = 1,
               batch_size: int = 1, xnnpack: bool | None = True) -> float:
    """Median microseconds of one `invoke()` of the TFLite model at `batch_size` (zeros input),
    with XNNPACK (`xnnpack=True`), without it (False), or the faster of the two (None)."""
    return latencies_us({0: flatbuffer}, trials, min_seconds, num_threads, batch_size, xnnpack)[0]


def latencies_us(files: dict[Hashable, str | bytes], trials: int = 5, min_seconds: float = 0.2,
                 num_threads: int = 1, batch_size: int = 1, xnnpack: bool | None = True,
                 summary: Callable[[list[float]], float] = statistics.median) -> dict[Hashable, float]:
    """`latency_us` of each file (path or flatbuffer), the files timed in turn: each trial takes
    one sample (a loop of >= `min_seconds`) of every file, so load from other jobs hits them all
    alike. `summary` of the `trials` samples (`min`: the least disturbed one, the steadiest
    on a shared machine), by the keys of `files`. Every file's Interpreter(s) stay alive until
    the end: memory is that of all of them."""
    choices = (True, False) if xnnpack is None else (xnnpack,)
    invokes = {(key, choice): warm_invoke(file, num_threads, batch_size, choice)
               for key, file in files.items() for choice in choices}
    samples = {key: [] for key in invokes}
    for _ in range(trials):
        for key, invoke in invokes.items():
            count, start = 0, time.perf_counter()
            while count < 20 or time.perf_counter() - start < min_seconds:
                invoke()
                count += 1
            samples[key].append((time.perf_counter() - start) / count * 1e6)
    return {key: min(summary(samples[key, choice]) for choice in choices) for key in files}


def warm_invoke(file: str | bytes, num_threads: int, batch_size: int,
                 xnnpack: bool) -> Callable[[], None]:
    """`invoke` of an Interpreter of `file` (path or flatbuffer) at `batch_size`, zeros input,
    warmed up: a no-argument callable to time."""
    interpreter = export.tflite_interpreter(file, num_threads, xnnpack)
    detail = interpreter.get_input_details()[0]
    if batch_size != detail["shape"][0]:
        interpreter.resize_tensor_input(detail["index"], [batch_size, *detail["shape"][1:]])
        interpreter.allocate_tensors()
    interpreter.set_tensor(detail["index"], np.zeros([batch_size, *detail["shape"][1:]], detail["dtype"]))
    for _ in range(10):
        interpreter.invoke()
    return interpreter.invoke


def measures(model: keras.Model, calibration: np.ndarray, x_test: np.ndarray | None = None,
             y_test: np.ndarray | None = None, trials: int = 5,
             save_dir: str | None = None) -> dict[str, float]:
    """`KEYS` of `model`: float32 and int8 (calibrated on `calibration` inputs) TFLite files.

    `int8_accuracy` (top-1 of the dequantized outputs on `x_test`, `y_test`) is NaN without test
    data; every value is NaN when the converter rejects the model (the reason is printed).
    With `save_dir` the files are written there (`FILES`) and not timed (the latencies are NaN):
    the caller times them with other models' files (`latencies_us`).
    """
    try:
        float_file = export.to_tflite(model)
        int8_file = export.to_tflite(model, "int8", calibration)
    except ValueError as error:
        print(f"    TFLite measures skipped: {str(error)[:300]}", flush=True)
        return {key: float("nan") for key in KEYS}
    if save_dir:
        for name, flatbuffer in zip(FILES, (float_file, int8_file)):
            with open(os.path.join(save_dir, name), "wb") as f:
                f.write(flatbuffer)
    accuracy = float("nan")
    if x_test is not None and y_test is not None:
        predicted = export.tflite_predict(int8_file, x_test)
        accuracy = float(np.mean(np.argmax(predicted.reshape(len(y_test), -1), -1) == y_test))
    return {"tflite_bytes": len(float_file), "tflite_gzip_bytes": len(gzip.compress(float_file, 9)),
            "int8_bytes": len(int8_file), "int8_gzip_bytes": len(gzip.compress(int8_file, 9)),
            "int8_accuracy": accuracy,
            "latency_us": float("nan") if save_dir else latency_us(float_file, trials, xnnpack=None),
            "int8_latency_us": float("nan") if save_dir else latency_us(int8_file, trials)}
