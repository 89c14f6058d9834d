"""Mask update methods, what to drop and grow: Static, SET, DeepR, DSR, RigL.

The shape follows google-research/rigl's `rigl_tf2/mask_updaters.py`: a base
class with per-layer drop scores (higher = keep), grow scores (higher = grow
first) and drop/grow counts, and one generic update that turns them into
kept and grown units for `rewiring.apply_rewiring`, the apply path Hebbian
rewiring shares. How much and when is the schedule's (`schedule.py`): the
callback puts the schedule's drop fraction of the step into the
`UpdateContext`. All scores live at the mask's granularity ("units": single
weights or whole kernel patches). Random draws are stateless, seeded by the
run's seed, the layer's position and the optimizer step, so every replica
and worker computes the same masks.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfcompress.sparse.masks import MaskedLayer
from tfcompress.sparse.rewiring import (GROW_DRAW, NEW_WEIGHTS_DRAW, NOISE_DRAW, apply_rewiring,
                                        stateless_seed)
from tfcompress.sparse.schedule import (DEFAULT_UPDATE_EVERY, ConstantSchedule, CosineSchedule,
                                        UpdateSchedule, check_fraction)


@dataclasses.dataclass
class UpdateContext:
    """What one mask update knows: step, seed, the schedule's drop fraction, optimizer, gradients."""

    step: int
    seed: int
    drop_fraction: float = 0.0
    optimizer: keras.optimizers.Optimizer | None = None
    gradients: list[tf.Tensor] | None = None

    def seed_for(self, index: int, salt: int) -> tf.Tensor:
        """Stateless seed of layer `index` for draw `salt` at this step."""
        return stateless_seed(self.seed, index, salt, self.step)


