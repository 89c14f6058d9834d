"""Hebbian sparse convolution: connections kept or re-initialised by input/output co-activation.

    conv = HebbianSparseConv2D(32, 3, k1=0.10, k2=0.15, accumulate_every=20, rewire_every=200)
    model.fit(data, callbacks=[HebbianRewiring()])  # without it nothing rewires (a warning says so)
    hebbian = tfcompress.hebbian.convert(model, k1=0.10, k2=0.15)  # any Conv2D model

`coactivation(x, y, kernel_size, strides, padding)` is the strength update,
one `Conv2DBackpropFilter` of the binarised input and output;
`strengths_reference` is its plain NumPy loop (tests only).
"""
from tfcompress.hebbian.callback import HebbianRewiring, hebbian_layers
from tfcompress.hebbian.coactivation import binarise, coactivation
from tfcompress.hebbian.convert import convert
from tfcompress.hebbian.layer import HebbianSparseConv2D, conv_factory, slice_counts, slice_ranks
from tfcompress.hebbian.reference import strengths_reference

__all__ = ["HebbianRewiring", "HebbianSparseConv2D", "binarise", "coactivation", "conv_factory", "convert",
           "hebbian_layers", "slice_counts", "slice_ranks", "strengths_reference"]
