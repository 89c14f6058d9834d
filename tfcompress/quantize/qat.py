"""Quantization-aware training over any Keras model: tfmot's `quantize_annotate` +
`quantize_apply`, with tfcompress's layers annotated with their own `QuantizeConfig`s and,
for pruned models, tfmot's pruning-preserving scheme."""
from __future__ import annotations

import tf_keras as keras
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.prune_preserve import (
    prune_preserve_quantize_registry as prune_preserve)
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
    default_8bit_quantize_configs, default_8bit_quantize_layout_transform,
    default_8bit_quantize_registry, default_8bit_transforms)

from tfcompress.quantize.configs import QuantizeConfig, WeightQuantizeConfig, config_for

UNSUPPORTED = ("error", "skip")
# A model whose kernels are at least this fraction zeros gets pruning-preserving QAT by default.
SPARSE_THRESHOLD = 0.3


class UnsupportedLayerError(ValueError):
    """A layer that neither tfmot nor tfcompress can quantize and that has no config given."""


class _KernelBeforeReLU(default_8bit_transforms.LayerReLUQuantize):
    """tfmot 0.8.1's `LayerReLUQuantize` gives a Dense/Conv2D/DepthwiseConv2D followed by a ReLU
    layer a `NoOpQuantizeConfig`, meant to keep a fake-quant out from between the two, but it
    also turns off the quantization (and the sparsity preservation) of the layer's kernel. Here
    such a layer keeps its kernel quantizer and only its output is left to the ReLU's."""

    preserve_sparsity = False

    def replacement(self, match_layer):
        node = match_layer.input_layers[0]
        kind = node.layer["class_name"]
        if kind == "Add":
            node.metadata["quantize_config"] = default_8bit_quantize_configs.NoOpQuantizeConfig()
            return match_layer
        conv = kind != "Dense"
        config_class = (default_8bit_quantize_registry.Default8BitConvQuantizeConfig if conv
                        else default_8bit_quantize_registry.Default8BitQuantizeConfig)
        config = config_class(["depthwise_kernel" if kind == "DepthwiseConv2D" else "kernel"], [], False)
        if self.preserve_sparsity:
            config.weight_quantizer = (prune_preserve.PrunePreserveDefault8BitConvWeightsQuantizer()
                                       if conv else prune_preserve.PrunePreserveDefault8BitWeightsQuantizer())
        node.metadata["quantize_config"] = config
        return match_layer


_RELU_ACTIVATION_PATTERN = default_8bit_transforms.LayerReluActivationQuantize.pattern


class _KernelBeforeReLUActivation(_KernelBeforeReLU):
    """The same for an `Activation("relu")` layer."""

    def pattern(self):
        return _RELU_ACTIVATION_PATTERN(self)


_ORIGINAL_RELU_TRANSFORMS = (default_8bit_transforms.LayerReLUQuantize,
                             default_8bit_transforms.LayerReluActivationQuantize)


class _LayoutTransform(default_8bit_quantize_layout_transform.Default8BitQuantizeLayoutTransform):
    """tfmot's default 8-bit layout transforms, with the two ReLU transforms fixed (see above)."""

    def __init__(self, preserve_sparsity: bool):
        self.preserve_sparsity = preserve_sparsity

    def apply(self, model, layer_quantize_map):
        original = _ORIGINAL_RELU_TRANSFORMS
        fixed = [type(f"_Fixed{cls.__name__}", (cls,), {"preserve_sparsity": self.preserve_sparsity})
                 for cls in (_KernelBeforeReLU, _KernelBeforeReLUActivation)]
        try:  # the list of transforms is built inside tfmot's apply(): swap the two classes
            for name, cls in zip(("LayerReLUQuantize", "LayerReluActivationQuantize"), fixed):
                setattr(default_8bit_transforms, name, cls)
            return super().apply(model, layer_quantize_map)
        finally:
            for cls in original:
                setattr(default_8bit_transforms, cls.__name__, cls)


def _scheme(preserve_sparsity: bool):
    """tfmot's 8-bit scheme (pruning-preserving or not) with the fixed layout transform."""
    base = (tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme if preserve_sparsity
            else tfmot.quantization.keras.default_8bit.Default8BitQuantizeScheme)

    class Scheme(base):
        def get_layout_transformer(self):
            return _LayoutTransform(preserve_sparsity)

    return Scheme()


def quantize_scope(custom_objects: dict | None = None):
    """tfmot's `quantize_scope` with tfcompress's configs and layers (and `custom_objects`): use
    it around `keras.models.load_model` / `clone_model` of a quantization-aware model."""
    from tfcompress.hebbian.layer import HebbianSparseConv2D
    from tfcompress.sparse.hashed import HashedConv2D, HashedDense
    from tfcompress.sparse.masks import MaskedLayer
    from tfcompress.spectral.layers import SpectralConv1D, SpectralConv2D
    return tfmot.quantization.keras.quantize_scope({
        cls.__name__: cls for cls in (WeightQuantizeConfig, SpectralConv1D, SpectralConv2D,
                                      HashedDense, HashedConv2D, MaskedLayer, HebbianSparseConv2D)},
        custom_objects or {})