class MaskMethod:
    """Base of the methods: drop the lowest drop scores, grow the highest grow scores.

    `big_new_weights=False` starts regrown weights at zero; True draws them
    from the layer's kernel initializer (seeded, so replicas agree).
    `schedule_class` and `fraction` make the schedule `DynamicSparsity` uses
    when it is given none (`default_schedule`).
    """

    needs_gradients = False
    schedule_class: type[UpdateSchedule] = ConstantSchedule
    fraction: float | None = None

    def __init__(self, big_new_weights: bool = False):
        self.big_new_weights = bool(big_new_weights)

    def default_schedule(self, update_every: int = DEFAULT_UPDATE_EVERY,
                         stop_step: int | None = None) -> UpdateSchedule:
        """`schedule_class` with the method's `fraction` (when it has one) as its drop fraction."""
        fraction = {} if self.fraction is None else {"drop_fraction": self.fraction}
        return self.schedule_class(update_every=update_every, stop_step=stop_step, **fraction)

    def state(self) -> dict:
        """Variables to checkpoint with the run (thresholds, ...)."""
        return {}

    def drop_scores(self, layer: MaskedLayer, index: int, context: UpdateContext) -> tf.Tensor:
        """Per-unit score; active units with the lowest scores are dropped. Default |w|."""
        return layer.to_units(tf.abs(layer.kernel * layer.mask))

    def grow_scores(self, layer: MaskedLayer, index: int, context: UpdateContext) -> tf.Tensor:
        """Per-unit score; inactive units with the highest scores are grown. Default random."""
        return tf.random.stateless_uniform(layer.unit_shape, context.seed_for(index, GROW_DRAW))

    def counts(self, active: list[int], drop_scores: list[np.ndarray], masks: list[np.ndarray],
               context: UpdateContext) -> list[tuple[int, int]]:
        """(units to drop, units to grow) per layer; the base drops and regrows the schedule's
        `context.drop_fraction` of each layer's active units."""
        return [(int(n * context.drop_fraction),) * 2 for n in active]

    def update(self, layers: list[MaskedLayer], context: UpdateContext) -> None:
        """Rewire every layer's mask once (in cross-replica context under a strategy).

        Per layer, the best `active - n_drop` active units by drop score are
        kept and the `n_grow` best others by grow score are grown; every grown
        unit restarts, also one dropped and regrown in the same update (rigl's
        reinit_when_same=True: a DeepR sign flip must not survive regrowth).
        """
        masks = [layer.to_units(layer.mask).numpy() > 0 for layer in layers]
        drop = [self.drop_scores(layer, i, context).numpy() for i, layer in enumerate(layers)]
        plan = self.counts([int(m.sum()) for m in masks], drop, masks, context)
        for index, (layer, mask, score, (n_drop, n_grow)) in enumerate(zip(layers, masks, drop, plan)):
            kept = _top(np.where(mask, score, -np.inf), int(mask.sum()) - n_drop)
            grown = np.zeros_like(kept)
            if n_grow:
                grow_score = self.grow_scores(layer, index, context).numpy()
                grown = _top(np.where(kept, -np.inf, grow_score), n_grow)
            apply_rewiring(layer, kept, grown, context.optimizer,
                           context.seed_for(index, NEW_WEIGHTS_DRAW) if self.big_new_weights else None)


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Boolean array marking the `k` highest scores (ties: lower flat index first)."""
    flat = scores.reshape(-1)
    chosen = np.zeros(flat.shape, dtype=bool)
    if k > 0:
        chosen[np.argsort(-flat, kind="stable")[:k]] = True
    return chosen.reshape(scores.shape)


class Static(MaskMethod):
    """Static sparse training: the initial random mask never changes."""

    def update(self, layers, context):
        """Nothing to rewire."""


class SET(MaskMethod):
    """Sparse Evolutionary Training (Mocanu et al. 2018): drop the smallest |w|, regrow at random.

    How many: the schedule's drop fraction (a `ConstantSchedule` unless
    `DynamicSparsity` is given another). `fraction` is a shorthand for that
    schedule's `drop_fraction` (None: its default, 0.3).
    """

    def __init__(self, fraction: float | None = None, big_new_weights: bool = False):
        super().__init__(big_new_weights)
        self.fraction = None if fraction is None else check_fraction("fraction", fraction)


class RigL(MaskMethod):
    """RigL (Evci et al. 2020): drop the smallest |w|, grow where |dL/dw| of the dense weight is largest.

    The gradient is that of the training batch of the update step, as in the
    paper. How many: the schedule's drop fraction, by default a
    `CosineSchedule` decaying to zero at `stop_step`; `fraction` is a
    shorthand for its `drop_fraction`.
    """

    needs_gradients = True
    schedule_class = CosineSchedule

    def __init__(self, fraction: float | None = None, big_new_weights: bool = False):
        super().__init__(big_new_weights)
        self.fraction = None if fraction is None else check_fraction("fraction", fraction)

    def grow_scores(self, layer, index, context):
        """|gradient| of the loss with respect to the masked kernel on the current batch, per unit."""
        if context.gradients is None:
            raise ValueError("RigL needs the dense gradients of the current batch: run it through "
                             "the DynamicSparsity callback, which records them")
        return layer.to_units(tf.abs(context.gradients[index]))


class DeepR(MaskMethod):
    """Deep Rewiring (Bellec et al. 2018), applied at each update.

    Active weights take an L1 step and Gaussian noise, `w -= eta*l1*sign(w)` and
    `w += sqrt(2*eta*temperature) * N(0, 1)`; connections whose sign flips are
    dropped and as many are regrown at random (at zero), so each layer keeps
    its count. (The SGD part of DeepR is the optimizer's own step.) Of the
    schedule, only its timing applies.
    """

    def __init__(self, eta: float = 0.05, temperature: float = 1e-5, l1: float = 1e-4,
                 big_new_weights: bool = False):
        super().__init__(big_new_weights)
        for name, value in (("eta", eta), ("temperature", temperature), ("l1", l1)):
            if value < 0:
                raise ValueError(f"DeepR {name} must be >= 0, got {value}")
        self.eta, self.temperature, self.l1 = float(eta), float(temperature), float(l1)

    def drop_scores(self, layer, index, context):
        """Move the weights; score |w| where the sign held, -1 where it flipped."""
        old = layer.kernel * layer.mask
        noise = tf.random.stateless_normal(old.shape, context.seed_for(index, NOISE_DRAW), dtype=old.dtype)
        new = (old - self.eta * self.l1 * tf.sign(old)
               + math.sqrt(2 * self.eta * self.temperature) * noise) * layer.mask
        layer.kernel.assign(new)
        flipped = layer.to_units(tf.cast(old * new < 0, old.dtype)) > 0
        return tf.where(flipped, -tf.ones_like(flipped, old.dtype), layer.to_units(tf.abs(new)))

    def counts(self, active, drop_scores, masks, context):
        """Drop the flipped connections; regrow as many."""
        return [(int(np.sum(m & (s < 0))),) * 2 for m, s in zip(masks, drop_scores)]


class DSR(MaskMethod):
    """Dynamic sparse reparameterization (Mostafa & Wang 2019).

    A global magnitude threshold H prunes the active units with |w| < H in
    every layer; H is then doubled if fewer than `(1 - tolerance) *
    n_prune_params` were pruned and halved if more than `(1 + tolerance) *
    n_prune_params`. The K pruned units are regrown at random, allotted to
    layers in proportion to their surviving units (largest remainders, capped
    by each layer's room), so the total number of non-zero units is conserved
    exactly. H is a variable: checkpoint `state()`. Of the schedule, only its
    timing applies.
    """

    def __init__(self, n_prune_params: int = 600, tolerance: float = 0.2,
                 initial_threshold: float = 1e-3, big_new_weights: bool = False):
        super().__init__(big_new_weights)
        if int(n_prune_params) < 1:
            raise ValueError(f"n_prune_params must be >= 1, got {n_prune_params}")
        if not 0.0 <= tolerance < 1.0:
            raise ValueError(f"tolerance must be in [0, 1), got {tolerance}")
        if initial_threshold <= 0:
            raise ValueError(f"initial_threshold must be > 0, got {initial_threshold}")
        self.n_prune_params = int(n_prune_params)
        self.tolerance = float(tolerance)
        self.threshold = tf.Variable(initial_threshold, dtype=tf.float32, trainable=False,
                                     name="dsr_threshold",
                                     aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

    def state(self):
        """The adaptive threshold."""
        return {"dsr_threshold": self.threshold}

    def counts(self, active, drop_scores, masks, context):
        """Prune below H, adapt H, reallocate the pruned budget by surviving units."""
        threshold = float(self.threshold.numpy())
        pruned = [int(np.sum(m & (s < threshold))) for m, s in zip(masks, drop_scores)]
        total = sum(pruned)
        if total < (1 - self.tolerance) * self.n_prune_params:
            self.threshold.assign(threshold * 2)
        elif total > (1 + self.tolerance) * self.n_prune_params:
            self.threshold.assign(threshold / 2)
        survivors = [a - p for a, p in zip(active, pruned)]
        room = [m.size - s for m, s in zip(masks, survivors)]
        return list(zip(pruned, allocate(total, survivors, room)))


def allocate(total: int, weights: list[int], room: list[int]) -> list[int]:
    """Split `total` integers in proportion to `weights` (largest remainders), none above its `room`.

    What a capped layer cannot take goes to the others; the sum is exactly
    `total` (ValueError if the rooms cannot hold it).
    """
    if total > sum(room):
        raise ValueError(f"cannot place {total} units in rooms {room}")
    share = [0] * len(weights)
    open_ = [i for i in range(len(weights)) if room[i] > 0]
    left = total
    while left > 0:
        basis = np.array([max(weights[i], 0) for i in open_], dtype=np.float64)
        if basis.sum() <= 0:
            basis = np.ones(len(open_))
        ideal = left * basis / basis.sum()
        part = np.floor(ideal).astype(int)
        order = np.argsort(-(ideal - part), kind="stable")
        part[order[:left - part.sum()]] += 1
        for i, amount in zip(open_, part):
            take = min(int(amount), room[i] - share[i])
            share[i] += take
            left -= take
        open_ = [i for i in open_ if share[i] < room[i]]
    return share
