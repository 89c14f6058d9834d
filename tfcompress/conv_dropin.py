"""What our convolutions accept to be drop-ins for Keras' Conv1D/Conv2D.

SpectralConv1D/2D and HebbianSparseConv2D take the Conv layers' arguments and
defaults, so that `from_config(conv.get_config())` and the converters work; the
values they cannot honour are refused here, in one place.
"""
from __future__ import annotations


def check_conv_arguments(layer: str, rank: int, data_format, dilation_rate, groups) -> None:
    """Raise ValueError for Conv arguments a band-limited or Hebbian convolution cannot honour.

    Accepted: data_format None or "channels_last", dilation_rate 1 (or all
    ones), groups 1, so a Conv layer's config loads into these layers as it is.
    """
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{layer} supports data_format='channels_last' only, got {data_format!r}; "
                         "transpose the inputs to channels_last")
    if int_tuple(dilation_rate, rank, "dilation_rate") != (1,) * rank:
        raise ValueError(f"{layer} supports dilation_rate=1 only, got {dilation_rate!r}")
    if groups != 1:
        raise ValueError(f"{layer} supports groups=1 only, got {groups!r}")


def int_tuple(value: int | tuple[int, ...], rank: int, name: str) -> tuple[int, ...]:
    """An int or ``rank`` positive ints as a tuple; ValueError naming ``name`` otherwise."""
    values = (value,) * rank if isinstance(value, int) else (
        tuple(value) if isinstance(value, (tuple, list)) else ())
    if len(values) != rank or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                      for v in values):
        raise ValueError(f"{name} must be a positive int or {rank} positive ints, got {value!r}")
    return values
