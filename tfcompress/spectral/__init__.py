"""Band-limited spectral convolution: band masks, SpectralConv1D/2D, the spectral_mul op."""
