"""LeNet-5 as in Caffe's MNIST example, the model Han et al. (2015) prune."""
from __future__ import annotations

from collections.abc import Callable

import tf_keras as keras

from tfcompress.models.layers import LayerFactory, check_rate, model_input

# conv 5x5 'valid' -> pool 2 -> conv 5x5 'valid' -> pool 2 must leave >= 1 position.
MIN_SIZE = 16


def lenet5(input_shape, num_classes: int, conv_layer: Callable | None = None,
           width: float = 1.0, weight_decay: float = 0.0, dropout: float = 0.0) -> keras.Model:
    """Caffe LeNet-5: conv 20@5x5, max-pool 2, conv 50@5x5, max-pool 2, fc 500 + ReLU, fc.

    As in Caffe's `lenet_train_test.prototxt`, the convolutions are 'valid', have
    biases and no activation (the only ReLU follows fc 500). 431,080 parameters
    on 28x28x1 with 10 classes. Inputs need height and width >= 16. `dropout` > 0
    adds Dropout after fc 500 (for pruning's dropout adjustment).
    """
    check_rate("lenet5", "dropout", dropout)
    nn = LayerFactory(conv_layer, width, weight_decay)
    inputs = model_input("lenet5", input_shape, min_size=MIN_SIZE)
    x = inputs
    for i, filters in enumerate((20, 50), start=1):
        x = nn.conv(x, nn.units(filters), 5, f"conv{i}", padding="valid", use_bias=True)
        x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = nn.dense(x, nn.units(500), "fc1", activation="relu")
    if dropout:
        x = keras.layers.Dropout(dropout, name="fc1_dropout")(x)
    return keras.Model(inputs, nn.logits(x, num_classes), name="lenet5")
