"""tfmot `QuantizeConfig`s for tfcompress's own layers, so tfmot's quantization wrapper can
fake-quantize them during quantization-aware training.

Every config quantizes the layer's trainable weight matrix (8-bit, per-tensor, symmetric,
narrow range: tfmot's default for weights) and its activation (8-bit moving-average range:
tfmot's default for activations), as tfmot's `Default8BitQuantizeConfig` does for a Dense
layer. With `preserve_sparsity=True` the weight quantizer is tfmot's own
`PrunePreserveDefault8BitWeightsQuantizer` (collaborative optimization), which multiplies the
weights by the zero/non-zero mask they had when QAT began, so zeros stay zeros.

| layer | quantized weight | activation |
|---|---|---|
| SpectralConv1D/2D | `kernel` (before its spectrum is taken) | `activation` |
| HashedDense/HashedConv2D | `hashed_weights` (the real, shared vector) | `activation` |
| MaskedLayer, HebbianSparseConv2D | the wrapped layer's masked kernel (the mask is applied after) | the wrapped layer's `activation` |
"""
from __future__ import annotations

import tf_keras as keras
from tensorflow_model_optimization.python.core.quantization.keras import quantizers
from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.prune_preserve import (
    prune_preserve_quantize_registry as prune_preserve)

import tensorflow_model_optimization as tfmot

QuantizeConfig = tfmot.quantization.keras.QuantizeConfig


def weight_quantizer(preserve_sparsity: bool) -> quantizers.Quantizer:
    """tfmot's default 8-bit weight quantizer, or its sparsity-preserving twin."""
    if preserve_sparsity:
        return prune_preserve.PrunePreserveDefault8BitWeightsQuantizer()
    return quantizers.LastValueQuantizer(num_bits=8, per_axis=False, symmetric=True, narrow_range=True)


def activation_quantizer() -> quantizers.Quantizer:
    """tfmot's default 8-bit activation quantizer."""
    return quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False,
                                             narrow_range=False)


@keras.saving.register_keras_serializable(package="tfcompress")
class WeightQuantizeConfig(QuantizeConfig):
    """Quantize the weight attribute `weight` and the `activation` of a layer (or, with
    `inner=True`, of the layer a wrapper holds in `.layer`, the weight read from the wrapper)."""

    def __init__(self, weight: str = "kernel", inner: bool = False, preserve_sparsity: bool = False):
        self.weight = weight
        self.inner = bool(inner)
        self.preserve_sparsity = bool(preserve_sparsity)

    def _holder(self, layer: keras.layers.Layer) -> keras.layers.Layer:
        """The layer whose attributes hold the weight and activation."""
        return layer.layer if self.inner else layer

    def get_weights_and_quantizers(self, layer):
        """[(the weight variable, its 8-bit quantizer)]."""
        return [(getattr(layer, self.weight), weight_quantizer(self.preserve_sparsity))]

    def get_activations_and_quantizers(self, layer):
        """[(the activation, its 8-bit quantizer)] (a linear activation is quantized too)."""
        return [(self._holder(layer).activation, activation_quantizer())]

    def set_quantize_weights(self, layer, quantize_weights):
        """Let the layer read the fake-quantized weight in its next call."""
        holder = self._holder(layer)
        name = layer.kernel_name if self.inner else self.weight
        # A wrapper (MaskedLayer) reads the wrapped layer's kernel attribute, then masks it.
        setattr(holder, name, quantize_weights[0])

    def set_quantize_activations(self, layer, quantize_activations):
        """Let the layer apply the quantizing activation."""
        self._holder(layer).activation = quantize_activations[0]

    def get_output_quantizers(self, layer):
        """None: the quantized activation is the output."""
        return []

    def get_config(self):
        """Constructor arguments."""
        return {"weight": self.weight, "inner": self.inner, "preserve_sparsity": self.preserve_sparsity}


def config_for(layer: keras.layers.Layer, preserve_sparsity: bool = False) -> QuantizeConfig | None:
    """The QuantizeConfig of a tfcompress layer, or None for any other layer."""
    from tfcompress.sparse.hashed import HashedConv2D, HashedDense
    from tfcompress.sparse.masks import MaskedLayer
    from tfcompress.spectral.layers import SpectralConv1D, SpectralConv2D
    if isinstance(layer, (SpectralConv1D, SpectralConv2D)):
        return WeightQuantizeConfig("kernel", preserve_sparsity=preserve_sparsity)
    if isinstance(layer, (HashedDense, HashedConv2D)):
        return WeightQuantizeConfig("hashed_weights", preserve_sparsity=preserve_sparsity)
    if isinstance(layer, MaskedLayer):  # HebbianSparseConv2D too; the mask keeps its zeros
        if not hasattr(layer.layer, "activation"):
            return None
        return WeightQuantizeConfig("kernel", inner=True, preserve_sparsity=False)
    return None
