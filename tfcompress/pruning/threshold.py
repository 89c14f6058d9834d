"""Iterative std-threshold pruning with fine-tuning (Han et al. 2015), by layer groups.

For each group of layers in turn (e.g. the convolutions, then the fully
connected layers), with q = start_q, start_q + step_q, ...:

1. in every layer of the group, prune the weights with |w| < q * std(w), where
   std is taken over the layer's whole current kernel (pruned zeros included,
   as Han et al.'s Caffe code does over the weight blob);
2. lower the dropout rates as D * sqrt(C_kept / C_orig) (`dropout.py`);
3. fine-tune for `finetune_epochs` with every layer outside the group frozen;
   the pruned layers are `tfcompress.sparse.MaskedLayer`s (forward with
   `kernel * mask`), so pruned weights get no gradient and stay zero;
4. if the accuracy is more than `max_drop` below the dense model's, undo the
   step and go on with the next group; else keep it and raise q.

With `final_epochs`, every layer is then retrained together with the masks
kept and the learning rate decaying to zero (cosine), as Han et al. retrain
the whole pruned network.

Training uses the loss, optimizer and metrics the model was compiled with (or
the pruner's `loss=`, `optimizer=`, `metrics=` when given): every compile gets
a fresh optimizer of the same class and config, so its slots and step count
start from zero. The input model is never changed: the pruner works on a copy
(`tfcompress.rewrite`) whose pruned layers are wrapped, and returns it
stripped (`tfcompress.sparse.strip`): a plain Keras model with the zeros in place.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfcompress.pruning import dropout as dropout_adjustment
from tfcompress.rewrite import check_model, plain_copy, rewrite
from tfcompress.sparse.masks import MaskedLayer
from tfcompress.sparse.stats import stats
from tfcompress.sparse.strip import strip
from tfcompress.training import optim


def parse_groups(text: str) -> dict[str, list[str]]:
    """Parse "conv:conv1,conv2;fc:fc1,fc2" into {"conv": ["conv1", "conv2"], "fc": ["fc1", "fc2"]}."""
    groups = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, layers = part.partition(":")
        names = [n.strip() for n in layers.split(",") if n.strip()]
        if not sep or not name.strip() or not names:
            raise ValueError(f"layer group {part!r} is not name:layer,layer,... (in {text!r})")
        groups[name.strip()] = names
    if not groups:
        raise ValueError(f"no layer groups in {text!r}; expected e.g. 'conv:conv1,conv2;fc:fc1,fc2'")
    return groups


def threshold_mask(kernel: np.ndarray, q: float, mask: np.ndarray | None = None) -> np.ndarray:
    """Keep-mask of `kernel`: |w| >= q * std(w), and-ed with a previous `mask`."""
    kernel = np.asarray(kernel)
    keep = np.abs(kernel) >= q * np.std(kernel)
    return keep if mask is None else keep & mask


@dataclasses.dataclass
class ThresholdPruner:
    """Han et al.'s iterative pruning; `run(model, train_ds, val_ds)` returns (model, history).

    groups: {group name: [layer names]} in pruning order, or "g:l1,l2;g2:l3".
    start_q, step_q: the first quality parameter q and its increment.
    max_drop: the largest accepted accuracy drop (fraction, 0.01 = 1 point)
        below the dense model's validation accuracy.
    finetune_epochs: epochs of fine-tuning after every pruning step.
    learning_rate, momentum: override these settings of the optimizer's config
        (None: the optimizer's own; a momentum needs an optimizer that has one).
    max_steps: the most q values tried per group.
    final_epochs: epochs of retraining the whole pruned model at the end, the
        learning rate decaying (cosine) to zero from the optimizer's initial one (0: none).
    loss, optimizer, metrics: what to compile with, as `keras.Model.compile` takes
        them; None: what the model was compiled with. The optimizer (an instance,
        name or config) is a template: each compile gets a fresh copy. Without
        metrics from either, "accuracy".
    metric: the name of the metric (in `model.evaluate`'s results) that is the
        accuracy; None: the first compiled metric whose name has "acc" in it.
    """

    groups: Mapping[str, Sequence[str]] | str
    start_q: float = 0.5
    step_q: float = 0.25
    max_drop: float = 0.01
    finetune_epochs: int = 2
    learning_rate: float | None = None
    momentum: float | None = None
    max_steps: int = 20
    final_epochs: int = 0
    loss: Any = None
    optimizer: Any = None
    metrics: Any = None
    metric: str | None = None

    def __post_init__(self):
        if isinstance(self.groups, str):
            self.groups = parse_groups(self.groups)
        if not isinstance(self.groups, Mapping) or not self.groups:
            raise ValueError(f"groups must be a non-empty mapping of group name to layer names, "
                             f"got {self.groups!r}")
        self.groups = {str(k): list(v) for k, v in self.groups.items()}
        for name, value, low in (("start_q", self.start_q, 0.0), ("step_q", self.step_q, 0.0),
                                 ("learning_rate", self.learning_rate, 0.0)):
            if name == "learning_rate" and value is None:
                continue
            if not isinstance(value, (int, float)) or not value > low:
                raise ValueError(f"{name} must be a number > {low}, got {value!r}")
        if self.momentum is not None and (not isinstance(self.momentum, (int, float))
                                          or not 0 <= self.momentum < 1):
            raise ValueError(f"momentum must be None or a number in [0, 1), got {self.momentum!r}")
        if self.metric is not None and not isinstance(self.metric, str):
            raise ValueError(f"metric must be None or a metric name, got {self.metric!r}")
        if not isinstance(self.max_drop, (int, float)) or not 0 <= self.max_drop < 1:
            raise ValueError(f"max_drop must be a fraction in [0, 1), got {self.max_drop!r}")
        for name, value, low in (("finetune_epochs", self.finetune_epochs, 0),
                                 ("max_steps", self.max_steps, 1), ("final_epochs", self.final_epochs, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")

    def check(self, model: keras.Model) -> None:
        """Raise ValueError unless every group names layers of `model` that have a kernel."""
        by_name = {layer.name: layer for layer in model.layers}
        for group, names in self.groups.items():
            unknown = [n for n in names if n not in by_name]
            if unknown:
                raise ValueError(f"group {group!r} names layers {unknown} that model {model.name!r} "
                                 f"does not have; its layers are {sorted(by_name)}")
            without = [n for n in names if not isinstance(getattr(by_name[n], "kernel", None),
                                                          tf.Variable)]
            if without:
                raise ValueError(f"group {group!r}: layers {without} have no kernel to prune")

    def run(self, model: keras.Model, train_ds: tf.data.Dataset,
            val_ds: tf.data.Dataset) -> tuple[keras.Model, list[dict]]:
        """Prune a copy of `model` group by group; return it and one history row per step.

        The copy comes back as a plain Keras model (no wrappers, pruned weights zero), compiled
        with the training setup. `model` itself (weights, dropout rates, trainable flags,
        compile state) is left as it is.
        A row: group, step, q, accuracy_pruned (before fine-tuning),
        accuracy (after), accepted, and the sparsity of every pruned layer.
        """
        self.check(model)
        setup = self.training_setup(model)
        pruned = [n for names in self.groups.values() for n in names]
        model = _masked_copy(model, pruned)
        layers = {layer.name: layer for layer in model.layers}
        counts = stats(model)["layers"]
        nonzeros = {n: counts[n]["nonzeros"] for n in pruned}
        rates = {layer.name: layer.rate for layer in model.layers
                 if isinstance(layer, keras.layers.Dropout)}
        trainable = {n: layer.trainable for n, layer in layers.items()}
        self._compile(model, setup)
        baseline = self._accuracy(model, val_ds, setup)
        history = [self._row("dense", 0, 0.0, baseline, baseline, True, model, pruned)]
        try:
            for group, names in self.groups.items():
                for n, layer in layers.items():
                    layer.trainable = trainable[n] and n in names
                q = self.start_q
                for step in range(1, self.max_steps + 1):
                    snapshot = model.get_weights()  # masks included
                    for n in names:
                        _prune(layers[n], q)
                    dropout_adjustment.adjust_dropout(
                        model, dropout_adjustment.kept_fractions(model, nonzeros), rates)
                    self._compile(model, setup)
                    pruned_accuracy = self._accuracy(model, val_ds, setup)
                    if self.finetune_epochs:
                        model.fit(train_ds, epochs=self.finetune_epochs, verbose=0)
                    accuracy = self._accuracy(model, val_ds, setup)
                    accepted = accuracy >= baseline - self.max_drop
                    history.append(self._row(group, step, q, pruned_accuracy, accuracy, accepted,
                                             model, pruned))
                    if not accepted:
                        model.set_weights(snapshot)
                        break
                    q += self.step_q
            if self.final_epochs:
                history.append(self._retrain(model, train_ds, val_ds, trainable, pruned, setup))
        finally:
            for n, layer in layers.items():
                layer.trainable = trainable[n]
            dropout_adjustment.adjust_dropout(model, dropout_adjustment.kept_fractions(model, nonzeros),
                                              rates)
        plain = strip(model)
        self._compile(plain, setup)
        return plain, history

    def training_setup(self, model: keras.Model) -> dict:
        """{"loss", "optimizer", "metrics"} to fine-tune `model` with: the pruner's, else the model's.

        "optimizer" is a template instance (`fresh_optimizer` copies it). Raises ValueError
        naming what to pass when neither the pruner nor the model's compile gives a loss or
        an optimizer.
        """
        # tf_keras has no public "is compiled" or "metrics passed to compile()": `model.metrics`
        # holds metric objects bound to this model, which a recompile cannot take again.
        compiled = bool(getattr(model, "_is_compiled", False))
        loss = self.loss if self.loss is not None else (model.loss or None) if compiled else None
        optimizer = self.optimizer if self.optimizer is not None else (
            model.optimizer if compiled else None)
        metrics = self.metrics
        if metrics is None and compiled and model.compiled_metrics is not None:
            metrics = model.compiled_metrics._user_metrics  # what the user passed to compile()
        missing = [name for name, value in (("loss", loss), ("optimizer", optimizer)) if value is None]
        if missing:
            state = "was compiled without a" if compiled else "is not compiled and has no"
            raise ValueError(
                f"ThresholdPruner needs a loss and an optimizer to fine-tune model {model.name!r}, "
                f"which {state} {' or '.join(missing)}: compile the model first "
                f"(model.compile(optimizer=..., loss=..., metrics=['accuracy'])) or pass "
                f"ThresholdPruner(..., {', '.join(f'{name}=...' for name in missing)})")
        if not hasattr(optimizer, "get_config"):  # a name or a config dict
            optimizer = keras.optimizers.get(optimizer)
        if self.momentum is not None and "momentum" not in _inner_config(optimizer.get_config()):
            raise ValueError(f"momentum={self.momentum} given, but optimizer "
                             f"{type(optimizer).__name__} has no momentum setting")
        return {"loss": loss, "optimizer": optimizer, "metrics": metrics or ["accuracy"]}

    def fresh_optimizer(self, template, learning_rate=None) -> keras.optimizers.Optimizer:
        """A new optimizer of `template`'s class and config (no slots, step 0), with the
        pruner's learning rate and momentum, or `learning_rate` (a float or schedule) when given."""
        return type(template).from_config(self._optimizer_config(template, learning_rate))

    def _optimizer_config(self, template, learning_rate=None) -> dict:
        config = template.get_config()
        inner = _inner_config(config)
        learning_rate = self.learning_rate if learning_rate is None else learning_rate
        if learning_rate is not None:
            inner["learning_rate"] = learning_rate
        if self.momentum is not None:
            inner["momentum"] = self.momentum
        return config

    def _retrain(self, model: keras.Model, train_ds: tf.data.Dataset, val_ds: tf.data.Dataset,
                 trainable: Mapping[str, bool], pruned: Sequence[str], setup: dict) -> dict:
        """Retrain every layer for `final_epochs`, masks kept, lr decaying to zero; the history row."""
        layers = {layer.name: layer for layer in model.layers}
        for n, layer in layers.items():
            layer.trainable = trainable[n]
        before = self._accuracy(model, val_ds, setup)
        steps = int(train_ds.cardinality()) * self.final_epochs
        initial = _initial_learning_rate(self._optimizer_config(setup["optimizer"]))
        self._compile(model, setup, None if initial is None else
                      optim.learning_rate(initial, "cosine", steps))
        model.fit(train_ds, epochs=self.final_epochs, verbose=0)
        return self._row("final", 0, 0.0, before, self._accuracy(model, val_ds, setup), True, model,
                         pruned)

    def _compile(self, model: keras.Model, setup: dict, learning_rate=None) -> None:
        """Compile with the loss and metrics of `setup` and a fresh copy of its optimizer."""
        with model.distribute_strategy.scope():
            model.compile(optimizer=self.fresh_optimizer(setup["optimizer"], learning_rate),
                          loss=setup["loss"], metrics=_fresh_metrics(setup["metrics"]))

    def _accuracy(self, model: keras.Model, val_ds: tf.data.Dataset, setup: dict) -> float:
        """The validation value of the accuracy metric (`metric`, or the first compiled one with
        "acc" in its name); it works for logits and probabilities alike."""
        results = model.evaluate(val_ds, verbose=0, return_dict=True)
        if self.metric is not None:
            name = self.metric
        else:
            name = next((k for k in results if k != "loss" and "acc" in k), None)
        if name not in results:
            raise ValueError(
                f"model {model.name!r}, compiled with metrics {setup['metrics']!r}, reports "
                f"{sorted(results)}, which has no " + (f"{name!r}" if name else "accuracy metric") +
                "; pass ThresholdPruner(..., metrics=['accuracy']) or metric=<one of those names>")
        return float(results[name])

    @staticmethod
    def _row(group: str, step: int, q: float, pruned_accuracy: float, accuracy: float,
             accepted: bool, model: keras.Model, pruned: Sequence[str]) -> dict:
        counts = stats(model)["layers"]
        row = {"group": group, "step": step, "q": round(q, 6), "accuracy_pruned": pruned_accuracy,
               "accuracy": accuracy, "accepted": accepted}
        for n in pruned:
            row[f"sparsity_{n}"] = counts[n]["sparsity"]
        return row


def _masked_copy(model: keras.Model, names: Sequence[str]) -> keras.Model:
    """A copy of `model` whose layers `names` are MaskedLayers of the same names (its only
    wrappers, stripped at the end), masks keeping the kernels' non-zeros."""
    check_model(model, "ThresholdPruner")
    targets = {id(layer) for layer in model.layers if layer.name in names}

    def replace(layer: keras.layers.Layer) -> MaskedLayer | None:
        if id(layer) not in targets:
            return None
        return MaskedLayer(plain_copy(layer), name=layer.name, trainable=layer.trainable)

    def transfer(original: keras.layers.Layer, masked: MaskedLayer) -> None:
        masked.layer.set_weights(original.get_weights())
        masked.mask.assign(tf.cast(masked.kernel != 0, masked.mask.dtype))

    with model.distribute_strategy.scope():
        return rewrite(model, replace, transfer)


def _prune(layer: MaskedLayer, q: float) -> None:
    """Cut the weights of `layer` with |w| < q * std(w) (`threshold_mask`): mask and weights zero."""
    keep = threshold_mask(layer.kernel.numpy(), q, layer.mask.numpy() > 0)
    layer.mask.assign(tf.cast(keep, layer.mask.dtype))
    layer.kernel.assign(tf.where(keep, layer.kernel, tf.zeros_like(layer.kernel)))


def _inner_config(config: dict) -> dict:
    """The config holding the learning rate: an optimizer's own, or a LossScaleOptimizer's inner one."""
    inner = config.get("inner_optimizer")
    return inner["config"] if isinstance(inner, dict) and "config" in inner else config


def _initial_learning_rate(config: dict) -> float | None:
    """The learning rate of an optimizer config, or its schedule's initial one; None when unknown."""
    value = _inner_config(config).get("learning_rate")
    if isinstance(value, dict):
        value = value.get("config", {}).get("initial_learning_rate")
    return float(value) if isinstance(value, (int, float, np.floating)) else None


def _fresh_metrics(metrics):
    """`metrics` with every Metric object replaced by a new one of the same config, so that the
    clone does not share (and reset) the state of the user's model's metrics."""
    def fresh(metric):
        if isinstance(metric, keras.metrics.Metric):
            try:
                return type(metric).from_config(metric.get_config())
            except (TypeError, ValueError, KeyError):
                return metric  # a metric that cannot be rebuilt from its config: shared
        return metric
    return tf.nest.map_structure(fresh, metrics)
