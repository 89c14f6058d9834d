"""Sparse training: masks, their initial distribution, dynamic rewiring methods, tied weights.

    sparse = sparsify(model, sparsity=0.9, distribution="erk")
    sparse.compile(...)
    sparse.fit(data, callbacks=[DynamicSparsity(DSR(n_prune_params=600), update_every=100)])
    plain = strip(sparse)
"""
from tfcompress.sparse.callback import DynamicSparsity
from tfcompress.sparse.distribution import DISTRIBUTIONS, layer_densities
from tfcompress.sparse.hashed import HashedConv2D, HashedDense, tie
from tfcompress.sparse.masks import GRANULARITIES, MaskedLayer, masked_layers
from tfcompress.sparse.methods import DSR, SET, DeepR, MaskMethod, RigL, Static, UpdateContext
from tfcompress.sparse.sparsify import sparsify, strip
from tfcompress.sparse.stats import SparsityLogger, stats

__all__ = ["DISTRIBUTIONS", "DSR", "DeepR", "DynamicSparsity", "GRANULARITIES", "HashedConv2D",
           "HashedDense", "MaskMethod", "MaskedLayer", "RigL", "SET", "SparsityLogger", "Static",
           "UpdateContext", "layer_densities", "masked_layers", "sparsify", "stats", "strip", "tie"]
