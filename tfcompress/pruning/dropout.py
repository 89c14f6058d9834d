"""Dropout adjustment after pruning (Han et al. 2015, section 3.3).

A pruned layer has less capacity, so the dropout applied to it during
re-training is lowered: D_r = D_o * sqrt(C_r / C_o), where C is the number of
connections (non-zero weights) of the layer and o/r mean original/re-trained.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import tf_keras as keras

from tfcompress.pruning.graph import inbound
from tfcompress.sparse.stats import stats


def dropout_sources(model: keras.Model) -> dict[str, str]:
    """For every Dropout layer, the nearest layer upstream with a `kernel` (whose outputs it drops)."""
    sources = inbound(model)
    by_name = {layer.name: layer for layer in model.layers}
    found = {}
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Dropout):
            continue
        feeding = sources.get(layer.name, [])
        while len(feeding) == 1 and feeding[0] in by_name:
            upstream = by_name[feeding[0]]
            if hasattr(upstream, "kernel"):
                found[layer.name] = upstream.name
                break
            feeding = sources.get(upstream.name, [])
    return found


def kept_fractions(model: keras.Model, original_nonzeros: Mapping[str, int]) -> dict[str, float]:
    """C_r / C_o of every Dropout layer: the connections now left in the kernel that feeds it
    (`tfcompress.sparse.stats`: a masked kernel's mask), over `original_nonzeros` of that layer
    (by layer name)."""
    counts = stats(model)["layers"]
    return {dropout: counts[source]["nonzeros"] / original_nonzeros[source]
            for dropout, source in dropout_sources(model).items() if source in original_nonzeros}


def adjust_dropout(model: keras.Model, kept_fraction: float | Mapping[str, float],
                   original_rates: Mapping[str, float] | None = None) -> dict[str, float]:
    """Set each Dropout rate to D_o * sqrt(kept_fraction); return the new rates by layer name.

    `kept_fraction` is C_r / C_o in (0, 1], one number for every Dropout layer
    or a mapping from Dropout layer names to numbers (layers not named keep
    their rate). `original_rates` are the D_o (default: the current rates), so
    that repeated adjustments do not compound. The new rates take effect when
    the model is next compiled (Keras traces `rate` into its train function).
    """
    dropouts = {layer.name: layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)}
    fractions = (dict.fromkeys(dropouts, kept_fraction) if not isinstance(kept_fraction, Mapping)
                 else dict(kept_fraction))
    unknown = sorted(set(fractions) - set(dropouts))
    if unknown:
        raise ValueError(f"{unknown} are not Dropout layers of model {model.name!r}; "
                         f"its Dropout layers are {sorted(dropouts)}")
    for name, value in fractions.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise ValueError(f"kept fraction of {name!r} must be in (0, 1], got {value!r}")
    originals = dict(original_rates or {})
    rates = {}
    for name, value in fractions.items():
        layer = dropouts[name]
        layer.rate = originals.get(name, layer.rate) * math.sqrt(value)
        rates[name] = layer.rate
    return rates
