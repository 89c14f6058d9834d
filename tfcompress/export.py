"""SavedModel export with a serving signature, with the custom op or portable without it."""
from __future__ import annotations

import contextlib
import os

import tensorflow as tf
import tf_keras as keras


@contextlib.contextmanager
def pure_tf_path(model: keras.Model):
    """Switch every layer that has an `implementation` attribute to "tf" for the duration."""
    layers = [layer for layer in _all_layers(model) if hasattr(layer, "implementation")]
    saved = [layer.implementation for layer in layers]
    try:
        for layer in layers:
            layer.implementation = "tf"
        yield layers
    finally:
        for layer, value in zip(layers, saved):
            layer.implementation = value


def save(model: keras.Model, path: str, portable: bool = False) -> str:
    """Write `model` as a SavedModel at `path` with a `serving_default` signature.

    The SavedModel holds the variables and one inference function, not the Keras
    layers' own traced functions, so `tf.saved_model.load(path)` needs no Keras
    objects. With `portable=True` every custom-op layer is re-traced on its
    pure-TF path, so stock TensorFlow loads it in a process that never imports
    tfcompress; otherwise the graph may use the compiled op and the loading
    process must load its library (importing tfcompress does).
    """
    if not model.inputs or len(model.inputs) != 1:
        raise ValueError(f"export needs a built model with one input; {model.name!r} has "
                         f"{len(model.inputs or [])} inputs")
    spec = tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32, name="inputs")
    module = tf.Module()
    module.variables_ = model.variables

    with pure_tf_path(model) if portable else contextlib.nullcontext():
        @tf.function(input_signature=[spec])
        def serve(inputs):
            return {"outputs": model(inputs, training=False)}

        module.serve = serve
        concrete = serve.get_concrete_function()
        os.makedirs(path, exist_ok=True)
        tf.saved_model.save(module, path, signatures={"serving_default": concrete})
    return path


def _all_layers(model: keras.layers.Layer):
    """Every layer nested in `model`, wrappers' inner layers included."""
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)]
