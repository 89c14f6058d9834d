"""Sparse serving: a pruned model whose TFLite file runs faster than its dense twin.

The route that wins (measured by `bin/benchmark.py --suite=serving`; README "Sparse serving"):
TFLite float32 with Dense kernels whose zeros come in **1x4 blocks**, 4 consecutive inputs of
one output unit. `export.to_tflite` converts a sparse model with `Optimize.EXPERIMENTAL_SPARSITY`;
the converter keeps a FULLY_CONNECTED weight sparse only when its zeros fit a block shape that the
kernel supports (1x4 for float32, 1x16 for int8) and otherwise stores it sparse but inserts a
DENSIFY op, so an unstructured-sparse model loads dense and serves at dense speed. With 1x4
blocks TFLite's builtin sparse kernel runs (XNNPACK, the default delegate, leaves these ops to
it, so a stock `tf.lite.Interpreter` gets the speed-up).

Make such a model with `tfcompress.pruning.prune_low_magnitude(..., block_size=4)` (tfmot's
gradual magnitude pruning in blocks, during training: keeps the accuracy; `bin/prune.py
--method=tfmot --block_size=4`), `block_pruning` (the same, Dense layers only) or `block_prune`
(one-shot: loses accuracy until fine-tuned);
`fully_connected_weights` says what a file will run.

Routes that lose (same benchmark): unstructured sparsity (densified at load: dense speed);
int8 with 1x16 blocks (TFLite's sparse int8 kernel is several times slower than XNNPACK's dense
int8); `tf.sparse.sparse_dense_matmul` in a TF graph (per-op overhead at batch 1, slower than
dense at batch 128). Not in the benchmark: TFLite's random-sparse float kernel, reached by
deleting the DENSIFY ops from a file, was slower than dense in a trial, and XNNPACK then
misreads the weights (NaN outputs).
"""
from __future__ import annotations

import numpy as np
import tf_keras as keras

from tfcompress.rewrite import all_layers, check_model, plain_copy, rewrite
from tfcompress.sparse.masks import unwrap

# Inputs per block of TFLite's float32 sparse FULLY_CONNECTED kernel (one output unit each).
BLOCK = 4
# The same for its int8 sparse kernel (slower than XNNPACK's dense int8: measured, not used).
INT8_BLOCK = 16


