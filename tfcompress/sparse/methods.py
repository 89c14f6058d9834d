"""Mask update methods: Static, SET, DeepR, DSR, RigL.

The shape follows google-research/rigl's `rigl_tf2/mask_updaters.py`: a base
class with per-layer drop scores (higher = keep), grow scores (higher = grow
first) and drop/grow counts, and one generic update that does the arithmetic.
All scores live at the mask's granularity ("units": single weights or whole
kernel patches). Random draws are stateless, seeded by the run's seed, the
layer's position and the optimizer step, so every replica and worker computes
the same masks.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfcompress.sparse.masks import MaskedLayer
from tfcompress.sparse.slots import optimizer_slots


@dataclasses.dataclass
class UpdateContext:
    """What one mask update knows: step, progress to `stop_step`, seed, optimizer, gradients."""

    step: int
    progress: float
    seed: int
    optimizer: keras.optimizers.Optimizer | None = None
    gradients: list[tf.Tensor] | None = None

    def seed_for(self, index: int, salt: int) -> tf.Tensor:
        """Stateless seed of layer `index` for draw `salt` at this step."""
        return tf.constant([self.seed * 1_000_003 + index * 16 + salt, self.step], tf.int64)


class MaskMethod:
    """Base of the methods: drop the lowest drop scores, grow the highest grow scores.

    `big_new_weights=False` starts regrown weights at zero; True draws them
    from the layer's kernel initializer (seeded, so replicas agree).
    """

    needs_gradients = False

    def __init__(self, big_new_weights: bool = False):
        self.big_new_weights = bool(big_new_weights)

    def state(self) -> dict:
        """Variables to checkpoint with the run (thresholds, ...)."""
        return {}

    def drop_scores(self, layer: MaskedLayer, index: int, context: UpdateContext) -> tf.Tensor:
        """Per-unit score; active units with the lowest scores are dropped. Default |w|."""
        return layer.to_units(tf.abs(layer.kernel * layer.mask))

    def grow_scores(self, layer: MaskedLayer, index: int, context: UpdateContext) -> tf.Tensor:
        """Per-unit score; inactive units with the highest scores are grown. Default random."""
        return tf.random.stateless_uniform(layer.unit_shape, context.seed_for(index, 1))

    def counts(self, active: list[int], drop_scores: list[np.ndarray], masks: list[np.ndarray],
               context: UpdateContext) -> list[tuple[int, int]]:
        """(units to drop, units to grow) per layer; the base drops and regrows `drop_fraction`."""
        fraction = self.drop_fraction(context)
        return [(int(n * fraction),) * 2 for n in active]

    def drop_fraction(self, context: UpdateContext) -> float:
        """Fraction of each layer's active units rewired at this update."""
        raise NotImplementedError(f"{type(self).__name__} must define drop_fraction or counts")

    def update(self, layers: list[MaskedLayer], context: UpdateContext) -> None:
        """Rewire every layer's mask once (in cross-replica context under a strategy)."""
        masks = [layer.to_units(layer.mask).numpy() > 0 for layer in layers]
        drop = [self.drop_scores(layer, i, context).numpy() for i, layer in enumerate(layers)]
        plan = self.counts([int(m.sum()) for m in masks], drop, masks, context)
        for index, (layer, mask, score, (n_drop, n_grow)) in enumerate(zip(layers, masks, drop, plan)):
            grow = self.grow_scores(layer, index, context).numpy() if n_grow else None
            self.apply(layer, index, mask, score, n_drop, grow, n_grow, context)

    def apply(self, layer: MaskedLayer, index: int, mask: np.ndarray, drop_score: np.ndarray,
              n_drop: int, grow_score: np.ndarray | None, n_grow: int,
              context: UpdateContext) -> None:
        """Keep the best `active - n_drop` units, grow `n_grow` others, zero weights and slots."""
        kept = _top(np.where(mask, drop_score, -np.inf), int(mask.sum()) - n_drop)
        grown = np.zeros_like(kept)
        if n_grow:
            grown = _top(np.where(kept, -np.inf, grow_score), n_grow)
        new_mask = kept | grown
        # Every grown unit restarts, also one dropped and regrown in the same update
        # (rigl's reinit_when_same=True): a DeepR sign flip must not survive regrowth.
        fresh = tf.constant(layer.from_units(grown))
        full_mask = layer.from_units(tf.constant(new_mask, layer.mask.dtype))
        start = self.new_weights(layer, index, context)
        layer.kernel.assign(tf.where(fresh, start, layer.kernel * full_mask))
        reset = tf.logical_or(fresh, full_mask == 0)
        for slot in optimizer_slots(context.optimizer, layer.kernel) if context.optimizer else []:
            slot.assign(tf.where(reset, tf.zeros_like(slot), slot))
        layer.mask.assign(full_mask)

    def new_weights(self, layer: MaskedLayer, index: int, context: UpdateContext) -> tf.Tensor:
        """Values of regrown weights: zeros, or a seeded draw of the kernel initializer."""
        shape, dtype = layer.kernel.shape, layer.kernel.dtype
        if not self.big_new_weights:
            return tf.zeros(shape, dtype)
        init = layer.kernel_initializer
        seed = int(context.seed_for(index, 2).numpy().sum() % (2**31 - 1))
        return type(init).from_config({**init.get_config(), "seed": seed})(shape, dtype)


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
    """Sparse Evolutionary Training (Mocanu et al. 2018): drop the smallest |w|, regrow at random."""

    def __init__(self, fraction: float = 0.3, big_new_weights: bool = False):
        super().__init__(big_new_weights)
        self.fraction = _fraction("fraction", fraction)

    def drop_fraction(self, context):
        """Constant."""
        return self.fraction


class RigL(MaskMethod):
    """RigL (Evci et al. 2020): drop the smallest |w|, grow where |dL/dw| of the dense weight is largest.

    The gradient is that of the training batch of the update step, as in the paper.

    The drop fraction decays as `schedule` ("cosine": f/2 (1 + cos(pi t/T)); "constant").
    """

    needs_gradients = True
    SCHEDULES = ("cosine", "constant")

    def __init__(self, fraction: float = 0.3, schedule: str = "cosine", big_new_weights: bool = False):
        super().__init__(big_new_weights)
        self.fraction = _fraction("fraction", fraction)
        if schedule not in self.SCHEDULES:
            raise ValueError(f"schedule must be one of {self.SCHEDULES}, got {schedule!r}")
        self.schedule = schedule

    def drop_fraction(self, context):
        """`fraction`, decayed by the schedule."""
        if self.schedule == "constant":
            return self.fraction
        return self.fraction / 2 * (1 + math.cos(math.pi * min(context.progress, 1.0)))

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
    its count. (The SGD part of DeepR is the optimizer's own step.)
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
        noise = tf.random.stateless_normal(old.shape, context.seed_for(index, 3), dtype=old.dtype)
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
    exactly. H is a variable: checkpoint `state()`.
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


def _fraction(name: str, value: float) -> float:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value}")
    return float(value)
