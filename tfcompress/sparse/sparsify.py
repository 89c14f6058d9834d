"""`sparsify(model)` wraps kernels in MaskedLayer; `strip(model)` turns them back into plain layers."""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import tensorflow as tf
import tf_keras as keras

from tfcompress.sparse.distribution import layer_densities
from tfcompress.sparse.masks import GRANULARITIES, MaskedLayer

KEEP_DENSE_ALIASES = ("first", "last")
# sparsify warns when the kernels' overall sparsity falls this far below the requested sparsity.
SHORTFALL_WARNING = 0.05


def kernel_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Top-level layers of a built model that own a `kernel` variable, in order."""
    return [layer for layer in model.layers
            if isinstance(getattr(layer, "kernel", None), tf.Variable)
            and not isinstance(layer, MaskedLayer)]


def sparsify(model: keras.Model, sparsity: float | None = None, distribution: str = "uniform",
             conv_sparsity: float = 0.5, dense_sparsity: float = 0.98,
             keep_dense: Sequence[str] = KEEP_DENSE_ALIASES, granularity: str = "weight",
             seed: int = 0) -> keras.Model:
    """A copy of functional/Sequential `model` whose kernel layers are MaskedLayers.

    Weights are copied and the masked ones set to zero. `keep_dense` names
    layers left dense ("first"/"last" mean the first/last kernel layer).
    `distribution`, `sparsity`, `conv_sparsity`, `dense_sparsity`: see
    `layer_densities`. Each layer's random mask is seeded from `seed` and its
    position, so the same arguments give the same masks. The copy is not compiled.
    When layers kept dense hold so many weights that the kernels' overall
    sparsity falls more than 5 points below `sparsity` (the default keeps
    LeNet-300-100's 235,200-weight first layer dense), a warning names them.
    """
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    if not model.built or isinstance(model, keras.Model) and not model._is_graph_network:  # pylint: disable=protected-access
        raise ValueError(f"sparsify needs a built functional or Sequential model; {model.name!r} "
                         f"({type(model).__name__}) is not one (wrap its layers with MaskedLayer)")
    candidates = kernel_layers(model)
    if not candidates:
        raise ValueError(f"model {model.name!r} has no layer with a kernel to sparsify")
    kept = _resolve_keep_dense(keep_dense, candidates)
    targets = [layer for layer in candidates if layer.name not in kept]
    densities = layer_densities([tuple(layer.kernel.shape) for layer in targets], distribution,
                                sparsity, conv_sparsity, dense_sparsity)
    plan = {layer.name: (density, seed * 1_000_003 + index)
            for index, (layer, density) in enumerate(zip(targets, densities))}
    if sparsity is not None:
        _warn_on_shortfall(sparsity, candidates, densities, targets)

    def clone(layer):
        copy = type(layer).from_config(layer.get_config())
        if layer.name in plan:
            density, layer_seed = plan[layer.name]
            return MaskedLayer(copy, density=density, granularity=granularity, seed=layer_seed)
        return copy

    sparse = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        target = sparse.get_layer(f"masked_{layer.name}" if layer.name in plan else layer.name)
        inner = target.layer if isinstance(target, MaskedLayer) else target
        inner.set_weights(layer.get_weights())
        if isinstance(target, MaskedLayer):
            target.kernel.assign(target.kernel * target.mask)
    return sparse


def strip(model: keras.Model) -> keras.Model:
    """A plain Keras copy of `model`: every MaskedLayer replaced by its layer, masked weights zero."""

    def clone(layer):
        inner = layer.layer if isinstance(layer, MaskedLayer) else layer
        return type(inner).from_config(inner.get_config())

    plain = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        if isinstance(layer, MaskedLayer):
            weights = [(w * layer.mask).numpy() if w is layer.kernel else w.numpy()
                       for w in layer.layer.weights]
            plain.get_layer(layer.layer.name).set_weights(weights)
        else:
            plain.get_layer(layer.name).set_weights(layer.get_weights())
    return plain


def _warn_on_shortfall(sparsity: float, candidates: list, densities: Sequence[float], targets: list) -> None:
    """Warn, naming the dense layers, when the overall kernel sparsity is far below `sparsity`."""
    sizes = {layer.name: int(tf.size(layer.kernel)) for layer in candidates}
    zeros = sum((1.0 - density) * sizes[layer.name] for layer, density in zip(targets, densities))
    reached = zeros / sum(sizes.values())
    if reached < sparsity - SHORTFALL_WARNING:
        dense = ", ".join(f"{name} ({size:,} weights)" for name, size in sizes.items()
                          if name not in {layer.name for layer in targets})
        warnings.warn(f"sparsify: the kernels are {reached:.1%} sparse overall, far below the requested "
                      f"sparsity={sparsity}, because keep_dense leaves {dense} dense; pass keep_dense=() "
                      "or name smaller layers", stacklevel=3)


def _resolve_keep_dense(keep_dense: Sequence[str], candidates: list) -> set[str]:
    if isinstance(keep_dense, str):
        keep_dense = [keep_dense] if keep_dense else []
    names = {layer.name for layer in candidates}
    kept = set()
    for item in keep_dense:
        if item in KEEP_DENSE_ALIASES:
            kept.add(candidates[0 if item == "first" else -1].name)
        elif item in names:
            kept.add(item)
        else:
            raise ValueError(f"keep_dense item {item!r} is neither 'first', 'last' nor a kernel "
                             f"layer of the model ({sorted(names)})")
    if kept == names:
        raise ValueError(f"keep_dense={list(keep_dense)} leaves no layer to sparsify")
    return kept
