"""Gradual magnitude pruning during training: tfmot's wrappers with Zhu & Gupta's cubic schedule.

Everything here is tensorflow-model-optimization's own machinery
(`PruneLowMagnitude`, its block pruning of Dense kernels, `PolynomialDecay`,
`UpdatePruningStep`, `PruningSummaries`); this module only chooses which layers to wrap (nested
models included, through `tfcompress.rewrite`), validates the schedule before
any work, prunes depthwise kernels, which tfmot's registry leaves dense, and
leaves stripping to the one `tfcompress.sparse.strip` (also `tfcompress.pruning.strip`).

Which weights are pruned (`prunable_weights`): a layer's own
`get_prunable_weights()` (tfmot's `PrunableLayer` protocol, which
SpectralConv1D/2D, HebbianSparseConv2D and HashedDense/HashedConv2D implement),
else tfmot's registry (Dense, Conv1D/2D/3D, Conv2DTranspose, the pointwise
kernel of SeparableConv1D/2D, Embedding, RNNs ...), and the depthwise kernel of
DepthwiseConv2D. A custom layer with a kernel but no `get_prunable_weights` is
not pruned: a warning names it, or, when `layers` names it, a ValueError says
to give its class that method.

The sparsity at step t of the schedule (Zhu & Gupta 2018) is

    s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (t1 - t0)) ** power,   t0 <= t <= t1,

applied every `frequency` steps from `begin_step` t0 to `end_step` t1.
"""
from __future__ import annotations

import functools
from collections.abc import Iterable

import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras as keras
# tfmot's registry of prunable built-in layers and its wrapper class are not in its public API.
from tensorflow_model_optimization.python.core.sparsity.keras.prune_registry import PruneRegistry
from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import PruneLowMagnitude

from tfcompress.rewrite import all_layers, convert_layers, plain_copy
from tfcompress.sparse.masks import unwrap
from tfcompress.sparse.stats import sparsity_of

_sparsity = tfmot.sparsity.keras

HOW_TO_PRUNE = ("give its class a `get_prunable_weights(self)` method returning the weights to prune, "
                "e.g. `return [self.kernel]` (tfmot.sparsity.keras.PrunableLayer's protocol)")


@keras.saving.register_keras_serializable(package="tfcompress")
class PrunableDepthwiseConv2D(keras.layers.DepthwiseConv2D):
    """DepthwiseConv2D whose depthwise kernel tfmot prunes (its registry lists no weight for it).

    `prune_low_magnitude` wraps this copy of a DepthwiseConv2D; `strip` gives
    back a plain one, its `stripped_class`.
    """

    stripped_class = keras.layers.DepthwiseConv2D

    def get_prunable_weights(self) -> list[tf.Variable]:
        """The depthwise kernel."""
        return [self.depthwise_kernel]


def prunable_weights(layer: keras.layers.Layer) -> list[tf.Variable]:
    """The weights `prune_low_magnitude` prunes in `layer`; [] when it prunes none.

    Resolution order: the layer's `get_prunable_weights()`, the depthwise
    kernel of a DepthwiseConv2D, tfmot's registry of built-in Keras layers.
    """
    if hasattr(layer, "get_prunable_weights"):
        return list(layer.get_prunable_weights())
    if type(layer) is keras.layers.DepthwiseConv2D:  # wrapped as a PrunableDepthwiseConv2D
        return [layer.depthwise_kernel]
    if not PruneRegistry.supports(layer):
        return []
    # pylint: disable=protected-access
    if PruneRegistry._is_rnn_layer(layer):
        return [weight for cell in PruneRegistry._get_rnn_cells(layer) for weight in _cell_weights(cell)]
    # Names may be dotted (MultiHeadAttention's "_query_dense.kernel").
    return [functools.reduce(getattr, name.split("."), layer)
            for name in PruneRegistry._weight_names(layer)]


def _cell_weights(cell: keras.layers.Layer) -> list[tf.Variable]:
    """What tfmot prunes in an RNN cell its registry accepts (listed, or a PrunableLayer)."""
    if hasattr(cell, "get_prunable_weights"):
        return list(cell.get_prunable_weights())
    names = PruneRegistry._RNN_CELLS_WEIGHTS_MAP[type(cell)]  # pylint: disable=protected-access
    return [getattr(cell, name) for name in names]


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
        _check_int(name, value, minimum)
    if begin_step >= end_step:
        raise ValueError(f"begin_step ({begin_step}) must be < end_step ({end_step})")
    return PolynomialDecay(initial_sparsity=float(initial_sparsity),
                                     final_sparsity=float(final_sparsity), begin_step=begin_step,
                                     end_step=end_step, power=power, frequency=frequency)


