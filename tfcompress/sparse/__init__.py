"""Sparse training: masks, their initial distribution, rewiring methods and schedules, tied weights.

    sparse = sparsify(model, sparsity=0.9, distribution="erk")
    sparse.compile(...)
    sparse.fit(data, callbacks=[DynamicSparsity(RigL(), CosineSchedule(0.3, update_every=100,
                                                                       stop_step=5000))])
    plain = strip(sparse)  # also tfcompress.pruning.strip: every mask wrapper, tfmot's too

`stats(model)` counts non-zeros per layer for every technique's models.
"""
from tfcompress.sparse.callback import DynamicSparsity
from tfcompress.sparse.distribution import DISTRIBUTIONS, layer_densities
from tfcompress.sparse.hashed import HashedConv2D, HashedDense, tie
from tfcompress.sparse.masks import GRANULARITIES, MaskedLayer, masked_layers
from tfcompress.sparse.methods import DSR, SET, DeepR, MaskMethod, RigL, Static, UpdateContext
from tfcompress.sparse.rewiring import apply_rewiring
from tfcompress.sparse.schedule import ConstantSchedule, CosineSchedule, UpdateSchedule
from tfcompress.sparse.sparsify import sparsify
from tfcompress.sparse.stats import SparsityLogger, nonzeros, stats
from tfcompress.sparse.strip import strip

__all__ = ["ConstantSchedule", "CosineSchedule", "DISTRIBUTIONS", "DSR", "DeepR", "DynamicSparsity",
           "GRANULARITIES", "HashedConv2D", "HashedDense", "MaskMethod", "MaskedLayer", "RigL", "SET",
           "SparsityLogger", "Static", "UpdateContext", "UpdateSchedule", "apply_rewiring",
           "layer_densities", "masked_layers", "nonzeros", "sparsify", "stats", "strip", "tie"]
