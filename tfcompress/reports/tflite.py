"""What a model costs once deployed with TFLite: file sizes (raw and gzipped) of the float32 and
the full-integer int8 files, int8 accuracy in `tf.lite.Interpreter`, and batch-1 latency in the
Interpreter on one thread.

Files come from `tfcompress.export.to_tflite` (the same bytes `export.save` writes): sparse
models are converted with `EXPERIMENTAL_SPARSITY`, spectral layers on their real-valued path.
Latency is the median over `trials` of the mean time of one `invoke()` at batch 1 (after a
warm-up), XNNPACK on, one thread: ratios between variants measured in one process are what
to compare, not absolute times across machines.
"""
from __future__ import annotations

import gzip
import statistics
import time

import numpy as np
import tf_keras as keras

from tfcompress import export

# Keys of `measures`, in the order of the report's columns.
KEYS = ("tflite_bytes", "tflite_gzip_bytes", "int8_bytes", "int8_gzip_bytes", "int8_accuracy",
        "latency_us", "int8_latency_us")


def latency_us(flatbuffer: bytes, trials: int = 5, min_seconds: float = 0.2, num_threads: int = 1,
               batch_size: int = 1) -> float:
    """Median microseconds of one `invoke()` of the TFLite model at `batch_size` (zeros input)."""
    interpreter = export.tflite_interpreter(flatbuffer, num_threads)
    detail = interpreter.get_input_details()[0]
    if batch_size != detail["shape"][0]:
        interpreter.resize_tensor_input(detail["index"], [batch_size, *detail["shape"][1:]])
        interpreter.allocate_tensors()
    interpreter.set_tensor(detail["index"], np.zeros([batch_size, *detail["shape"][1:]], detail["dtype"]))
    for _ in range(10):
        interpreter.invoke()
    times = []
    for _ in range(trials):
        count, start = 0, time.perf_counter()
        while count < 20 or time.perf_counter() - start < min_seconds:
            interpreter.invoke()
            count += 1
        times.append((time.perf_counter() - start) / count * 1e6)
    return statistics.median(times)


def measures(model: keras.Model, calibration: np.ndarray, x_test: np.ndarray | None = None,
             y_test: np.ndarray | None = None, trials: int = 5) -> dict[str, float]:
    """`KEYS` of `model`: float32 and int8 (calibrated on `calibration` inputs) TFLite files.

    `int8_accuracy` (top-1 of the dequantized outputs on `x_test`, `y_test`) is NaN without test
    data; every value is NaN when the converter rejects the model (the reason is printed).
    """
    try:
        float_file = export.to_tflite(model)
        int8_file = export.to_tflite(model, "int8", calibration)
    except ValueError as error:
        print(f"    TFLite measures skipped: {str(error)[:300]}", flush=True)
        return {key: float("nan") for key in KEYS}
    accuracy = float("nan")
    if x_test is not None and y_test is not None:
        predicted = export.tflite_predict(int8_file, x_test)
        accuracy = float(np.mean(np.argmax(predicted.reshape(len(y_test), -1), -1) == y_test))
    return {"tflite_bytes": len(float_file), "tflite_gzip_bytes": len(gzip.compress(float_file, 9)),
            "int8_bytes": len(int8_file), "int8_gzip_bytes": len(gzip.compress(int8_file, 9)),
            "int8_accuracy": accuracy, "latency_us": latency_us(float_file, trials),
            "int8_latency_us": latency_us(int8_file, trials)}
