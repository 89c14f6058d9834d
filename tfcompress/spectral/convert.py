"""`convert(model)`: the user's model with its Conv1D/Conv2D layers band-limited, weights kept."""
from __future__ import annotations

from collections.abc import Iterable

import tf_keras as keras

from tfcompress.rewrite import convert_layers
from tfcompress.spectral.layers import SpectralConv1D, SpectralConv2D

SPECTRAL = {keras.layers.Conv1D: SpectralConv1D, keras.layers.Conv2D: SpectralConv2D}


def convert(model: keras.Model, compress_rate: float = 0.0, preserve_energy: float | None = None,
            layers: Iterable[str] | None = None, implementation: str = "auto",
            next_power2: bool = False, fft_size: str = "minimal") -> keras.Model:
    """A copy of functional/Sequential `model` whose Conv1D/Conv2D layers are SpectralConv1D/2D.

    Touches plain `keras.layers.Conv1D` and `Conv2D` layers (not their
    subclasses: depthwise, separable and transposed convolutions stay), in
    nested models too: the named ones (`layers`), or all. Each keeps its name,
    arguments and trained weights, and gets `compress_rate`,
    `preserve_energy`, `implementation`, `next_power2` and `fft_size` (see
    SpectralConv2D); at compress_rate=0 the copy computes the same outputs.
    A conv the spectral layer cannot compute (dilation_rate > 1, groups > 1,
    channels_first, causal padding, an input of unknown spatial size) is an
    error when named and is skipped with a warning otherwise. The input model
    is not changed; the copy is not compiled. A model with no Conv layer left
    (for example one converted already) is an error.
    """
    spectral_args = {"compress_rate": compress_rate, "preserve_energy": preserve_energy,
                     "implementation": implementation, "next_power2": next_power2, "fft_size": fft_size}
    SpectralConv2D(1, 1, **spectral_args)  # bad arguments fail here, not as one warning per layer

    def make(conv: keras.layers.Layer) -> keras.layers.Layer:
        spatial = tuple(conv.get_input_shape_at(0))[1:-1]
        if None in spatial:
            raise ValueError(f"its input's spatial size {spatial} is unknown; the band is fixed "
                             "when the layer is built, so give the model a fixed input size")
        return SPECTRAL[type(conv)](**{**conv.get_config(), **spectral_args})

    return convert_layers(model, "spectral.convert", lambda layer: type(layer) in SPECTRAL, make,
                          layers, converted=(SpectralConv1D, SpectralConv2D))
