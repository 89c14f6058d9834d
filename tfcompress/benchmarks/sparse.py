"""Sparse suite: what a mask update costs, amortised over the `update_every` steps it serves.

Measured in one process on a WRN-28-2 (CIFAR-10 shape: 32x32x3 inputs, batch
32; `quick`: WRN-10-1 on 8x8, batch 4) sparsified to 90% with ERK (first and
last layer dense), trained with SGD momentum:

- ``train_step``: one `train_on_batch` step of the sparse model;
- ``mask_update``: one `DynamicSparsity.update_now` of DSR (20,000 weights
  pruned per update, the paper's WRN setting), SET and RigL (30% of each
  layer rewired).
Ratio: the training time added per `UPDATE_EVERY` = 100 steps, as a fraction
of those steps' time (target <= 5%): one mask update, plus, for RigL, what
recording the dense gradients adds to every step (a twin model that records
is timed in turn with the plain one).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfcompress import models, sparse
from tfcompress.benchmarks import SuiteResult, device_name, time_alternately, time_fn

UPDATE_EVERY = 100


def _model(quick: bool) -> tuple[keras.Model, tuple[tf.Tensor, tf.Tensor]]:
    size, batch, depth, widen = (8, 4, 10, 1) if quick else (32, 32, 28, 2)
    rng = np.random.default_rng(0)
    data = (tf.constant(rng.random((batch, size, size, 3), np.float32)),
            tf.constant(rng.integers(0, 10, batch)))
    model = sparse.sparsify(models.build("wrn", (size, size, 3), 10, depth=depth,
                                         widen_factor=widen),
                            sparsity=0.9, distribution="erk", seed=0)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model, data


def run(quick: bool = False, repeats: int = 5) -> SuiteResult:
    """Time a training step and one mask update per method; rows and ratios for bin/benchmark."""
    result = SuiteResult()
    model, (x, y) = _model(quick)
    # RigL's layers record their dense gradients in every step: a twin model does, timed in
    # turn with the plain one so that both steps see the same machine.
    recording, _ = _model(quick)
    _start(sparse.DynamicSparsity(sparse.RigL(0.3), update_every=UPDATE_EVERY), recording)
    shape = f"{model.name} {tuple(x.shape)}"
    steps = time_alternately({"plain": lambda: model.train_on_batch(x, y),
                              "recording": lambda: recording.train_on_batch(x, y)}, repeats)
    for name, seconds in (("", steps["plain"]), ("RigL", steps["recording"])):
        result.rows.append({"model": shape, "measure": "train_step", "method": name,
                            "seconds": seconds, "repeats": repeats, "device": device_name()})
    methods = {"DSR": sparse.DSR(20_000), "SET": sparse.SET(0.3), "RigL": sparse.RigL(0.3)}
    for name, method in methods.items():
        target = recording if method.needs_gradients else model
        callback = sparse.DynamicSparsity(method, update_every=UPDATE_EVERY, seed=0)
        _start(callback, target)
        update = time_fn(lambda: callback.update_now(UPDATE_EVERY) or callback.updates.value(),
                         repeats)
        method_step = steps["recording" if method.needs_gradients else "plain"]
        result.rows.append({"model": shape, "measure": "mask_update", "method": name,
                            "seconds": update, "repeats": repeats, "device": device_name()})
        result.add_ratio(f"{name} overhead (mask update + gradient recording) per {UPDATE_EVERY} "
                         f"training steps, {shape}",
                         (update + UPDATE_EVERY * method_step) / (UPDATE_EVERY * steps["plain"]) - 1,
                         "<= 0.05")
        result.notes.append(f"{name}: one update {update * 1e3:.0f} ms, one step "
                            f"{method_step * 1e3:.0f} ms (plain {steps['plain'] * 1e3:.0f} ms)")
    return result


def _start(callback: sparse.DynamicSparsity, model: keras.Model) -> None:
    """What fit does before the first step: RigL's layers start recording their gradients."""
    callback.set_model(model)
    callback.on_train_begin()
