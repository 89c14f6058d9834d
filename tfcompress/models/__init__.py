"""Reference models, all built by one entry point: `build(name, input_shape, num_classes, ...)`.

Every model is a functional Keras 2 (`tf_keras`) model, channels_last, whose
output is logits (no softmax: use `from_logits=True` losses). Every builder
takes the same arguments, so techniques can swap the convolution (`conv_layer`)
and folding can widen any model (`width`):

    conv_layer    factory called as conv_layer(filters, kernel_size, strides=...,
                  padding=..., use_bias=..., kernel_initializer=...,
                  kernel_regularizer=..., name=...) for EVERY convolution
                  (Conv2D-like for image models, Conv1D-like for `fcn1d`);
                  None = keras.layers.Conv2D / Conv1D. Dense layers stay Dense.
    width         multiplies every hidden channel/unit count (rounded, >= 1).
    weight_decay  PyTorch-SGD-style weight decay wd: conv and dense kernels get
                  keras.regularizers.l2(wd / 2), whose gradient is wd * w.

| name          | model                           | input, classes  | trainable params |
|---------------|---------------------------------|-----------------|------------------|
| lenet_300_100 | LeNet-300-100 MLP               | 28x28x1, 10     | 266,610          |
| lenet5        | Caffe LeNet-5 (Han et al.)      | 28x28x1, 10     | 431,080          |
| mnist_mlp     | DSR seed's MLP, batch_norm=True | 28x28x1, 10     | 267,020          |
| resnet18      | CIFAR ResNet-18 (kuangliu)      | 32x32x3, 10     | 11,173,962       |
| densenet_bc   | DenseNet-BC-100, growth 12      | 32x32x3, 100    | 800,032          |
| wrn           | WRN-28-2 (depth, widen_factor)  | 32x32x3, 10     | 1,467,610        |
| resnet50      | ResNet-50 (torchvision)         | 224x224x3, 1000 | 25,557,032       |
| fcn1d         | time-series FCN (Wang 2017)     | (T, 1), n       | 264,704 + head   |
| noscope       | NoScope specialised CNN         | 50x50x3, 2      | 1,283,154        |
| game_cnn      | FoldedCNNs game-scraping CNN    | 22x52x3, 11     | 33,867           |
| small_resnet  | small CIFAR-style ResNet        | 32x32x3, 10     | 78,042           |

Keras also counts BatchNorm's moving mean/variance in `count_params()`; the
figures above are trainable weights, the convention of the papers (PyTorch).

`with_policy(model, "bfloat16")` is a copy of a trained model that computes
under another dtype policy (for serving on hardware with bfloat16 units).
"""
from __future__ import annotations

import inspect
from collections.abc import Callable

import tf_keras as keras

from tfcompress.models.densenet import densenet_bc
from tfcompress.models.fcn import fcn1d
from tfcompress.models.lenet import lenet5
from tfcompress.models.mlp import lenet_300_100, mnist_mlp
from tfcompress.models.precision import with_policy
from tfcompress.models.resnet import resnet18, resnet50, small_resnet
from tfcompress.models.specialised import game_cnn, noscope
from tfcompress.models.wrn import wrn

_BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "lenet_300_100": lenet_300_100,
    "lenet5": lenet5,
    "mnist_mlp": mnist_mlp,
    "resnet18": resnet18,
    "densenet_bc": densenet_bc,
    "wrn": wrn,
    "resnet50": resnet50,
    "fcn1d": fcn1d,
    "noscope": noscope,
    "game_cnn": game_cnn,
    "small_resnet": small_resnet,
}

_COMMON_ARGS = ("input_shape", "num_classes", "conv_layer", "width", "weight_decay")

__all__ = ["build", "names", "with_policy", *_BUILDERS]


def names() -> list[str]:
    """The model names `build` accepts, sorted."""
    return sorted(_BUILDERS)


def build(name: str, input_shape: tuple, num_classes: int,
          conv_layer: Callable[..., keras.layers.Layer] | None = None, width: float = 1.0,
          weight_decay: float = 0.0, **kwargs) -> keras.Model:
    """Build model `name` for inputs of `input_shape` (no batch axis) with `num_classes` logits.

    `kwargs` are the model's own options (e.g. `depth`, `widen_factor` for `wrn`);
    see the builder of that name in this package. Unknown names, unknown
    options and bad shapes raise ValueError.
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; expected one of {names()}")
    builder = _BUILDERS[name]
    options = sorted(set(inspect.signature(builder).parameters) - set(_COMMON_ARGS))
    unknown = sorted(set(kwargs) - set(options))
    if unknown:
        raise ValueError(f"{name}: unknown option(s) {unknown}; {name} takes {options}")
    return builder(input_shape, num_classes, conv_layer=conv_layer, width=width,
                   weight_decay=weight_decay, **kwargs)
