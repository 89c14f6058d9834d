"""Compiled custom ops of tfcompress: the `spectral_mul` products (complex, and planar
channels-last) and whether their library is in use."""
from tfcompress.spectral.op import op_loaded, spectral_mul, spectral_mul_planar

__all__ = ["op_loaded", "spectral_mul", "spectral_mul_planar"]
