"""Band-limited spectral convolution: band masks, SpectralConv1D/2D, the spectral_mul op."""
from tfcompress.spectral.layers import SpectralConv1D, SpectralConv2D, conv_factory

__all__ = ["SpectralConv1D", "SpectralConv2D", "conv_factory"]
