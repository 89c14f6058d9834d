"""Gradual magnitude pruning during training: tfmot's wrappers with Zhu & Gupta's cubic schedule.

Everything here is tensorflow-model-optimization's own machinery
(`PruneLowMagnitude`, `PolynomialDecay`, `UpdatePruningStep`,
`PruningSummaries`, `strip_pruning`); this module only chooses which layers to
wrap, validates the schedule before any work and makes custom layers prunable.

The sparsity at step t of the schedule (Zhu & Gupta 2018) is

    s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (t1 - t0)) ** power,   t0 <= t <= t1,

applied every `frequency` steps from `begin_step` t0 to `end_step` t1.
"""
from __future__ import annotations

from collections.abc import Iterable

import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras as keras
# tfmot's registry of prunable built-in layers and its wrapper class are not in its public API.
from tensorflow_model_optimization.python.core.sparsity.keras.prune_registry import PruneRegistry
from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import PruneLowMagnitude

_sparsity = tfmot.sparsity.keras


def prunable_weights(layer: keras.layers.Layer) -> list[tf.Variable]:
    """The weights tfmot would prune in `layer`; [] when the layer cannot be pruned.

    Resolution order: a `PrunableLayer` (or any layer with `get_prunable_weights`),
    then tfmot's registry of built-in Keras layers, then any other layer that
    exposes a `kernel` variable (tfcompress's SpectralConv1D/2D, Hebbian and
    other custom convolutions): its kernel is pruned.
    """
    if hasattr(layer, "get_prunable_weights"):
        return list(layer.get_prunable_weights())
    if PruneRegistry.supports(layer):
        return [getattr(layer, name) for name in PruneRegistry._weight_names(layer)]
    kernel = getattr(layer, "kernel", None)
    return [kernel] if isinstance(kernel, tf.Variable) else []


def make_prunable(layer: keras.layers.Layer) -> keras.layers.Layer:
    """Give a custom layer with a `kernel` the `get_prunable_weights` of tfmot's `PrunableLayer`.

    tfmot's wrapper accepts any layer with a `get_prunable_weights` method; its
    own registry makes built-in layers prunable the same way (an instance
    method), so the layer's class, config and serialisation are untouched and
    `strip` gives back the original layer class.
    """
    if hasattr(layer, "get_prunable_weights") or PruneRegistry.supports(layer):
        return layer
    if not isinstance(getattr(layer, "kernel", None), tf.Variable):
        raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) cannot be pruned: it is "
                         "not supported by tfmot's registry, is not a PrunableLayer and has no "
                         "`kernel` variable")
    layer.get_prunable_weights = lambda: [layer.kernel]
    return layer


@keras.saving.register_keras_serializable(package="tfcompress")
class PolynomialDecay(_sparsity.PolynomialDecay):
    """tfmot's cubic `PolynomialDecay` that also prunes at `end_step`, so the final sparsity is reached there.

    tfmot prunes only every `frequency` steps from `begin_step`; when
    `end_step - begin_step` is not a multiple of `frequency`, its last update
    falls before `end_step` and the final sparsity is never applied.
    """

    def __call__(self, step):
        should_prune, sparsity = super().__call__(step)
        return tf.math.logical_or(should_prune, tf.math.equal(step, self.end_step)), sparsity

    def get_config(self) -> dict:
        """tfmot's config under this class's registered name, so saved wrappers load it back."""
        return {**super().get_config(), "class_name": keras.saving.get_registered_name(type(self))}


def schedule(final_sparsity: float, begin_step: int, end_step: int, initial_sparsity: float = 0.0,
             frequency: int = 100, power: int = 3) -> PolynomialDecay:
    """The cubic schedule after checking every argument (ValueError naming the bad one)."""
    for name, value in (("final_sparsity", final_sparsity), ("initial_sparsity", initial_sparsity)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    if initial_sparsity > final_sparsity:
        raise ValueError(f"initial_sparsity {initial_sparsity} must be <= final_sparsity {final_sparsity}")
    for name, value, minimum in (("begin_step", begin_step, 0), ("end_step", end_step, 1),
                                 ("frequency", frequency, 1), ("power", power, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    if begin_step >= end_step:
        raise ValueError(f"begin_step ({begin_step}) must be < end_step ({end_step})")
    return PolynomialDecay(initial_sparsity=float(initial_sparsity),
                                     final_sparsity=float(final_sparsity), begin_step=begin_step,
                                     end_step=end_step, power=power, frequency=frequency)


def prune_low_magnitude(model: keras.Model, final_sparsity: float, begin_step: int, end_step: int,
                        initial_sparsity: float = 0.0, frequency: int = 100, power: int = 3,
                        layers: Iterable[str] | None = None) -> keras.Model:
    """A copy of `model` (sharing its weights) whose prunable layers are tfmot pruning wrappers.

    `layers` names the layers to prune; None prunes every layer with prunable
    weights (Dense, Conv, and custom layers with a `kernel`). The result is not
    compiled; train it with `callbacks(run_dir)`, then `strip` it.
    """
    if not isinstance(model, keras.Model) or not (isinstance(model, keras.Sequential)
                                                 or model._is_graph_network):
        raise ValueError(f"prune_low_magnitude needs a Sequential or functional keras.Model, "
                         f"got {type(model).__name__}")
    pruning_schedule = schedule(final_sparsity, begin_step, end_step, initial_sparsity, frequency,
                                power)
    by_name = {layer.name: layer for layer in model.layers}
    if layers is None:
        chosen = {name for name, layer in by_name.items() if prunable_weights(layer)}
    else:
        chosen = set(layers)
        unknown = sorted(chosen - set(by_name))
        if unknown:
            raise ValueError(f"layers {unknown} are not in model {model.name!r}; "
                             f"its layers are {sorted(by_name)}")
        empty = sorted(name for name in chosen if not prunable_weights(by_name[name]))
        if empty:
            raise ValueError(f"layers {empty} have no weights to prune (expected Dense/Conv layers "
                             "or layers with a `kernel`)")
    if not chosen:
        raise ValueError(f"model {model.name!r} has no prunable layer")

    def wrap(layer):
        if layer.name not in chosen:
            return layer
        return _sparsity.prune_low_magnitude(make_prunable(layer), pruning_schedule=pruning_schedule)

    return keras.models.clone_model(model, clone_function=wrap)


def callbacks(run_dir: str | None = None) -> list[keras.callbacks.Callback]:
    """`UpdatePruningStep` (required by the wrappers) and, with `run_dir`, `PruningSummaries`
    writing sparsity and thresholds to TensorBoard under `run_dir`/pruning."""
    found = [_sparsity.UpdatePruningStep()]
    if run_dir:
        found.append(_sparsity.PruningSummaries(log_dir=f"{run_dir}/pruning"))
    return found


def strip(model: keras.Model) -> keras.Model:
    """A plain Keras model with the pruned (zero-filled) weights and no pruning wrappers."""
    return _sparsity.strip_pruning(model)


def sparsity(model: keras.Model) -> dict[str, float]:
    """Fraction of zeros in the kernel of every layer with prunable weights, by layer name.

    Works on wrapped and stripped models (a wrapper reports its inner layer's kernel).
    """
    result = {}
    for layer in model.layers:
        inner = layer.layer if isinstance(layer, PruneLowMagnitude) else layer
        weights = prunable_weights(inner)
        if weights:
            values = tf.concat([tf.reshape(w, [-1]) for w in weights], 0)
            result[inner.name] = float(tf.reduce_mean(tf.cast(values == 0, tf.float32)))
    return result
