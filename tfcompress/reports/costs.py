"""What a trained model costs to store and to run: parameters, bytes, FLOPs per image, throughput.

FLOPs come from TensorFlow's profiler (`tfcompress.folding.measure.op_flops`)
on the inference graph at batch 1, with two corrections the profiler cannot
make itself:
- a convolution or matmul whose kernel holds zeros (sparse, pruned, Hebbian)
  counts only its non-zero multiply-adds: the op's FLOPs times the kernel's
  density;
- a layer with its own `flops()` count (SpectralConv: FFTs and the kept
  band's products, which the profiler does not see inside the custom op)
  uses that count, times its kernel's density.
A FoldedCNN's FLOPs per image are its FLOPs per input divided by the fold.
"""
from __future__ import annotations

import dataclasses
import os
import statistics
import tempfile

import tf_keras as keras

from tfcompress.folding import measure
from tfcompress.pruning import csr
from tfcompress.sparse.stats import nonzeros, sparsity_of

# Profiler op types whose work is proportional to the non-zeros of the layer's kernel.
KERNEL_OPS = ("Conv2D", "Conv1D", "MatMul", "DepthwiseConv2dNative", "BatchMatMulV2", "Einsum")


@dataclasses.dataclass(frozen=True)
class ModelCosts:
    """Parameters, non-zero parameters, stored bytes (dense float32 and CSR file) and FLOPs/image."""

    params: int
    nonzeros: int
    dense_bytes: int
    csr_bytes: int
    inference_flops: int


def _density(layer: keras.layers.Layer) -> float | None:
    kernel = getattr(layer, "kernel", None)
    return None if kernel is None else 1.0 - sparsity_of([kernel])


def inference_flops(model: keras.Model, fold: int = 1) -> int:
    """FLOPs of one image's inference (see the module doc for what is counted)."""
    layers = {layer.name: layer for layer in model.layers}
    total = 0.0
    for name, count in measure.op_flops(model, batch_size=1).items():
        scopes = name.split("/")  # "<model>/<layer>/.../<op>"
        layer = layers.get(scopes[1]) if len(scopes) > 2 else None
        if layer is not None and hasattr(layer, "flops"):
            continue  # counted by the layer itself below
        density = _density(layer) if layer is not None else None
        if density is not None and scopes[-1].split("_")[0] in KERNEL_OPS:
            count *= density
        total += count
    for layer in model.layers:
        if hasattr(layer, "flops"):
            total += layer.flops((1, *layer.input_shape[1:])) * (_density(layer) or 1.0)
    return int(round(total / fold))


def model_costs(model: keras.Model, fold: int = 1) -> ModelCosts:
    """The `ModelCosts` of a plain Keras model (sparse models stripped first, zeros in place)."""
    nonzero, params = nonzeros(model.weights)
    with tempfile.TemporaryDirectory() as tmp:
        report = csr.to_csr(model, os.path.join(tmp, "weights.npz"))
    return ModelCosts(params=params, nonzeros=nonzero,
                      dense_bytes=report.dense_bytes, csr_bytes=report.file_bytes,
                      inference_flops=inference_flops(model, fold))


def images_per_second(model: keras.Model, batch_size: int, fold: int = 1, trials: int = 3) -> float:
    """Median images/s of inference at `batch_size` (`fold` images per input of a FoldedCNN).

    NaN for models whose inputs are not images (1-D time series).
    """
    if len(model.input_shape) != 4:
        return float("nan")
    # Trials of at least 4096 images after two warm-up calls: short trials are mostly noise.
    rows = measure.throughput(model, [batch_size], trials=trials, warmup=2, fold=fold,
                              min_images=max(4 * batch_size, 4096))
    return statistics.median(row["images_per_sec"] for row in rows)