def quantize_model(model: keras.Model, preserve_sparsity: bool | None = None,
                   configs: dict[str, QuantizeConfig] | None = None,
                   unsupported: str = "error") -> keras.Model:
    """A quantization-aware copy of `model` (tfmot's 8-bit scheme), ready to compile and fine-tune.

    Layers tfmot knows (Dense, Conv, pooling, ...) get tfmot's own configs; tfcompress's layers
    (SpectralConv1D/2D, HashedDense/HashedConv2D, MaskedLayer, HebbianSparseConv2D) get theirs
    (`tfcompress.quantize.configs`). The input model is not changed; its weights are carried
    over. Convert the result with `tfcompress.export.save(..., format="tflite",
    quantize="int8", ...)` (or without `quantize`: the fake-quant ranges make it int8).

    Args:
      model: a built Sequential or functional Keras model.
      preserve_sparsity: use tfmot's collaborative optimization
        (`Default8BitPrunePreserveQuantizeScheme`, and sparsity-preserving quantizers in
        tfcompress's configs) so that weights that are zero stay zero through QAT. None: on
        when the kernels are at least `SPARSE_THRESHOLD` zeros (a pruned model).
      configs: a QuantizeConfig by layer name, for custom layers (or to override a default).
      unsupported: what to do with a layer that has no config: "error" (ValueError naming
        every such layer and its class) or "skip" (the documented default for them: the layer
        stays float, tfmot quantizes around it).

    Raises:
      UnsupportedLayerError (a ValueError): a layer without config and `unsupported="error"`.
      ValueError: a bad `unsupported` value, `configs` naming layers the model lacks, a
        model that is not built.
    """
    from tfcompress.export import kernel_sparsity
    if unsupported not in UNSUPPORTED:
        raise ValueError(f"unsupported must be one of {UNSUPPORTED}, got {unsupported!r}")
    if not model.built or not getattr(model, "inputs", None):
        raise ValueError(f"quantize_model needs a built Sequential or functional model; "
                         f"{model.name!r} is not")
    configs = dict(configs or {})
    unknown = sorted(set(configs) - {layer.name for layer in model.layers})
    if unknown:
        raise ValueError(f"configs names layers {unknown} that model {model.name!r} does not have")
    if preserve_sparsity is None:
        preserve_sparsity = kernel_sparsity(model) >= SPARSE_THRESHOLD
    scheme = _scheme(preserve_sparsity)
    registry = scheme.get_quantize_registry()
    default_registry = default_8bit_quantize_registry.Default8BitQuantizeRegistry()
    missing, skipped = [], []

    def annotate(layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, keras.layers.InputLayer):
            return layer
        config = configs.get(layer.name) or config_for(layer, preserve_sparsity)
        if config is not None:
            return tfmot.quantization.keras.quantize_annotate_layer(layer, quantize_config=config)
        if isinstance(layer, keras.Model):
            missing.append(f"{layer.name!r} (a nested model: flatten it or quantize its layers)")
            return layer
        if registry.supports(layer) and default_registry.supports(layer):
            return tfmot.quantization.keras.quantize_annotate_layer(layer)
        if unsupported == "skip":
            skipped.append(layer.name)
            return layer
        missing.append(f"{layer.name!r} ({type(layer).__name__})")
        return layer

    # clone_model reuses the layers annotate returns (weights included); quantize_apply then
    # clones again, so `model` itself is never changed.
    # tfmot rebuilds the model from its config: every layer class of the model must resolve.
    classes = {type(layer).__name__: type(layer)
               for layer in model._flatten_layers(include_self=False, recursive=True)
               if not type(layer).__module__.startswith("tf_keras.")}
    with quantize_scope({**classes, **{type(c).__name__: type(c) for c in configs.values()}}):
        annotated = keras.models.clone_model(model, clone_function=annotate)
        if missing:
            raise UnsupportedLayerError(
                f"cannot quantize layer(s) {', '.join(missing)} of model {model.name!r}: neither "
                "tfmot nor tfcompress has a QuantizeConfig for them; pass "
                "configs={name: tfmot.quantization.keras.QuantizeConfig} or unsupported='skip' "
                "(leave them float)")
        quantized = tfmot.quantization.keras.quantize_apply(annotated, scheme)
    if skipped:
        print(f"quantize_model: left float (no quantize config): {', '.join(skipped)}", flush=True)
    return quantized

