"""Sparse training in a `tfcompress.training` run: the model and callbacks that `--sparse` selects."""
from __future__ import annotations


import tf_keras as keras

from tfcompress.sparse.callback import DynamicSparsity
from tfcompress.sparse.hashed import tie
from tfcompress.sparse.methods import DSR, SET, DeepR, MaskMethod, RigL, Static
from tfcompress.sparse.schedule import ConstantSchedule, CosineSchedule, UpdateSchedule
from tfcompress.sparse.sparsify import sparsify
from tfcompress.sparse.stats import SparsityLogger


def sparse_model(config, model: keras.Model) -> keras.Model:
    """`model` sparsified (or tied) as `config.sparse` says; unchanged for `none`."""
    keep_dense = tuple(filter(None, (s.strip() for s in config.keep_dense.split(","))))
    if config.sparse == "none":
        return model
    if config.sparse == "tied":
        return tie(model, density=1.0 - config.sparsity, keep_dense=keep_dense, seed=config.seed)
    return sparsify(model, sparsity=config.sparsity, distribution=config.sparse_distribution,
                    conv_sparsity=config.initial_sparsity_conv,
                    dense_sparsity=config.initial_sparsity_fc, keep_dense=keep_dense,
                    granularity="weight" if config.sub_kernel_granularity else "kernel",
                    seed=config.seed)


def method(config) -> MaskMethod:
    """The mask update method of `config.sparse` (a masked one, not none/tied): what to drop and grow."""
    big = config.big_new_weights
    return {
        "static": lambda: Static(big),
        "set": lambda: SET(big_new_weights=big),
        "deepr": lambda: DeepR(eta=config.lr, big_new_weights=big),
        "dsr": lambda: DSR(config.n_prune_params, big_new_weights=big),
        "rigl": lambda: RigL(big_new_weights=big),
    }[config.sparse]()


def schedule(config, steps_per_epoch: int) -> UpdateSchedule:
    """How much and when: every `--update_every` steps until `--stop_rewire_epoch`, rewiring
    `--rewire_fraction` of each layer (SET, RigL), decayed by a cosine for RigL."""
    stop = None if config.stop_rewire_epoch is None else config.stop_rewire_epoch * steps_per_epoch
    kind = CosineSchedule if config.sparse == "rigl" else ConstantSchedule
    return kind(drop_fraction=config.rewire_fraction, update_every=config.update_every, stop_step=stop)


def dynamic_sparsity(config, steps_per_epoch: int) -> DynamicSparsity | None:
    """The rewiring callback of the run (None without masks)."""
    if config.sparse in ("none", "tied"):
        return None
    return DynamicSparsity(method(config), schedule(config, steps_per_epoch), seed=config.seed)


def logging_callbacks(config) -> list[keras.callbacks.Callback]:
    """SparsityLogger for sparse runs (put it before the CSV/TensorBoard callbacks)."""
    return [] if config.sparse == "none" else [SparsityLogger()]
