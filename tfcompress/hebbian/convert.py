"""`convert(model)`: the user's model with its Conv2D layers made HebbianSparseConv2D, weights kept."""
from __future__ import annotations

from collections.abc import Iterable

import tf_keras as keras

from tfcompress.hebbian.layer import HebbianSparseConv2D
from tfcompress.rewrite import convert_layers


def convert(model: keras.Model, layers: Iterable[str] | None = None, **layer_args) -> keras.Model:
    """A copy of functional/Sequential `model` whose Conv2D layers are HebbianSparseConv2D.

    Touches plain `keras.layers.Conv2D` layers (not depthwise, separable or
    transposed ones), in nested models too: the named ones (`layers`), or all.
    Each keeps its name, Conv2D arguments and trained weights (its mask starts
    full) and gets `layer_args` (k1, k2, accumulate_every, rewire_every,
    threshold, seed: see HebbianSparseConv2D). Train the copy with the
    `HebbianRewiring` callback. A conv the layer cannot compute (dilation_rate
    > 1, groups > 1, channels_first) is an error when named and is skipped
    with a warning otherwise. The input model is not changed; the copy is not
    compiled. A model with no Conv2D left (converted already) is an error.
    """
    HebbianSparseConv2D(1, 1, **layer_args)  # bad arguments fail here, not once per layer

    def make(conv: keras.layers.Layer) -> HebbianSparseConv2D:
        return HebbianSparseConv2D(**{**conv.get_config(), **layer_args})

    def transfer(conv: keras.layers.Layer, hebbian: HebbianSparseConv2D) -> None:
        hebbian.layer.set_weights(conv.get_weights())

    return convert_layers(model, "hebbian.convert", lambda layer: type(layer) is keras.layers.Conv2D,
                          make, layers, transfer, converted=HebbianSparseConv2D)
