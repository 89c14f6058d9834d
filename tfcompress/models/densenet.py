"""DenseNet-BC for CIFAR (Huang et al. 2017), the band-limited paper's CIFAR-100 model."""
from __future__ import annotations

from collections.abc import Callable

import tf_keras as keras

from tfcompress.models.layers import LayerFactory, check_int, model_input

# Two transitions, each a 2x2 'valid' average pooling, must leave >= 1 position.
MIN_SIZE = 4


def _dense_layer(nn: LayerFactory, x, growth_rate: int, name: str):
    """Bottleneck layer BN-ReLU-conv1x1(4k)-BN-ReLU-conv3x3(k), concatenated to its input."""
    y = nn.bn_relu(x, f"{name}_1")
    y = nn.conv(y, 4 * growth_rate, 1, f"{name}_1_conv")
    y = nn.bn_relu(y, f"{name}_2")
    y = nn.conv(y, growth_rate, 3, f"{name}_2_conv")
    return keras.layers.Concatenate(name=f"{name}_concat")([x, y])


def _transition(nn: LayerFactory, x, compression: float, name: str):
    """BN-ReLU-conv1x1 to floor(compression x channels), then 2x2 average pooling."""
    x = nn.bn_relu(x, name)
    x = nn.conv(x, max(1, int(x.shape[-1] * compression)), 1, f"{name}_conv")
    return keras.layers.AveragePooling2D(2, name=f"{name}_pool")(x)


def densenet_bc(input_shape, num_classes: int, conv_layer: Callable | None = None,
                width: float = 1.0, weight_decay: float = 0.0, depth: int = 100,
                growth_rate: int = 12, compression: float = 0.5) -> keras.Model:
    """DenseNet-BC-`depth` with growth rate k: a 3x3 conv with 2k channels, three dense
    blocks of (depth - 4) / 6 bottleneck layers separated by compressing transitions,
    BN-ReLU, global average pooling, logits.

    Depth 100, k = 12 has 800,032 trainable parameters on CIFAR-100 (published 0.8M).
    `width` scales the growth rate. Inputs need height and width >= 4.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
        raise ValueError(f"densenet_bc: depth must be 6n + 4 with n >= 1 (40, 100, 190, ...), "
                         f"got {depth!r}")
    check_int("densenet_bc", "growth_rate", growth_rate)
    if isinstance(compression, bool) or not isinstance(compression, (int, float)) \
            or not 0 < compression <= 1:
        raise ValueError(f"densenet_bc: compression must be in (0, 1], got {compression!r}")
    nn = LayerFactory(conv_layer, width, weight_decay)
    inputs = model_input("densenet_bc", input_shape, min_size=MIN_SIZE)
    k = nn.units(growth_rate)
    x = nn.conv(inputs, 2 * k, 3, "stem_conv")
    for block in range(1, 4):
        for i in range((depth - 4) // 6):
            x = _dense_layer(nn, x, k, f"block{block}_layer{i + 1}")
        if block < 3:
            x = _transition(nn, x, compression, f"transition{block}")
    x = nn.bn_relu(x, "final")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, nn.logits(x, num_classes), name="densenet_bc")
