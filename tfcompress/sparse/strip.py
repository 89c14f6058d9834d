"""`strip(model)`: the one strip, for every mask wrapper (`tfcompress.sparse.strip` is `tfcompress.pruning.strip`)."""
from __future__ import annotations

import tf_keras as keras

from tfcompress.rewrite import check_model, rewrite
from tfcompress.sparse.masks import unwrap


def strip(model: keras.Model) -> keras.Model:
    """A plain Keras copy of `model`: every mask wrapper replaced by the layer it wraps, masked weights zero.

    Mask wrappers (`masks.unwrap`), nested models' included: MaskedLayer
    (`sparsify`, ThresholdPruner) and HebbianSparseConv2D (a Conv2D comes
    back), tfmot's PruneLowMagnitude (`pruning.prune_low_magnitude`, tfmot's
    own `prune_low_magnitude`), and any nesting of them. A wrapped layer whose
    class names a `stripped_class` comes back as that class (pruning's
    PrunableDepthwiseConv2D as a DepthwiseConv2D). Ours rather than tfmot's
    `strip_pruning`, which knows only its own wrapper. The input model is not
    changed; the copy is not compiled.
    """
    check_model(model, "strip")

    def replace(layer: keras.layers.Layer) -> keras.layers.Layer | None:
        inner, _ = unwrap(layer)
        if inner is layer:
            return None
        return getattr(inner, "stripped_class", type(inner)).from_config(inner.get_config())

    def transfer(wrapper: keras.layers.Layer, plain: keras.layers.Layer) -> None:
        inner, masks = unwrap(wrapper)
        plain.set_weights([(weight * masks[weight.ref()]).numpy() if weight.ref() in masks
                           else weight.numpy() for weight in inner.weights])

    return rewrite(model, replace, transfer)
