"""Non-zeros and sparsity: the one counter of the library, per layer and in total, and a callback logging them.

`nonzeros(values)` is the count itself (`sparsity_of(values)` its fraction of
zeros); `stats(model)` applies it per kernel
layer of any technique's model. Pruning, the dropout adjustment, the
experiments and the reports count through these two.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import tf_keras as keras

from tfcompress.sparse.hashed import HashedConv2D, HashedDense
from tfcompress.sparse.masks import kernel_attribute, unwrap


def nonzeros(values: Iterable) -> tuple[int, int]:
    """(non-zero entries, entries) over `values` (tensors, variables or arrays)."""
    arrays = [value.numpy() if hasattr(value, "numpy") else np.asarray(value) for value in values]
    return sum(int(np.count_nonzero(a)) for a in arrays), sum(int(a.size) for a in arrays)


def sparsity_of(values: Iterable) -> float:
    """The fraction of zeros over `values` (0 when they are empty)."""
    return _entry(nonzeros(values))["sparsity"]


def stats(model: keras.Model) -> dict:
    """`{"layers": {name: {"nonzeros", "size", "sparsity"}}, "total": {...}}` over kernel layers.

    Kernel layers are those of nested models too; a layer's kernel is its main
    one (`masks.kernel_attribute`: a depthwise convolution's depthwise kernel,
    a separable convolution's pointwise kernel), as `sparsify` masks it.

    A kernel inside mask wrappers (`masks.unwrap`: MaskedLayer,
    HebbianSparseConv2D, tfmot's PruneLowMagnitude) counts its active
    connections (the ones of its mask, a regrown weight that is still exactly
    zero included); a tied (hashed) kernel counts its non-zero real weights,
    out of its virtual kernel's size; other kernels count their non-zero
    entries, so layers kept dense count in the total too. Layers are named
    as in `model.layers` (a wrapper by its own name).
    """
    layers = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            layers.update(stats(layer)["layers"])
            continue
        inner, masks = unwrap(layer)
        if isinstance(inner, (HashedDense, HashedConv2D)):
            real = inner.hashed_weights
            count = (nonzeros([masks.get(real.ref(), real)])[0],
                     int(inner.hash_buckets.shape.num_elements()))
        elif kernel_attribute(inner) is not None:
            kernel = getattr(inner, kernel_attribute(inner))
            count = nonzeros([masks.get(kernel.ref(), kernel)])
        else:
            continue
        layers[layer.name] = _entry(count)
    total = (sum(v["nonzeros"] for v in layers.values()), sum(v["size"] for v in layers.values()))
    return {"layers": layers, "total": _entry(total)}


def _entry(count: tuple[int, int]) -> dict:
    nonzero, size = count
    return {"nonzeros": nonzero, "size": size, "sparsity": 1.0 - nonzero / size if size else 0.0}


class SparsityLogger(keras.callbacks.Callback):
    """Add `nonzeros` and `sparsity` (all kernels) to each epoch's logs.

    Put it before CSVLogger/TensorBoard in the callback list: Keras hands the
    same `logs` dict to the callbacks in order, so they record the new keys.
    """

    def on_epoch_end(self, epoch, logs=None):
        """Count the model's non-zeros."""
        if logs is not None:
            total = stats(self.model)["total"]
            logs["nonzeros"] = float(total["nonzeros"])
            logs["sparsity"] = total["sparsity"]
