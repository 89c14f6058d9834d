"""Residual networks (He et al. 2016), post-activation ("v1") blocks.

* `resnet18`: the CIFAR variant of kuangliu/pytorch-cifar (3x3 stem, no
  max-pool), the model of the band-limited convolution paper.
* `small_resnet`: the same family cut down to a few blocks with few channels,
  a specialised CNN for folding (FoldedCNNs' ResNet, shrunk).
* `resnet50`: the ImageNet bottleneck network of torchvision and the DSR seed.

Convolutions have no bias (BatchNorm follows each one), as in the PyTorch seeds.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import tf_keras as keras

from tfcompress.models.layers import LayerFactory, check_int, model_input


def _shortcut(nn: LayerFactory, x, filters: int, strides: int, name: str):
    """Identity, or a 1x1 conv + BN projection when the shape changes."""
    if strides == 1 and x.shape[-1] == filters:
        return x
    return nn.conv_bn(x, filters, 1, f"{name}_proj", strides=strides, relu=False)


def basic_block(nn: LayerFactory, x, filters: int, strides: int, name: str):
    """Two 3x3 conv-BN layers plus a shortcut, ReLU after the sum."""
    shortcut = _shortcut(nn, x, filters, strides, name)
    x = nn.conv_bn(x, filters, 3, f"{name}_1", strides=strides)
    x = nn.conv_bn(x, filters, 3, f"{name}_2", relu=False)
    x = keras.layers.Add(name=f"{name}_add")([shortcut, x])
    return keras.layers.ReLU(name=f"{name}_out")(x)


def bottleneck_block(nn: LayerFactory, x, filters: int, strides: int, name: str):
    """1x1 (filters) -> 3x3 (filters, strided) -> 1x1 (4 x filters), shortcut, ReLU.

    The stride sits on the 3x3 conv as in torchvision and the DSR seed (Keras'
    `ResNet50` puts it on the first 1x1; the parameter count is the same).
    """
    shortcut = _shortcut(nn, x, 4 * filters, strides, name)
    x = nn.conv_bn(x, filters, 1, f"{name}_1")
    x = nn.conv_bn(x, filters, 3, f"{name}_2", strides=strides)
    x = nn.conv_bn(x, 4 * filters, 1, f"{name}_3", relu=False)
    x = keras.layers.Add(name=f"{name}_add")([shortcut, x])
    return keras.layers.ReLU(name=f"{name}_out")(x)


def _stages(nn: LayerFactory, x, block, blocks: Sequence[int], filters: int):
    """Stages of `blocks[i]` blocks with `filters * 2**i` channels, stride 2 from stage 2 on."""
    for stage, count in enumerate(blocks):
        for i in range(count):
            strides = 2 if stage > 0 and i == 0 else 1
            x = block(nn, x, nn.units(filters * 2 ** stage), strides,
                      f"stage{stage + 1}_block{i + 1}")
    return x


def _cifar_resnet(model: str, input_shape, num_classes: int, conv_layer, width: float,
                  weight_decay: float, blocks: Sequence[int], filters: int) -> keras.Model:
    """3x3 conv-BN-ReLU stem, basic-block stages, global average pooling, logits."""
    if not blocks or not all(isinstance(b, int) and b >= 1 for b in blocks):
        raise ValueError(f"{model}: blocks must be a non-empty sequence of ints >= 1, "
                         f"got {blocks!r}")
    check_int(model, "filters", filters)
    nn = LayerFactory(conv_layer, width, weight_decay)
    inputs = model_input(model, input_shape)
    x = nn.conv_bn(inputs, nn.units(filters), 3, "stem")
    x = _stages(nn, x, basic_block, blocks, filters)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, nn.logits(x, num_classes), name=model)


def resnet18(input_shape, num_classes: int, conv_layer: Callable | None = None,
             width: float = 1.0, weight_decay: float = 0.0) -> keras.Model:
    """ResNet-18 for CIFAR (kuangliu/pytorch-cifar): 3x3 stem with 64 channels, no max-pool,
    basic blocks [2, 2, 2, 2] with 64/128/256/512 channels.

    11,173,962 trainable parameters on 32x32x3 with 10 classes. Any spatial size works
    (strided 'same' convolutions, global average pooling).
    """
    return _cifar_resnet("resnet18", input_shape, num_classes, conv_layer, width,
                         weight_decay, blocks=(2, 2, 2, 2), filters=64)


def small_resnet(input_shape, num_classes: int, conv_layer: Callable | None = None,
                 width: float = 1.0, weight_decay: float = 0.0,
                 blocks: Sequence[int] = (1, 1, 1), filters: int = 16) -> keras.Model:
    """A small CIFAR-style ResNet for specialised inference and folding.

    `resnet18`'s design shrunk: a 3x3 stem with `filters` channels, then one stage
    per entry of `blocks` (that many basic blocks, `filters * 2**stage` channels,
    stride 2 from the second stage on), global average pooling, logits.
    The default (1, 1, 1) x 16 has 9 convolutions (2 of them projection shortcuts)
    and 78,042 trainable parameters on 32x32x3 with 10 classes.
    """
    return _cifar_resnet("small_resnet", input_shape, num_classes, conv_layer, width,
                         weight_decay, blocks=tuple(blocks), filters=filters)


def resnet50(input_shape, num_classes: int, conv_layer: Callable | None = None,
             width: float = 1.0, weight_decay: float = 0.0) -> keras.Model:
    """ResNet-50 for ImageNet (224x224x3, 1000 classes): 7x7/2 stem, 3x3/2 max-pool,
    bottleneck stages [3, 4, 6, 3] with 64/128/256/512 (x4 out) channels.

    25,557,032 trainable parameters, as torchvision's (Keras' `ResNet50` has
    26,560 more: biases on its convolutions). The stem's padding is explicit
    (ZeroPadding2D + 'valid') as in PyTorch and Keras' `ResNet50`.
    """
    nn = LayerFactory(conv_layer, width, weight_decay)
    inputs = model_input("resnet50", input_shape)
    x = keras.layers.ZeroPadding2D(3, name="stem_pad")(inputs)
    x = nn.conv_bn(x, nn.units(64), 7, "stem", strides=2, padding="valid")
    x = keras.layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    x = _stages(nn, x, bottleneck_block, (3, 4, 6, 3), 64)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, nn.logits(x, num_classes), name="resnet50")
