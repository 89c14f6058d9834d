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
from tfcompress.models.layers import LayerFactory
from tfcompress.rewrite import check_model, is_graph_model


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


def fold_model(model: keras.Model | Callable[..., keras.Model] | str, fold: int,
               input_shape: Sequence[int] | None = None, num_classes: int | None = None,
               width_multiplier: float | None = None, *, width: float | None = None,
               **options) -> keras.Model:
    """A FoldedCNN: a CNN for `fold` images of one shape (H, W, C) at once, widths x `width`.

    Both forms give a model whose input is (batch, H, W, fold*C) and whose
    output is (batch, fold*K) logits, image i's in [i*K, (i+1)*K): feed it
    `fold_inputs(x, fold)`, read it with `unfold_outputs` (or use
    `folded_call`). `width` (`width_multiplier` is its older name) scales the
    hidden widths; the default sqrt(fold) keeps the FLOPs per image about the
    same (FoldedCNNs).

    `fold_model(build_fn, fold, input_shape, num_classes, **options)` calls
    `build_fn(input_shape=(H, W, fold*C), num_classes=fold*num_classes,
    width=width, **options)`; `build_fn` may also be a name for
    `tfcompress.models.build`.

    `fold_model(model, fold, width=None)` derives the student from an existing
    Sequential or functional `keras.Model` (keras.applications included),
    which must take one image input and output one (batch, K) tensor. The
    copy has the same layers, names and connections, nested Sequential and
    functional models rebuilt recursively, all with fresh weights:
    - its input takes fold*C channels;
    - every layer whose config has `filters` or `units` (Conv*, Dense,
      SeparableConv*, Conv*Transpose ...) gets max(1, round(n * width)), the
      builders' rounding, so residual Add/Concatenate branches still match;
      DepthwiseConv2D, BatchNormalization and the rest keep their config and
      are built on the new shapes;
    - the Dense layer making the output (possibly followed by layers that keep
      its shape) gets fold*K units, and a softmax there (its activation, a
      Softmax layer or Activation) is dropped: the copy emits logits.
    The input model is not changed. ValueError, naming the layer, for a
    Reshape whose input folding changes (its target_shape would name a
    width) and for a layer that cannot take the new shapes (e.g. per-channel
    constants in its config); a Lambda that slices channels is not detected.
    """
    fold = check_fold(fold)
    width = _width(fold, width, width_multiplier)
    if isinstance(model, keras.Model):
        if input_shape is not None or num_classes is not None or options:
            raise TypeError("fold_model(model, fold, width=None) reads the input shape and classes "
                            "from the model: it takes no input_shape, num_classes or builder options "
                            "(pass width by keyword)")
        return _fold_graph_model(model, fold, width)
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(f"fold_model: input_shape must be (height, width, channels) of one "
                         f"unfolded image, got {input_shape!r}")
    if (isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral)
            or num_classes < 1):
        raise ValueError(f"fold_model: num_classes must be a positive int, got {num_classes!r}")
    height, image_width, channels = input_shape
    kwargs = dict(input_shape=(height, image_width, fold * channels), num_classes=fold * num_classes,
                  width=width, **options)
    if isinstance(model, str):
        return models.build(model, **kwargs)
    if callable(model):
        return model(**kwargs)
    raise TypeError(f"fold_model: the first argument must be a keras.Model, a model name or a "
                    f"builder, got {model!r}")


def _width(fold: int, width: float | None, width_multiplier: float | None) -> float:
    """The width multiplier asked for (by either name), or sqrt(fold)."""
    if width is not None and width_multiplier is not None:
        raise ValueError("fold_model: give width or width_multiplier (its older name), not both")
    width = width_multiplier if width is None else width
    if width is None:
        return math.sqrt(fold)
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
        raise ValueError(f"fold_model: width must be a number > 0 or None, got {width!r}")
    return float(width)


_SOFTMAX = ("softmax", "log_softmax")


def _fold_graph_model(model: keras.Model, fold: int, width: float) -> keras.Model:
    """`fold_model`'s second form: the folded copy of graph model `model`."""
    check_model(model, "fold_model")
    if (len(model.inputs) != 1 or model.inputs[0].shape.rank != 4
            or model.inputs[0].shape[-1] is None):
        raise ValueError(f"fold_model: {model.name!r} must take one batch of images "
                         f"(batch, height, width, channels); it takes {model.input_shape}")
    if (len(model.outputs) != 1 or model.outputs[0].shape.rank != 2
            or model.outputs[0].shape[-1] is None):
        raise ValueError(f"fold_model: {model.name!r} must output one (batch, classes) tensor; "
                         f"its output is {model.output_shape}")
    head, after = _classifier(model)
    images = model.inputs[0]
    folded = tf.TensorSpec([*images.shape[:-1], fold * images.shape[-1]], images.dtype)
    return _Folder(fold, width, head, [layer for layer in after if _is_softmax(layer)]).model(
        model, [folded])


def _is_softmax(layer: keras.layers.Layer) -> bool:
    return isinstance(layer, keras.layers.Softmax) or (
        isinstance(layer, keras.layers.Activation) and layer.get_config()["activation"] in _SOFTMAX)


