"""`sparsify(model)` wraps kernels in MaskedLayer (`strip.strip` turns them back into plain layers)."""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import tf_keras as keras
from absl import logging

from tfcompress.rewrite import all_layers, check_model, plain_copy, rewrite
from tfcompress.sparse.distribution import layer_densities
from tfcompress.sparse.masks import GRANULARITIES, KERNEL_ATTRIBUTES, MaskedLayer, kernel_attribute
from tfcompress.sparse.stats import stats

KEEP_DENSE_ALIASES = ("first", "last")
# sparsify warns when the kernels' overall sparsity falls this far below the requested sparsity.
SHORTFALL_WARNING = 0.05


def kernel_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers `sparsify` masks: those with a kernel variable, nested models included, in order.

    The kernel is the layer's `masks.kernel_attribute`: `kernel` (Dense,
    Conv1D/2D/3D, Conv2DTranspose, custom layers), `depthwise_kernel`
    (DepthwiseConv2D) or `pointwise_kernel` (SeparableConv1D/2D). Layers
    masked already (MaskedLayer, HebbianSparseConv2D) are left out.
    """
    return [layer for layer in all_layers(model)
            if not isinstance(layer, MaskedLayer) and kernel_attribute(layer)]


def sparsify(model: keras.Model, sparsity: float | None = None, distribution: str = "uniform",
             conv_sparsity: float = 0.5, dense_sparsity: float = 0.98,
             keep_dense: Sequence[str] = KEEP_DENSE_ALIASES, granularity: str = "weight",
             seed: int = 0) -> keras.Model:
    """A copy of functional/Sequential `model` whose kernel layers are MaskedLayers.

    Every layer of `kernel_layers(model)` (nested Sequential/functional models
    included) is masked, except those of `keep_dense` (layer names; "first"
    and "last" mean the first and last kernel layer of the whole model). A
    separable convolution's mask is on its pointwise kernel, as tfmot's
    prune_registry prunes it; its depthwise kernel stays dense. Other layers
    with a weight matrix (Embedding, recurrent layers, TimeDistributed ...)
    are not masked, and a warning names them. Weights are copied and the
    masked ones set to zero; the input model is not changed; the copy is not
    compiled.

    `distribution`, `sparsity`, `conv_sparsity`, `dense_sparsity`: see
    `layer_densities`. Each layer's random mask is seeded from `seed` and its
    position, so the same arguments give the same masks. The overall sparsity
    reached over all kernels (dense ones included) is logged in one line
    (absl, INFO); `tfcompress.sparse.stats(copy)["total"]` gives it too. When
    layers kept dense hold so many weights that it falls more than 5 points
    below `sparsity` (the default keeps LeNet-300-100's 235,200-weight first
    layer dense), a warning names them.
    """
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    check_model(model, "sparsify")
    candidates = kernel_layers(model)
    skipped = [layer for layer in all_layers(model)
               if not isinstance(layer, MaskedLayer) and not kernel_attribute(layer)
               and any(weight.shape.rank >= 2 for weight in layer.trainable_weights)]
    if skipped:
        warnings.warn(f"sparsify: layers {_describe(skipped)} have weights but no kernel variable it "
                      f"can mask (one of {KERNEL_ATTRIBUTES}); they stay dense", stacklevel=2)
    if not candidates:
        raise ValueError(f"model {model.name!r} has no layer with a kernel to sparsify")
    kept = _resolve_keep_dense(keep_dense, candidates)
    targets = [layer for layer in candidates if layer.name not in kept]
    densities = layer_densities([tuple(_kernel(layer).shape) for layer in targets], distribution,
                                sparsity, conv_sparsity, dense_sparsity)
    plan = {id(layer): (density, seed * 1_000_003 + index)
            for index, (layer, density) in enumerate(zip(targets, densities))}

    def replace(layer: keras.layers.Layer) -> MaskedLayer | None:
        if id(layer) not in plan:
            return None
        density, layer_seed = plan[id(layer)]
        return MaskedLayer(plain_copy(layer), density=density, granularity=granularity,
                           seed=layer_seed)

    sparse = rewrite(model, replace, _fill_masked)
    total = stats(sparse)["total"]
    logging.info("sparsify: %d layers masked; kernels %.1f%% sparse overall (%d of %d weights "
                 "non-zero)", len(targets), 100 * total["sparsity"], total["nonzeros"], total["size"])
    if sparsity is not None and kept and total["sparsity"] < sparsity - SHORTFALL_WARNING:
        dense = ", ".join(f"{layer.name} ({_kernel(layer).shape.num_elements():,} weights)"
                          for layer in candidates if layer.name in kept)
        warnings.warn(f"sparsify: the kernels are {total['sparsity']:.1%} sparse overall, far below the "
                      f"requested sparsity={sparsity}, because keep_dense leaves {dense} dense; pass "
                      "keep_dense=() or name smaller layers", stacklevel=2)
    return sparse


def _fill_masked(original: keras.layers.Layer, masked: MaskedLayer) -> None:
    """Copy `original`'s weights into the wrapped layer and zero the masked ones."""
    masked.layer.set_weights(original.get_weights())
    masked.kernel.assign(masked.kernel * masked.mask)


def _kernel(layer: keras.layers.Layer):
    return getattr(layer, kernel_attribute(layer))


def _describe(layers: list[keras.layers.Layer]) -> str:
    return ", ".join(f"{layer.name!r} ({type(layer).__name__})" for layer in layers)


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
