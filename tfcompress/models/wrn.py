"""Wide residual networks WRN-d-k for CIFAR (Zagoruyko & Komodakis 2016), as in the DSR seed."""
from __future__ import annotations

from collections.abc import Callable

import tf_keras as keras

from tfcompress.models.layers import LayerFactory, check_rate, model_input


def _wide_block(nn: LayerFactory, x, filters: int, strides: int, dropout: float, name: str):
    """Pre-activation block: BN-ReLU-conv3x3-BN-ReLU-(dropout)-conv3x3 plus a shortcut.

    When the shape changes, the shortcut is a 1x1 conv of the pre-activated input;
    otherwise it is the raw input (the seed's `BasicBlock`).
    """
    same_shape = strides == 1 and x.shape[-1] == filters
    activated = nn.bn_relu(x, f"{name}_pre")
    shortcut = x if same_shape else nn.conv(activated, filters, 1, f"{name}_proj_conv",
                                            strides=strides)
    y = nn.conv(activated, filters, 3, f"{name}_1_conv", strides=strides)
    y = nn.bn_relu(y, f"{name}_1")
    if dropout:
        y = keras.layers.Dropout(dropout, name=f"{name}_dropout")(y)
    y = nn.conv(y, filters, 3, f"{name}_2_conv")
    return keras.layers.Add(name=f"{name}_add")([shortcut, y])


def wrn(input_shape, num_classes: int, conv_layer: Callable | None = None,
        width: float = 1.0, weight_decay: float = 0.0, depth: int = 28,
        widen_factor: float = 2, dropout: float = 0.0) -> keras.Model:
    """WRN-`depth`-`widen_factor`: a 3x3 conv with 16 channels, three groups of
    (depth - 4) / 6 wide blocks with 16k/32k/64k channels (stride 1, 2, 2),
    BN-ReLU, global average pooling, logits.

    WRN-28-2 has 1,467,610 trainable parameters on CIFAR-10 and WRN-28-10
    36,479,194 (the published 36.5M). `widen_factor` may be fractional (channels
    are rounded, as in the seed); `width` multiplies on top of it.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
        raise ValueError(f"wrn: depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, ...), "
                         f"got {depth!r}")
    if isinstance(widen_factor, bool) or not isinstance(widen_factor, (int, float)) \
            or not widen_factor > 0:
        raise ValueError(f"wrn: widen_factor must be a number > 0, got {widen_factor!r}")
    check_rate("wrn", "dropout", dropout)
    nn = LayerFactory(conv_layer, width, weight_decay)
    inputs = model_input("wrn", input_shape)
    x = nn.conv(inputs, nn.units(16), 3, "stem_conv")
    for group, base in enumerate((16, 32, 64)):
        filters = nn.units(round(base * widen_factor))
        for i in range((depth - 4) // 6):
            strides = 2 if group > 0 and i == 0 else 1
            x = _wide_block(nn, x, filters, strides, dropout, f"group{group + 1}_block{i + 1}")
    x = nn.bn_relu(x, "final")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, nn.logits(x, num_classes), name="wrn")
