"""Folding: f images stacked on the channel axis of one input, f logit blocks in one output.

Layout (the FoldedCNNs seed's, `view(-1, f*C, H, W)` in NCHW): folded input g
holds images g*f .. g*f+f-1, image g*f+i in channels [i*C, (i+1)*C); its
output holds the logits of image g*f+i in [i*K, (i+1)*K). A batch whose size
is not a multiple of f is padded with zero images, whose outputs
`unfold_outputs` drops.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence

import tensorflow as tf
import tf_keras as keras

from tfcompress import models


def check_fold(fold) -> int:
    """`fold` as an int if it is an integer >= 1, else a ValueError naming it."""
    if isinstance(fold, bool) or not isinstance(fold, numbers.Integral) or fold < 1:
        raise ValueError(f"fold must be an int >= 1, got {fold!r}")
    return int(fold)


def fold_inputs(x, fold: int) -> tf.Tensor:
    """Stack each run of `fold` images (N, H, W, C) into one (ceil(N/f), H, W, f*C) input.

    The last group is padded with zero images when N is not a multiple of f.
    Works on NumPy arrays and tensors, eagerly and inside `tf.function`.
    """
    fold = check_fold(fold)
    x = tf.convert_to_tensor(x)
    if x.shape.rank != 4:
        raise ValueError(f"fold_inputs expects images (N, H, W, C), got shape {x.shape}")
    if fold == 1:
        return x
    n = tf.shape(x)[0]
    x = tf.pad(x, [[0, (-n) % fold], [0, 0], [0, 0], [0, 0]])
    height, width, channels = (tf.shape(x)[i] for i in (1, 2, 3))
    x = tf.reshape(x, [-1, fold, height, width, channels])
    x = tf.transpose(x, [0, 2, 3, 1, 4])
    folded = tf.reshape(x, [-1, height, width, fold * channels])
    static = x.shape[1:3].concatenate([None if x.shape[4] is None else fold * x.shape[4]])
    return tf.ensure_shape(folded, [None, *static])


def unfold_outputs(y, fold: int, batch_size=None) -> tf.Tensor:
    """Split folded outputs (M, f*K) into per-image rows (M*f, K), the first `batch_size` kept.

    `batch_size` is the number of images before `fold_inputs` padded them
    (None keeps all M*f rows, padding included).
    """
    fold = check_fold(fold)
    y = tf.convert_to_tensor(y)
    if y.shape.rank != 2 or (y.shape[1] is not None and y.shape[1] % fold):
        raise ValueError(f"unfold_outputs expects (batch, fold * classes) with fold={fold}, "
                         f"got shape {y.shape}")
    rows = tf.reshape(y, [-1, y.shape[1] // fold])
    return rows if batch_size is None else rows[:batch_size]


def folded_call(model: keras.Model, x, fold: int, training: bool = False) -> tf.Tensor:
    """Per-image logits (N, K) of folded `model` on unfolded images `x` (N, H, W, C).

    Floating images are cast to the model's input dtype before folding, so a
    bfloat16 model (`tfcompress.models.with_policy`) folds half the bytes.
    """
    x = tf.convert_to_tensor(x)
    takes = model.inputs[0].dtype if model.inputs else None  # None: a subclassed model
    if takes is not None and takes.is_floating and x.dtype.is_floating:
        x = tf.cast(x, takes)
    return unfold_outputs(model(fold_inputs(x, fold), training=training), fold, tf.shape(x)[0])


def fold_model(build_fn: Callable[..., keras.Model] | str, fold: int, input_shape: Sequence[int],
               num_classes: int, width_multiplier: float | None = None, **options) -> keras.Model:
    """A FoldedCNN: `build_fn` built for `fold` images of `input_shape` (H, W, C) at once.

    Calls `build_fn(input_shape=(H, W, fold*C), num_classes=fold*num_classes,
    width=width_multiplier or sqrt(fold), **options)`; `build_fn` may also be a
    name for `tfcompress.models.build`. The model's output is
    (batch, fold*num_classes) logits; feed it `fold_inputs(x, fold)` and read
    it with `unfold_outputs` (or use `folded_call`).
    """
    fold = check_fold(fold)
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(f"fold_model: input_shape must be (height, width, channels) of one "
                         f"unfolded image, got {input_shape!r}")
    if (isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral)
            or num_classes < 1):
        raise ValueError(f"fold_model: num_classes must be a positive int, got {num_classes!r}")
    if width_multiplier is not None and not (
            isinstance(width_multiplier, (int, float)) and width_multiplier > 0):
        raise ValueError(f"fold_model: width_multiplier must be a number > 0 or None, "
                         f"got {width_multiplier!r}")
    height, width, channels = input_shape
    kwargs = dict(input_shape=(height, width, fold * channels), num_classes=fold * num_classes,
                  width=width_multiplier or math.sqrt(fold), **options)
    if isinstance(build_fn, str):
        return models.build(build_fn, **kwargs)
    if callable(build_fn):
        return build_fn(**kwargs)
    raise TypeError(f"fold_model: build_fn must be a model name or a builder, got {build_fn!r}")
