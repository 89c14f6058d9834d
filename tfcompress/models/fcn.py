"""Fully convolutional network for time series classification (Wang et al. 2017)."""
from __future__ import annotations

from collections.abc import Callable

import tf_keras as keras

from tfcompress.models.layers import LayerFactory, model_input

# (filters, kernel size) of the three conv blocks.
BLOCKS = ((128, 8), (256, 5), (128, 3))


def fcn1d(input_shape, num_classes: int, conv_layer: Callable | None = None,
          width: float = 1.0, weight_decay: float = 0.0) -> keras.Model:
    """FCN of Wang, Yan & Oates (2017): three Conv1D-BN-ReLU blocks 128@8, 256@5, 128@3
    ('same', with biases, as in the reference Keras code of Fawaz et al. 2019),
    global average pooling over time, logits (the paper's softmax is left to the loss).

    Input (steps, channels), e.g. (T, 1) for a univariate UCR series. `conv_layer`
    must make 1D convolutions (default `keras.layers.Conv1D`).
    """
    nn = LayerFactory(conv_layer, width, weight_decay, rank=1)
    inputs = model_input("fcn1d", input_shape, rank=2)
    x = inputs
    for i, (filters, kernel_size) in enumerate(BLOCKS, start=1):
        x = nn.conv(x, nn.units(filters), kernel_size, f"block{i}_conv", use_bias=True)
        x = nn.bn_relu(x, f"block{i}")
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    return keras.Model(inputs, nn.logits(x, num_classes), name="fcn1d")