def block_mask(kernel: np.ndarray, sparsity: float, block: int = BLOCK) -> np.ndarray:
    """Keep-mask (bool, the shape of `kernel`) of a Dense kernel (inputs x outputs) in blocks.

    A block is `block` consecutive inputs of one output (the last block of a column is shorter
    when `block` does not divide the inputs); the round(`sparsity` * blocks) blocks of smallest
    L1 norm are dropped, over the whole kernel.
    """
    kernel = np.asarray(kernel)
    if kernel.ndim != 2:
        raise ValueError(f"block_mask takes a 2-D Dense kernel, got shape {kernel.shape}")
    _check(sparsity, block)
    inputs, outputs = kernel.shape
    blocks = -(-inputs // block)
    padded = np.zeros((blocks * block, outputs), np.float64)
    padded[:inputs] = np.abs(kernel)
    norms = padded.reshape(blocks, block, outputs).sum(1).ravel()
    keep = np.ones(norms.size, bool)
    keep[np.argsort(norms, kind="stable")[:int(round(sparsity * norms.size))]] = False
    return np.repeat(keep.reshape(blocks, outputs), block, axis=0)[:inputs]


def block_prune(model: keras.Model, sparsity: float, block: int = BLOCK) -> keras.Model:
    """A copy of `model` whose Dense kernels are each `sparsity` zeros in blocks (see `block_mask`).

    One-shot magnitude pruning into the layout of TFLite's sparse FULLY_CONNECTED kernel: the
    file `export.save(copy, path, format="tflite")` writes serves faster than the dense one
    from about 80% sparsity at batch 1 (README "Sparse serving"). Accuracy is not restored:
    fine-tune the copy (keeping its zeros, e.g. with `tfcompress.sparse` masks), or train with
    `block_pruning` instead. Biases and other layers are copied unchanged; nested
    models are followed; the input model is not changed.

    Raises:
      ValueError: `sparsity` outside [0, 1), `block` < 1, a model with mask wrappers (strip it
        first: `tfcompress.sparse.strip`), or one without Dense layers.
    """
    _check(sparsity, block)
    check_model(model, "block_prune")
    layers = all_layers(model)
    wrapped = [layer.name for layer in layers if unwrap(layer)[0] is not layer]
    if wrapped:
        raise ValueError(f"block_prune: layers {wrapped} are mask wrappers; strip the model first "
                         "(tfcompress.sparse.strip)")
    if not any(isinstance(layer, keras.layers.Dense) for layer in layers):
        raise ValueError(f"block_prune: model {model.name!r} has no Dense layer to prune")

    def replace(layer: keras.layers.Layer) -> keras.layers.Layer | None:
        return plain_copy(layer) if isinstance(layer, keras.layers.Dense) else None

    def transfer(original: keras.layers.Layer, copy: keras.layers.Layer) -> None:
        kernel, *rest = original.get_weights()
        copy.set_weights([kernel * block_mask(kernel, sparsity, block), *rest])

    return rewrite(model, replace, transfer)


def block_pruning(model: keras.Model, final_sparsity: float, begin_step: int, end_step: int,
                  block: int = BLOCK, initial_sparsity: float = 0.0,
                  frequency: int = 100) -> keras.Model:
    """`tfcompress.pruning.prune_low_magnitude(..., block_size=block)` of the Dense layers only.

    tfmot pruning wrappers pruning each Dense kernel in blocks of `block` inputs of one output
    (TFLite's 1 x 4 is tfmot's (4, 1)) on the cubic schedule from `initial_sparsity` at
    `begin_step` to `final_sparsity` at `end_step`; other layers are left dense. Train it with
    `tfcompress.pruning.callbacks()`, then `tfcompress.pruning.strip` it: the stripped model's
    TFLite file runs the sparse kernel. The input model is not changed; the copy is not
    compiled. ValueError names a bad argument.
    """
    # tfmot costs 1.5 s to import: only here.
    from tfcompress.pruning.magnitude import prune_low_magnitude

    dense = [layer.name for layer in all_layers(model) if isinstance(layer, keras.layers.Dense)]
    return prune_low_magnitude(model, final_sparsity, begin_step, end_step, initial_sparsity,
                               frequency, layers=dense, block_size=block)


def fully_connected_weights(flatbuffer: bytes) -> dict[str, int]:
    """How many FULLY_CONNECTED ops of a TFLite file run on each kind of weight.

    "sparse": a sparse weight the kernel reads directly (the fast path); "densified": a sparse
    weight behind a DENSIFY op (stored small, served dense); "dense": a plain weight.
    """
    # flatbuffer_utils is TF's own reader of the schema; imported here, it costs ~0.1 s.
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    counts = {"sparse": 0, "densified": 0, "dense": 0}
    for graph in model.subgraphs:
        produced_by = {int(out): flatbuffer_utils.opcode_to_name(model, op.opcodeIndex)
                       for op in graph.operators for out in op.outputs}
        for op in graph.operators:
            if flatbuffer_utils.opcode_to_name(model, op.opcodeIndex) != "FULLY_CONNECTED":
                continue
            weight = int(op.inputs[1])
            if produced_by.get(weight) == "DENSIFY":
                counts["densified"] += 1
            elif graph.tensors[weight].sparsity is not None:
                counts["sparse"] += 1
            else:
                counts["dense"] += 1
    return counts


def _check(sparsity: float, block: int) -> None:
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity!r}")
    _check_block(block)


def _check_block(block: int) -> None:
    if int(block) != block or block < 1:
        raise ValueError(f"block must be a positive integer, got {block!r}")
