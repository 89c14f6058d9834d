"""Quantization-aware training with tfmot, for any model holding tfcompress's layers.

- `quantize_model(model, preserve_sparsity=None, configs=None, unsupported="error")` (qat.py):
  tfmot's `quantize_annotate` + `quantize_apply` (8-bit), tfcompress's layers annotated with
  their own `QuantizeConfig`; pruned models (kernels >= 30% zeros) get tfmot's
  pruning-preserving scheme (`Default8BitPrunePreserveQuantizeScheme`) so zeros stay zeros.
- `WeightQuantizeConfig`, `config_for` (configs.py): the configs of SpectralConv1D/2D,
  HashedDense/HashedConv2D, MaskedLayer and HebbianSparseConv2D.
- `quantize_scope()`: custom objects to load a saved quantization-aware model.

After QAT, `tfcompress.export.save(qat_model, "m.tflite", format="tflite", quantize="int8",
representative_data=x)` writes the full-integer file.
"""
from tfcompress.quantize.configs import WeightQuantizeConfig, config_for
from tfcompress.quantize.qat import (SPARSE_THRESHOLD, UnsupportedLayerError, quantize_model,
                                     quantize_scope)

__all__ = ["SPARSE_THRESHOLD", "UnsupportedLayerError", "WeightQuantizeConfig", "config_for",
           "quantize_model", "quantize_scope"]
