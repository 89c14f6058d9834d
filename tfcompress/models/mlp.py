"""Multi-layer perceptrons for MNIST: LeNet-300-100 and the DSR paper's MNIST MLP.

Both are 784-300-100-10 with ReLU; they differ in normalisation. The input is
flattened, so any input shape works (28x28x1 MNIST, 8x8x1 digits).
"""
from __future__ import annotations

from collections.abc import Callable

import tf_keras as keras

from tfcompress.models.layers import LayerFactory, check_rate, model_input

HIDDEN_UNITS = (300, 100)


def _mlp(model: str, input_shape, num_classes: int, width: float, weight_decay: float,
         batch_norm: bool, dropout: float) -> keras.Model:
    check_rate(model, "dropout", dropout)
    nn = LayerFactory(None, width, weight_decay)
    inputs = model_input(model, input_shape, rank=None)
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i, units in enumerate(HIDDEN_UNITS, start=1):
        # With batch norm, a bias before it is redundant (the seed drops it too).
        x = nn.dense(x, nn.units(units), f"fc{i}", use_bias=not batch_norm)
        if batch_norm:
            x = nn.batch_norm(x, f"fc{i}_bn")
        x = keras.layers.ReLU(name=f"fc{i}_relu")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    x = nn.logits(x, num_classes, use_bias=not batch_norm)
    if batch_norm:
        x = nn.batch_norm(x, "logits_bn", dtype="float32")
    return keras.Model(inputs, x, name=model)


def lenet_300_100(input_shape, num_classes: int,
                  conv_layer: Callable | None = None, width: float = 1.0,
                  weight_decay: float = 0.0, dropout: float = 0.0) -> keras.Model:
    """LeNet-300-100 (LeCun et al. 1998; Han et al. 2015): Flatten-300-100-classes, ReLU.

    266,610 parameters on 28x28x1 with 10 classes. `dropout` > 0 adds Dropout
    after each hidden layer (for pruning's dropout adjustment). It has no
    convolution, so `conv_layer` is unused (accepted for a uniform signature).
    """
    del conv_layer
    return _mlp("lenet_300_100", input_shape, num_classes, width, weight_decay,
                batch_norm=False, dropout=dropout)


def mnist_mlp(input_shape, num_classes: int, conv_layer: Callable | None = None,
              width: float = 1.0, weight_decay: float = 0.0, batch_norm: bool = True,
              dropout: float = 0.0) -> keras.Model:
    """The MNIST MLP of Mostafa & Wang (ICML 2019, DSR seed's `mnist_mlp`).

    784-300-100-10 like LeNet-300-100; with `batch_norm=True` (the seed's default)
    every Dense layer, the output one included, is bias-free and followed by
    BatchNormalization (trainable: 266,200 weights + 2 x 410 BN = 267,020).
    `batch_norm=False` is the seed's `--no-batch-norm`, identical to LeNet-300-100.
    `conv_layer` is unused (no convolution).
    """
    del conv_layer
    return _mlp("mnist_mlp", input_shape, num_classes, width, weight_decay,
                batch_norm=batch_norm, dropout=dropout)
