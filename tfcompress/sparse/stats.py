"""Non-zeros and sparsity per layer and in total, and a callback that logs them each epoch."""
from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from tfcompress.sparse.hashed import HashedConv2D, HashedDense
from tfcompress.sparse.masks import MaskedLayer, kernel_attribute


def stats(model: keras.Model) -> dict:
    """`{"layers": {name: {"nonzeros", "size", "sparsity"}}, "total": {...}}` over kernel layers.

    Kernel layers are those of nested models too; a layer's kernel is its main
    one (`masks.kernel_attribute`: a depthwise convolution's depthwise kernel,
    a separable convolution's pointwise kernel), as `sparsify` masks it.

    A masked kernel counts its active connections (the ones of its mask, a
    regrown weight that is still exactly zero included); a tied (hashed) kernel
    counts its real weights, out of its virtual kernel's size; other kernels
    count their non-zero entries, so layers kept dense count in the total too.
    """
    layers = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            layers.update(stats(layer)["layers"])
            continue
        if isinstance(layer, (HashedDense, HashedConv2D)):
            layers[layer.name] = _entry(int(layer.hashed_weights.shape.num_elements()),
                                        int(layer.hash_buckets.shape.num_elements()))
            continue
        owner = layer.layer if isinstance(layer, MaskedLayer) else layer
        name = kernel_attribute(owner)
        if name is None:
            continue
        kernel = getattr(owner, name)
        values = layer.mask if isinstance(layer, MaskedLayer) else kernel
        nonzeros = int(tf.math.count_nonzero(values).numpy())
        layers[layer.name] = _entry(nonzeros, int(kernel.shape.num_elements()))
    total = _entry(sum(v["nonzeros"] for v in layers.values()),
                   sum(v["size"] for v in layers.values()))
    return {"layers": layers, "total": total}


def _entry(nonzeros: int, size: int) -> dict:
    return {"nonzeros": nonzeros, "size": size, "sparsity": 1.0 - nonzeros / size if size else 0.0}


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
