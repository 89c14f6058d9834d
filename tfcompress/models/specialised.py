"""Specialised CNNs: tiny task-specific classifiers, the targets of FoldedCNNs.

Both follow the FoldedCNNs seed (msr-fiddle/folded-cnns, `models/noscope.py` and
`models/game.py`): 3x3 'same' convolutions with biases, ReLU, max-pooling, and a
linear head. Folding widens them with `width` (every conv and hidden dense layer).
"""
from __future__ import annotations

from collections.abc import Callable

import tf_keras as keras

from tfcompress.models.layers import LayerFactory, check_int, check_rate, model_input


def noscope(input_shape, num_classes: int, conv_layer: Callable | None = None,
            width: float = 1.0, weight_decay: float = 0.0, convs: int = 2,
            filters: int = 16, dense: int = 128, dropout: float = 0.0) -> keras.Model:
    """NoScope's specialised CNN (Kang et al., VLDB 2017) for video frames, e.g. 50x50x3.

    `convs` 3x3 conv+ReLU layers in pairs; pair p has `filters * 2**p` channels and
    ends with a 2x2 max-pool (and Dropout(`dropout`) if > 0); then flatten, a
    `dense`-unit ReLU layer, and the logits. NoScope's Table 2: coral/night
    convs=2, filters=16, dense=128; taipei convs=2, filters=64, dense=32;
    roundabout convs=4, filters=32, dense=32 (2 classes each).
    Inputs need height and width >= 2**(convs / 2).
    """
    check_int("noscope", "convs", convs, minimum=2)
    if convs % 2:
        raise ValueError(f"noscope: convs must be even (pairs of convs), got {convs!r}")
    check_int("noscope", "filters", filters)
    check_int("noscope", "dense", dense)
    check_rate("noscope", "dropout", dropout)
    nn = LayerFactory(conv_layer, width, weight_decay)
    inputs = model_input("noscope", input_shape, min_size=2 ** (convs // 2))
    x = inputs
    for pair in range(convs // 2):
        for i in (1, 2):
            name = f"conv{2 * pair + i}"
            x = nn.conv(x, nn.units(filters * 2 ** pair), 3, name, use_bias=True)
            x = keras.layers.ReLU(name=f"{name}_relu")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{pair + 1}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"pool{pair + 1}_dropout")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = nn.dense(x, nn.units(dense), "fc1", activation="relu")
    if dropout:
        x = keras.layers.Dropout(dropout, name="fc1_dropout")(x)
    return keras.Model(inputs, nn.logits(x, num_classes), name="noscope")


def game_cnn(input_shape, num_classes: int, conv_layer: Callable | None = None,
             width: float = 1.0, weight_decay: float = 0.0, units: int = 1,
             filters: int = 32, last_filters: int = 8) -> keras.Model:
    """The FoldedCNNs game-scraping CNN (template `1_3s_1_convnet`), e.g. 22x52x3, 11 classes.

    conv(`filters`) + 3x3/2 max-pool; `units` x [3 conv(`filters`) + 3x3/1 max-pool];
    conv(`last_filters`) + 3x3/2 max-pool; flatten; logits. Every conv is 3x3 + ReLU.
    The seed's tasks use units=1 (LoL gold, Apex squad count) or 2 (SoT timer).
    Inputs need height and width >= 7 + 4 * units.
    """
    check_int("game_cnn", "units", units, minimum=0)
    check_int("game_cnn", "filters", filters)
    check_int("game_cnn", "last_filters", last_filters)
    nn = LayerFactory(conv_layer, width, weight_decay)
    inputs = model_input("game_cnn", input_shape, min_size=7 + 4 * units)

    def conv_relu(x, n: int, name: str):
        x = nn.conv(x, nn.units(n), 3, name, use_bias=True)
        return keras.layers.ReLU(name=f"{name}_relu")(x)

    x = conv_relu(inputs, filters, "conv1")
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for unit in range(1, units + 1):
        for i in range(1, 4):
            x = conv_relu(x, filters, f"unit{unit}_conv{i}")
        x = keras.layers.MaxPooling2D(3, strides=1, name=f"unit{unit}_pool")(x)
    x = conv_relu(x, last_filters, "conv_last")
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool_last")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    return keras.Model(inputs, nn.logits(x, num_classes), name="game_cnn")