def _classifier(model: keras.Model) -> tuple[keras.layers.Dense, list[keras.layers.Layer]]:
    """The Dense layer making `model`'s output, and the layers after it (which keep its shape)."""
    tensor, after = model.outputs[0], []
    while True:
        layer, node_index, tensor_index = tensor._keras_history  # pylint: disable=protected-access
        if is_graph_model(layer):
            tensor = layer.outputs[tensor_index]
            continue
        if isinstance(layer, keras.layers.Dense):
            return layer, after
        inputs = tf.nest.flatten(layer.get_input_at(node_index)) if layer.inbound_nodes else []
        if len(inputs) != 1 or inputs[0].shape[1:] != tensor.shape[1:]:
            raise ValueError(
                f"fold_model: the (batch, classes) output of {model.name!r} must come from a Dense "
                "layer (its units become fold x classes), possibly followed by layers that keep "
                f"its shape; it comes from {layer.name!r} ({type(layer).__name__})")
        after.append(layer)
        tensor = inputs[0]


class _Folder:
    """Copies graph models layer by layer with folded widths (see `fold_model`).

    A walk of our own over the functional graph (`_nodes_by_depth`, the
    nodes' inputs and call arguments, as `keras.models.clone_model` itself
    does) because Keras has no public one that rebuilds nested models for new
    input shapes: `clone_model` rebuilds a nested model at its old shapes, and
    folding changes every width inside it.
    """

    def __init__(self, fold: int, width: float, head: keras.layers.Layer,
                 dropped: list[keras.layers.Layer]):
        self.fold, self.head = fold, head
        self.units = LayerFactory(width=width).units  # the builders' rounding
        self.dropped = {id(layer) for layer in dropped}
        self.copies: dict[int, keras.layers.Layer] = {}  # by id of the original: shared stay shared

    def model(self, model: keras.Model, inputs: list) -> keras.Model:
        """The folded copy of graph model `model` for inputs shaped like `inputs`."""
        new_inputs = [keras.Input(batch_shape=x.shape, dtype=x.dtype, name=name)
                      for x, name in zip(inputs, model.input_names)]
        if isinstance(model, keras.Sequential):
            copy = keras.Sequential(new_inputs, name=model.name)
            self._walk(model, new_inputs, lambda layer, args, kwargs: copy.add(layer) or copy.outputs[0])
            return copy
        outputs = self._walk(model, new_inputs, lambda layer, args, kwargs: layer(*args, **kwargs))
        return keras.Model(new_inputs, outputs, name=model.name)

    def _walk(self, model: keras.Model, inputs: list, call: Callable):
        """Apply the copies of `model`'s layers to `inputs` in graph order; its new outputs."""
        new = {id(ref): x for ref, x in zip(model.inputs, inputs)}
        nodes = model._nodes_by_depth  # pylint: disable=protected-access
        for depth in sorted(nodes, reverse=True):
            for node in nodes[depth]:
                if node.is_input:
                    continue
                fed = [new[id(ref)] for ref in node.keras_inputs]
                layer = self._layer(node.layer, node.keras_inputs, fed)
                if layer is None:
                    outputs = fed[0]
                else:
                    args, kwargs = tf.nest.map_structure(lambda v: new.get(id(v), v),
                                                         (node.call_args, node.call_kwargs))
                    try:
                        outputs = call(layer, args, kwargs)
                    except (ValueError, tf.errors.InvalidArgumentError) as error:
                        raise ValueError(
                            f"fold_model: layer {layer.name!r} ({type(layer).__name__}) cannot "
                            f"take its folded inputs {[tuple(x.shape) for x in fed]}: {error}") from error
                for ref, out in zip(tf.nest.flatten(node.outputs), tf.nest.flatten(outputs)):
                    new[id(ref)] = out
        return tf.nest.map_structure(lambda ref: new[id(ref)], model.output)

    def _layer(self, layer: keras.layers.Layer, refs: list, fed: list) -> keras.layers.Layer | None:
        """The copy of `layer` (None: a dropped softmax), made once."""
        if id(layer) in self.dropped:
            return None
        if id(layer) not in self.copies:
            self.copies[id(layer)] = (self.model(layer, fed) if is_graph_model(layer)
                                      else self._copy(layer, refs, fed))
        return self.copies[id(layer)]

    def _copy(self, layer: keras.layers.Layer, refs: list, fed: list) -> keras.layers.Layer:
        """A fresh `layer` from its config with folded widths."""
        before, after = [tuple(x.shape) for x in refs], [tuple(x.shape) for x in fed]
        if isinstance(layer, keras.layers.Reshape) and before != after \
                and tuple(layer.target_shape) != (-1,):
            raise ValueError(
                f"fold_model: Reshape {layer.name!r} has a fixed target_shape {layer.target_shape}, "
                f"but folding changes its input from {before[0]} to {after[0]}; use Flatten or a "
                "shape that does not depend on the channel count")
        try:
            config = layer.get_config()
        except NotImplementedError as error:
            raise ValueError(f"fold_model: layer {layer.name!r} ({type(layer).__name__}) has no "
                             "get_config, so it cannot be rebuilt with folded widths") from error
        config.pop("batch_input_shape", None)
        for key in ("filters", "units"):
            if isinstance(config.get(key), int):
                config[key] = self.units(config[key])
        if layer is self.head:
            config["units"] = self.fold * layer.units
            if config.get("activation") in _SOFTMAX:
                config["activation"] = "linear"
        return type(layer).from_config(config)
