"""The optimizer slots (momentum, Adam m/v, ...) that belong to one model variable."""
from __future__ import annotations

import tensorflow as tf
import tf_keras as keras


def optimizer_slots(optimizer: keras.optimizers.Optimizer, variable: tf.Variable) -> list[tf.Variable]:
    """Slot variables of `variable` in `optimizer` (empty before the optimizer's first step).

    Legacy optimizers expose `get_slot`; Keras 2's current optimizers keep one
    list per slot kind (`momentums`, `_momentums`, `_velocities`, ...) indexed
    through `_index_dict`, with no public accessor, so those lists are found by
    their length and the variable's position.
    """
    # Mixed precision wraps the optimizer in a LossScaleOptimizer; the slots are its inner one's.
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    if hasattr(optimizer, "get_slot_names"):
        return [optimizer.get_slot(variable, name) for name in optimizer.get_slot_names()]
    index_dict = getattr(optimizer, "_index_dict", None)
    if not index_dict:
        return []
    index = index_dict.get(optimizer._var_key(variable))  # pylint: disable=protected-access
    if index is None:
        return []
    slots = []
    for name, value in vars(optimizer).items():
        if name == "_variables" or not isinstance(value, list) or len(value) != len(index_dict):
            continue
        slot = value[index]
        if (isinstance(slot, tf.Variable) and slot is not variable
                and slot.shape == variable.shape and not slot.trainable):
            slots.append(slot)
    return slots
