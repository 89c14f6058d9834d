"""FLOPs (from TensorFlow's profiler), arithmetic intensity and throughput of (folded) models.

FLOPs are what `tf.compat.v1.profiler` counts on the graph of the model's
inference function at a fixed batch size: the ops' registered "flops"
statistics (Conv2D and MatMul 2 per multiply-add, BiasAdd and MaxPool one per
element visited; ReLU and reshapes count none).
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfcompress.benchmarks import time_fn
from tfcompress.folding.fold import check_fold, folded_call


LAYOUTS = ("images", "folded")  # what a batch of `ImageTimer` holds


@dataclasses.dataclass(frozen=True)
class LayerCost:
    """FLOPs and bytes moved (inputs + weights + outputs) of one layer, or of a whole model."""

    name: str
    flops: int
    bytes: int

    @property
    def intensity(self) -> float:
        """Arithmetic intensity: FLOPs per byte moved."""
        return self.flops / self.bytes if self.bytes else 0.0


def _check_batch(batch_size) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    return batch_size


def op_flops(model: keras.Model, batch_size: int = 1) -> dict[str, int]:
    """FLOPs of every op of `model`'s inference graph at `batch_size`, by op name (profiler)."""
    batch_size = _check_batch(batch_size)
    spec = tf.TensorSpec((batch_size, *model.input_shape[1:]), model.inputs[0].dtype)

    @tf.function(autograph=False)
    def infer(x):
        return model(x, training=False)

    graph = infer.get_concrete_function(spec).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    root = tf.compat.v1.profiler.profile(graph, options=options, cmd="scope")
    found = {}
    stack = list(root.children)
    while stack:
        node = stack.pop()
        if node.float_ops:
            found[node.name] = int(node.float_ops)
        stack.extend(node.children)
    return found


def flops(model: keras.Model, batch_size: int = 1) -> int:
    """Total FLOPs of one inference of `model` on a batch of `batch_size` inputs (profiler)."""
    return sum(op_flops(model, batch_size).values())


def _tensor_bytes(tensors, batch_size: int) -> int:
    return sum(batch_size * math.prod(t.shape[1:]) * t.dtype.size for t in tf.nest.flatten(tensors))


def arithmetic_intensity(model: keras.Model, batch_size: int) -> list[LayerCost]:
    """Per-layer FLOPs, bytes and intensity at `batch_size`, then a "total" entry.

    Only layers with FLOPs (convolutions, dense layers, poolings, bias adds)
    count; each is taken to read its inputs and weights once and write its
    outputs once (the roofline model's traffic, as in FoldedCNNs). The total
    is the sum of their FLOPs over the sum of their bytes.
    """
    by_layer: dict[str, int] = {}
    for name, count in op_flops(model, batch_size).items():
        scopes = name.split("/")  # "<model>/<layer>/<op>"
        if len(scopes) > 2:
            by_layer[scopes[1]] = by_layer.get(scopes[1], 0) + count
    costs = []
    for layer in model.layers:
        count = by_layer.get(layer.name, 0)
        if not count:
            continue
        moved = (_tensor_bytes(layer.input, batch_size) + _tensor_bytes(layer.output, batch_size)
                 + sum(math.prod(w.shape) * w.dtype.size for w in layer.weights))
        costs.append(LayerCost(layer.name, count, moved))
    costs.append(LayerCost("total", sum(c.flops for c in costs), sum(c.bytes for c in costs)))
    return costs


class ImageTimer:
    """Times one trial of `model` on `batch_size` random inputs: enough batches for `min_images`.

    Inputs are random, in the model's input dtype (a bfloat16 copy from
    `tfcompress.models.with_policy` takes bfloat16 images). Two ways to feed a
    FoldedCNN (`fold` > 1), by `layout`:
    - "images" (end to end): a batch is `batch_size` images (N, H, W, C),
      folded into ceil(N / fold) inputs, run and unfolded to N rows of
      logits, all inside one `tf.function`, so folding costs.
    - "folded" (the FoldedCNNs seed's `inference.py`): a batch is `batch_size`
      inputs already in the model's layout, (N, H, W, fold*C), each holding
      `fold` images; only the model runs.
    For the original model (`fold` = 1) both are `batch_size` images. Call
    `warm_up` once (tracing), then `trial()` for seconds; `images` is the
    number of images a trial processes.
    """

    def __init__(self, model: keras.Model, batch_size: int, fold: int = 1, min_images: int = 1024,
                 layout: str = "images"):
        fold = check_fold(fold)
        batch_size = _check_batch(batch_size)
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        height, width, channels = model.input_shape[1:]
        if channels % fold:
            raise ValueError(f"model input channels {channels} are not a multiple of fold={fold}")
        if layout == "folded":
            images_per_batch, shape = batch_size * fold, (batch_size, height, width, channels)
            logits = lambda x: model(x, training=False)
        else:
            images_per_batch, shape = batch_size, (batch_size, height, width, channels // fold)
            logits = lambda x: folded_call(model, x, fold)

        @tf.function(autograph=False)
        def infer(x):
            return tf.reduce_sum(tf.cast(logits(x), tf.float32))

        x = tf.cast(np.random.default_rng(0).random(shape, np.float32), model.inputs[0].dtype)

        iterations = math.ceil(min_images / images_per_batch)
        self.batch_size = batch_size
        self.images = images_per_batch * iterations
        self._run = lambda: [infer(x) for _ in range(iterations)]

    def warm_up(self, calls: int = 1) -> None:
        """Run `calls` untimed trials (the first traces the function)."""
        if calls:
            time_fn(self._run, repeats=1, warmup=calls - 1)

    def trial(self) -> float:
        """Wall seconds of one trial."""
        return time_fn(self._run, repeats=1, warmup=0)


def throughput(model: keras.Model, batch_sizes: Sequence[int], trials: int = 5, warmup: int = 1,
               fold: int = 1, min_images: int = 1024, layout: str = "images") -> list[dict]:
    """Images per second of `model` on random inputs, one row per (batch size, trial).

    See `ImageTimer` for what a trial runs and what a batch is (`layout`).
    Rows: batch_size, trial, seconds, images_per_sec.
    """
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be an int >= 1, got {trials!r}")
    rows = []
    for batch_size in batch_sizes:
        timer = ImageTimer(model, batch_size, fold, min_images, layout)
        timer.warm_up(warmup)
        for trial in range(trials):
            seconds = timer.trial()
            rows.append({"batch_size": batch_size, "trial": trial, "seconds": seconds,
                         "images_per_sec": timer.images / seconds})
    return rows
