"""`rewrite(model, replace)`: a copy of the user's model with some layers replaced, nested models included.

Every technique's "one call over any model" (`spectral.convert`,
`hebbian.convert`, `sparse.sparsify`, ...) is this walk with its own
`replace`. Written here because `keras.models.clone_model` applies its
`clone_function` to the top-level layers only: a nested functional or
Sequential model is handed to it whole, and its default rebuilds the nested
model from its config. `rewrite` recurses into nested models instead, never
touches the input model, and copies every weight into the copy.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable

import tf_keras as keras

# replace(layer) -> the layer to use in the copy (unbuilt), or None to keep a plain copy of `layer`.
Replace = Callable[[keras.layers.Layer], "keras.layers.Layer | None"]
# transfer(original, replacement): fill the built replacement's weights from the original's.
Transfer = Callable[[keras.layers.Layer, keras.layers.Layer], None]


def is_graph_model(layer: keras.layers.Layer) -> bool:
    """Whether `layer` is a Sequential or functional keras.Model (one `clone_model` can rebuild)."""
    return isinstance(layer, keras.Model) and (
        isinstance(layer, keras.Sequential) or layer._is_graph_network)  # pylint: disable=protected-access


def check_model(model, who: str) -> None:
    """Raise a clear error unless `model` is a built Sequential or functional keras.Model.

    `who` names the calling function in the message.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"{who} takes a keras.Model, got {type(model).__name__}")
    if not is_graph_model(model):
        raise ValueError(f"{who} needs a Sequential or functional keras.Model; {model.name!r} is a "
                         f"subclassed {type(model).__name__}, whose layers cannot be rewired. "
                         "Build it with the functional API, or apply the technique's layers "
                         "in its __init__ yourself")
    if not model.built:
        raise ValueError(f"{who} needs a built model; build {model.name!r} first "
                         "(give it an Input or call model.build(input_shape))")


def all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer of `model` that is not itself a graph model, nested models flattened, in order."""
    found = []
    for layer in model.layers:
        found.extend(all_layers(layer) if is_graph_model(layer) else [layer])
    return found


def plain_copy(layer: keras.layers.Layer) -> keras.layers.Layer:
    """A fresh, unbuilt layer with `layer`'s config (what `clone_model` does by default)."""
    return type(layer).from_config(layer.get_config())


def copy_weights(original: keras.layers.Layer, replacement: keras.layers.Layer) -> None:
    """The default transfer: `replacement.set_weights(original.get_weights())`."""
    replacement.set_weights(original.get_weights())


def rewrite(model: keras.Model, replace: Replace, transfer: Transfer = copy_weights) -> keras.Model:
    """A copy of Sequential/functional `model` in which `replace(layer)` stands for `layer`.

    `replace` is called on every layer that is not a graph model (nested
    Sequential/functional models are rewritten recursively, keeping their
    names); where it returns None the copy gets a plain copy of the layer.
    Once the copy is built, `transfer(original, replacement)` fills each
    replacement's weights and every other layer gets the original's weights.
    The input model is not changed; the copy is not compiled.
    """
    replaced = []

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        if is_graph_model(layer):
            return rewrite(layer, replace, transfer)
        new = replace(layer)
        replaced.append((layer, new or plain_copy(layer), new is not None))
        return replaced[-1][1]

    copy = keras.models.clone_model(model, clone_function=clone)
    for original, new, is_replacement in replaced:
        (transfer if is_replacement else copy_weights)(original, new)
    return copy


def convert_layers(model: keras.Model, who: str, candidate: Callable[[keras.layers.Layer], bool],
                   make: Callable[[keras.layers.Layer], keras.layers.Layer],
                   names: Iterable[str] | None = None, transfer: Transfer = copy_weights,
                   converted: type | tuple[type, ...] = ()) -> keras.Model:
    """The converters' common path: a copy of `model` with `make(layer)` for each candidate layer.

    `candidate(layer)` says whether a layer is of a kind `who` converts;
    `make(layer)` returns its unbuilt replacement or raises ValueError saying
    why this one cannot be converted. With `names=None` every candidate is
    converted and the ones `make` refuses are skipped with a one-line warning;
    named layers must exist and be convertible (ValueError otherwise).
    `converted` is the class(es) `who` produces: a named layer of that class,
    or a model with no candidate left but such layers, is "already converted".
    """
    check_model(model, who)
    layers = all_layers(model)
    if names is None:
        chosen = [layer for layer in layers if candidate(layer)]
    else:
        names = [names] if isinstance(names, str) else list(dict.fromkeys(names))
        by_name = {layer.name: layer for layer in layers}
        unknown = [name for name in names if name not in by_name]
        if unknown:
            known = [layer.name for layer in layers if candidate(layer)]
            raise ValueError(f"{who}: layers {unknown} are not in model {model.name!r}; its layers "
                             f"that can be converted are {_some(known)}")
        chosen = [by_name[name] for name in names]
        for layer in chosen:
            if converted and isinstance(layer, converted):
                raise ValueError(f"{who}: layer {layer.name!r} is already a {type(layer).__name__}")
            if not candidate(layer):
                raise ValueError(f"{who}: layer {layer.name!r} ({type(layer).__name__}) is not a "
                                 f"kind of layer {who} handles")
    replacements = {}
    for layer in chosen:
        try:
            replacements[id(layer)] = make(layer)
        except ValueError as error:
            if names is not None:
                raise ValueError(f"{who}: layer {layer.name!r} ({type(layer).__name__}) cannot be "
                                 f"converted: {error}") from error
            warnings.warn(f"{who}: skipping layer {layer.name!r} ({type(layer).__name__}): {error}",
                          stacklevel=3)
    if not replacements:
        done = [layer.name for layer in layers if converted and isinstance(layer, converted)]
        raise ValueError(f"{who}: model {model.name!r} has no layer to convert" + (
            f"; it is already converted ({_some(done)})" if done else ""))
    return rewrite(model, lambda layer: replacements.get(id(layer)), transfer)


def _some(names: list[str], shown: int = 12) -> str:
    """Up to `shown` names, with the total when there are more."""
    if not names:
        return "none"
    return ", ".join(names[:shown]) + (f", ... ({len(names)} in all)" if len(names) > shown else "")
