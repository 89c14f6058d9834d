"""Dead-neuron removal: a pruned model rebuilt with fewer units and identical outputs.

Supported models: a single chain of layers (Sequential, or functional without
branches) of Dense and Conv1D/Conv2D layers (channels_last, 'valid' or 'same'
padding, groups=1) with only these layers between two of them: Flatten,
Dropout, MaxPooling1D/2D, AveragePooling1D/2D, Activation, ReLU. Anything else
(BatchNormalization, residual additions, custom layers) raises ValueError
naming the layer: removing its channels would need rules of its own.

Between two consecutive weighted layers A -> B, a unit (channel) j of A is removed when

* it has no outgoing weights (B's weights from j are all zero): it never
  reaches the output; or
* it has no incoming weights (A's kernel[..., j] is all zero): its output is
  the constant act(bias_j), so B receives a constant that is folded into B's
  bias. The fold is exact only if that constant contributes the same amount
  at every output position of B (Dense; 'valid' convolutions; any padding if
  the constant is 0); otherwise the unit is kept.

Removing units can make units of the previous layer lose all their outgoing
weights, so the passes repeat until nothing changes. The output units of the
last layer are never removed, nor the model's inputs.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfcompress.pruning.graph import chain

WEIGHTED = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D)
PASS_THROUGH = (keras.layers.Flatten, keras.layers.Dropout, keras.layers.MaxPooling1D,
                keras.layers.MaxPooling2D, keras.layers.AveragePooling1D,
                keras.layers.AveragePooling2D, keras.layers.Activation, keras.layers.ReLU)


class UnsupportedModelError(ValueError):
    """`remove_dead_neurons` cannot rebuild this model (a layer kind it does not handle)."""


def _check_supported(layers: list[keras.layers.Layer]) -> None:
    for layer in layers:
        kind = type(layer)
        if kind in WEIGHTED:
            if not isinstance(layer, keras.layers.Dense) and (
                    layer.groups != 1 or layer.padding not in ("valid", "same")
                    or layer.data_format != "channels_last"):
                raise UnsupportedModelError(f"layer {layer.name!r}: remove_dead_neurons supports convolutions "
                                 f"with groups=1, 'valid'/'same' padding and channels_last; got "
                                 f"groups={layer.groups}, padding={layer.padding!r}, "
                                 f"data_format={layer.data_format!r}")
        elif kind not in PASS_THROUGH:
            raise UnsupportedModelError(f"layer {layer.name!r} ({kind.__name__}) is not supported by "
                             f"remove_dead_neurons; expected Dense/Conv1D/Conv2D and, between them, "
                             f"{', '.join(k.__name__ for k in PASS_THROUGH)}")
    if not any(type(layer) in WEIGHTED for layer in layers):
        raise UnsupportedModelError("remove_dead_neurons needs a model with Dense or Conv layers")


def _linear(layer: keras.layers.Layer, kernel: np.ndarray, x: tf.Tensor) -> np.ndarray:
    """B's pre-activation of input `x` without bias."""
    if isinstance(layer, keras.layers.Dense):
        return tf.tensordot(x, kernel, [[-1], [0]]).numpy()
    return tf.nn.convolution(x, kernel, strides=layer.strides, padding=layer.padding.upper(),
                             dilations=layer.dilation_rate).numpy()


def _input_channels(kernel: np.ndarray, layer: keras.layers.Layer, units: int) -> np.ndarray:
    """For each input row of B's kernel, the channel of A it reads (Flatten interleaves channels)."""
    rows = kernel.shape[0] if isinstance(layer, keras.layers.Dense) else kernel.shape[-2]
    return np.arange(rows) % units


def _prune_pair(a, b, between, weights, spatial_a):
    """Remove the dead units of A (feeding B through `between`); return how many were removed."""
    ka, ba = weights[a.name]
    kb, bb = weights[b.name]
    units = ka.shape[-1]
    channel = _input_channels(kb, b, units)
    in_axis = 0 if isinstance(b, keras.layers.Dense) else kb.ndim - 2
    rows_of = np.moveaxis(kb, in_axis, 0)
    outgoing = np.array([np.any(rows_of[channel == j]) for j in range(units)])
    incoming = np.any(ka.reshape(-1, units), axis=0)

    # The constant outputs of units without inputs, through the layers between A and B.
    constant = a.activation(tf.constant(ba if ba is not None else np.zeros(units, ka.dtype)))
    z = tf.broadcast_to(constant, (1, *spatial_a, units))
    for layer in between:
        z = layer(z, training=False)
    z = z.numpy()
    reaches = np.array([np.any(z[..., channel == j]) for j in range(units)])

    remove = ~outgoing | (~incoming & ~reaches)
    fold = ~incoming & outgoing & reaches
    if fold.any() and bb is not None:
        remove |= fold
    if remove.all():
        remove[0] = False
    fold &= remove
    if fold.any():
        contribution = _linear(b, kb, z * fold[channel]).reshape(-1, kb.shape[-1])
        scale = max(1.0, float(np.abs(contribution).max()))
        if not np.allclose(contribution, contribution[0], rtol=0, atol=1e-6 * scale):
            remove &= ~fold
        else:
            bb = bb + contribution[0]
    if not remove.any():
        return 0
    keep = ~remove
    weights[a.name] = (ka[..., keep], None if ba is None else ba[keep])
    weights[b.name] = (np.moveaxis(rows_of[keep[channel]], 0, in_axis), bb)
    return int(remove.sum())


def remove_dead_neurons(model: keras.Model) -> keras.Model:
    """A new model without the dead units of `model` and with the same outputs (see the module doc).

    The new model is not compiled. Raises ValueError for unsupported layers or
    branching graphs.
    """
    layers = chain(model)
    _check_supported(layers)
    weights = {layer.name: (layer.kernel.numpy(), None if layer.bias is None else layer.bias.numpy())
               for layer in layers if type(layer) in WEIGHTED}
    spatial, x = {}, tf.zeros((1, *model.input_shape[1:]))
    for layer in layers:
        x = layer(x, training=False)
        spatial[layer.name] = tuple(x.shape[1:-1])
    weighted = [i for i, layer in enumerate(layers) if type(layer) in WEIGHTED]
    while sum(_prune_pair(layers[i], layers[j], layers[i + 1:j], weights, spatial[layers[i].name])
              for i, j in zip(weighted, weighted[1:])):
        pass

    def rebuild(layer):
        config = layer.get_config()
        if layer.name in weights:
            config["units" if isinstance(layer, keras.layers.Dense) else "filters"] = \
                weights[layer.name][0].shape[-1]
        return type(layer).from_config(config)

    smaller = keras.models.clone_model(model, clone_function=rebuild)
    for layer in smaller.layers:
        if layer.name in weights:
            layer.set_weights([w for w in weights[layer.name] if w is not None])
    return smaller
