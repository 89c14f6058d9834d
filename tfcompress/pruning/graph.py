"""The layer graph of a Sequential or functional model, read from its own config.

Read from `model.get_config()` rather than from `layer.inbound_nodes` because a
layer used by several models (tfmot's `strip` returns the layers of the
original model) has one inbound node per model, and only the config says which
node belongs to this model.
"""
from __future__ import annotations

import tf_keras as keras

# The name `inbound` gives the input of a Sequential model (which has no InputLayer in `layers`).
SEQUENTIAL_INPUT = "<input>"


def inbound(model: keras.Model) -> dict[str, list[str]]:
    """For every layer of `model` (input layers included), the names of the layers feeding it."""
    if isinstance(model, keras.Sequential):
        names = [SEQUENTIAL_INPUT] + [layer.name for layer in model.layers]
        return {name: [names[i - 1]] if i else [] for i, name in enumerate(names)}
    if not getattr(model, "_is_graph_network", False):
        raise ValueError(f"model {model.name!r} is subclassed; expected a Sequential or "
                         "functional keras.Model")
    result = {}
    for entry in model.get_config()["layers"]:
        sources = []
        for node in entry["inbound_nodes"]:
            sources.extend(item[0] for item in node)
        result[entry["name"]] = sources
    return result


def chain(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of `model` in order when every layer has exactly one input from the previous one.

    Raises ValueError naming the first layer that branches or merges.
    """
    sources = inbound(model)
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    previous = None
    for layer in layers:
        feeding = sources[layer.name]
        if len(feeding) != 1 or (previous is not None and feeding[0] != previous):
            raise ValueError(f"layer {layer.name!r} of model {model.name!r} takes inputs {feeding}; "
                             f"expected a single chain of layers (each fed by the previous one, "
                             f"here {previous!r})")
        previous = layer.name
    return layers