def check_block_size(block_size: int) -> None:
    """ValueError naming `block_size` unless it is an int >= 1."""
    _check_int("block_size", block_size, 1)


def _check_int(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def prune_low_magnitude(model: keras.Model, final_sparsity: float, begin_step: int, end_step: int,
                        initial_sparsity: float = 0.0, frequency: int = 100, power: int = 3,
                        layers: Iterable[str] | None = None, block_size: int = 1) -> keras.Model:
    """A copy of functional/Sequential `model` whose prunable layers are tfmot pruning wrappers.

    `layers` names the layers to prune (nested models' layers too); None
    prunes every layer with `prunable_weights` (see the module docstring: a
    separable convolution's pointwise kernel, as tfmot's registry does, a
    depthwise convolution's depthwise kernel, custom layers through
    `get_prunable_weights`). A layer with a weight matrix that cannot be
    pruned is named in a warning, or is a ValueError when `layers` names it.
    Weights are copied; the input model is not changed. The result is not
    compiled; train it with `callbacks(run_dir)`, then `strip` it.

    `block_size` > 1 prunes each Dense kernel (inputs x outputs) in blocks of
    `block_size` consecutive inputs of one output unit, ranked by their mean
    |w| (tfmot's `block_size=(block_size, 1)`); 4 is the layout that TFLite's
    sparse FULLY_CONNECTED kernel serves faster than dense (`tfcompress.serving`).
    Every other layer (convolutions included) stays unstructured: tfmot's blocks
    take 2-D weights only. 1 (the default) prunes every layer unstructured.
    """
    pruning_schedule = schedule(final_sparsity, begin_step, end_step, initial_sparsity, frequency,
                                power)
    check_block_size(block_size)

    def make(layer: keras.layers.Layer) -> PruneLowMagnitude:
        if not prunable_weights(layer):
            raise ValueError(f"it is not in tfmot's registry and has no get_prunable_weights(); "
                             f"{HOW_TO_PRUNE}")
        copy = (PrunableDepthwiseConv2D.from_config(layer.get_config())
                if type(layer) is keras.layers.DepthwiseConv2D else plain_copy(layer))
        block = (block_size, 1) if isinstance(layer, keras.layers.Dense) else (1, 1)
        return _sparsity.prune_low_magnitude(copy, pruning_schedule=pruning_schedule,
                                             block_size=block)

    # The default transfer works: a wrapper's set_weights is its layer's.
    return convert_layers(model, "prune_low_magnitude",
                          lambda layer: bool(prunable_weights(layer)) or _unprunable_matrix(layer),
                          make, layers, converted=PruneLowMagnitude)


def _unprunable_matrix(layer: keras.layers.Layer) -> bool:
    """Whether `layer` has a trainable weight matrix but nothing to prune (and is not a wrapper)."""
    return (not isinstance(layer, PruneLowMagnitude) and not prunable_weights(layer)
            and any(weight.shape.rank >= 2 for weight in layer.trainable_weights))


def callbacks(run_dir: str | None = None) -> list[keras.callbacks.Callback]:
    """`UpdatePruningStep` (required by the wrappers) and, with `run_dir`, `PruningSummaries`
    writing sparsity and thresholds to TensorBoard under `run_dir`/pruning.

    Both find the wrappers inside nested models (tfmot's `collect_prunable_layers` recurses).
    """
    found = [_sparsity.UpdatePruningStep()]
    if run_dir:
        found.append(_sparsity.PruningSummaries(log_dir=f"{run_dir}/pruning"))
    return found


def sparsity(model: keras.Model) -> dict[str, float]:
    """Fraction of zeros in the prunable weights of every layer that has some, by layer name.

    Nested models' layers included. Works on wrapped and stripped models: a
    wrapper (tfmot's, or a MaskedLayer) reports its inner layer's weights,
    counted by its masks (`tfcompress.sparse.stats`' counting).
    """
    result = {}
    for layer in all_layers(model):
        inner, masks = unwrap(layer)
        weights = prunable_weights(inner)
        if weights:
            result[inner.name] = sparsity_of(masks.get(w.ref(), w) for w in weights)
    return result
