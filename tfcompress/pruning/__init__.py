"""Pruning: tfmot's gradual magnitude pruning, Han et al.'s iterative std-threshold pruning,
dropout adjustment, dead-neuron removal and CSR storage.

- `prune_low_magnitude`, `callbacks`, `sparsity` (magnitude.py): tfmot wrappers with the
  cubic `PolynomialDecay`, over any functional/Sequential model (nested ones, depthwise and
  separable convolutions included); custom layers are prunable through `get_prunable_weights()`.
- `strip`: the one strip of every mask wrapper, the same function as `tfcompress.sparse.strip`.
- `ThresholdPruner`, `parse_groups` (threshold.py): |w| < q * std(w) per layer, by layer groups,
  fine-tuned with forward masks (`tfcompress.sparse.MaskedLayer`).
- `adjust_dropout` (dropout.py): D * sqrt(C_kept / C_orig).
- `remove_dead_neurons` (surgery.py): a smaller model with identical outputs.
- `to_csr`, `from_csr`, `CsrReport` (csr.py): CSR file and its size report.
"""
from tfcompress.pruning.csr import CsrReport, from_csr, to_csr
from tfcompress.pruning.dropout import adjust_dropout
from tfcompress.pruning.magnitude import callbacks, prune_low_magnitude, sparsity
from tfcompress.pruning.surgery import remove_dead_neurons
from tfcompress.pruning.threshold import ThresholdPruner, parse_groups
from tfcompress.sparse.strip import strip

__all__ = ["CsrReport", "ThresholdPruner", "adjust_dropout", "callbacks", "from_csr", "parse_groups",
           "prune_low_magnitude", "remove_dead_neurons", "sparsity", "strip", "to_csr"]
