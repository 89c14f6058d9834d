"""Compiled custom ops of tfcompress: the `spectral_mul` product and whether its library is in use."""
from tfcompress.spectral.op import op_loaded, spectral_mul

__all__ = ["op_loaded", "spectral_mul"]
