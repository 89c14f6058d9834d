"""Band-limited spectral convolution: band masks, SpectralConv1D/2D, the spectral_mul ops.

    spectral = tfcompress.spectral.convert(model, compress_rate=0.5)  # any Conv1D/Conv2D model
"""
from tfcompress.spectral.convert import convert
from tfcompress.spectral.layers import SpectralConv1D, SpectralConv2D, conv_factory

__all__ = ["SpectralConv1D", "SpectralConv2D", "conv_factory", "convert"]
