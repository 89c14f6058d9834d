"""Mask update schedules: when masks are rewired and how much, apart from what a method drops and grows.

The split is rigl_tf2's (`UpdateSchedule` beside `MaskUpdater`) and tfmot's
(`PruningSchedule` beside the wrapper): a method (`methods.py`: Static, SET,
DeepR, DSR, RigL) scores what to drop and grow; a schedule says at which
optimizer steps to update (every `update_every` steps up to `stop_step`) and
which fraction of each layer's active connections to rewire there
(`drop_fraction`, constant or decaying). A schedule is a pure function of the
step, so every replica and a resumed run get the same answer; it serialises
like a Keras object (`keras.saving.serialize_keras_object`).

SET and RigL rewire the schedule's fraction; DSR and DeepR decide their own
counts (a global threshold, sign flips) and use only its timing.
"""
from __future__ import annotations

import math
import numbers

import tf_keras as keras

DEFAULT_UPDATE_EVERY = 100
DEFAULT_DROP_FRACTION = 0.3


def check_fraction(name: str, value: float) -> float:
    """`value` as a float if it is in (0, 1); ValueError naming `name` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return float(value)


class UpdateSchedule:
    """When to update masks and what fraction of each layer's active units to rewire.

    Updates happen after optimizer steps `update_every, 2 * update_every, ...`
    up to and including `stop_step` (None: never stop). Subclasses define
    `fraction(step)` from `drop_fraction`, the fraction at the first update.
    """

    def __init__(self, drop_fraction: float = DEFAULT_DROP_FRACTION,
                 update_every: int = DEFAULT_UPDATE_EVERY, stop_step: int | None = None):
        self.drop_fraction = check_fraction("drop_fraction", drop_fraction)
        self.update_every = _integer("update_every", update_every, 1)
        self.stop_step = None if stop_step is None else _integer("stop_step", stop_step, 0)

    def is_update_step(self, step: int) -> bool:
        """Whether masks are updated after optimizer step `step`."""
        return (step > 0 and step % self.update_every == 0
                and (self.stop_step is None or step <= self.stop_step))

    def fraction(self, step: int) -> float:
        """The fraction of each layer's active units rewired at an update after step `step`."""
        raise NotImplementedError(f"{type(self).__name__} must define fraction(step)")

    def get_config(self) -> dict:
        """The constructor's arguments."""
        return {"drop_fraction": self.drop_fraction, "update_every": self.update_every,
                "stop_step": self.stop_step}

    @classmethod
    def from_config(cls, config: dict) -> "UpdateSchedule":
        """The schedule of `get_config`'s dictionary."""
        return cls(**config)

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


@keras.saving.register_keras_serializable(package="tfcompress")
class ConstantSchedule(UpdateSchedule):
    """The same `drop_fraction` at every update (SET's, and any method's by default)."""

    def fraction(self, step: int) -> float:
        """`drop_fraction`."""
        return self.drop_fraction


@keras.saving.register_keras_serializable(package="tfcompress")
class CosineSchedule(UpdateSchedule):
    """`drop_fraction / 2 * (1 + cos(pi * step / stop_step))`, reaching 0 at `stop_step` (RigL's default).

    Without a `stop_step` there is nothing to decay towards: the fraction stays `drop_fraction`.
    """

    def fraction(self, step: int) -> float:
        """The cosine-decayed fraction."""
        if not self.stop_step:
            return self.drop_fraction
        return self.drop_fraction / 2 * (1 + math.cos(math.pi * min(step / self.stop_step, 1.0)))


def _integer(name: str, value, minimum: int) -> int:
    """`value` as an int if it is an integer >= `minimum`; ValueError naming `name` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
