"""DynamicSparsity: the Keras callback that rewires masks with a method on a schedule."""
from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from tfcompress.sparse.masks import MaskedLayer, masked_layers
from tfcompress.sparse.methods import MaskMethod, UpdateContext
from tfcompress.sparse.schedule import DEFAULT_UPDATE_EVERY, UpdateSchedule


class DynamicSparsity(keras.callbacks.Callback):
    """Update the masks of a sparsified model: what to drop and grow is `method`'s, when and how
    much is `schedule`'s.

    `schedule`: an `UpdateSchedule` (`ConstantSchedule`, `CosineSchedule`);
    None makes the method's default (`method.default_schedule`: constant,
    cosine for RigL) from the shorthands `update_every` (default 100) and
    `stop_step`, which are errors beside a schedule, as is a method's own
    `fraction` (SET, RigL). Updates run after the schedule's update steps, in
    cross-replica context, from the weights every replica shares and
    stateless draws seeded by `seed` and the step, so replicas and workers
    stay identical and a resumed run repeats an uninterrupted one. Methods
    that need gradients (RigL) read the dense gradient of the loss with
    respect to each masked kernel on the batch of the update step itself,
    recorded by the layers during that step's backward pass
    (`MaskedLayer.record_gradients`) and summed over replicas. Checkpoint
    `state()` with the model.
    """

    def __init__(self, method: MaskMethod, schedule: UpdateSchedule | None = None,
                 update_every: int | None = None, stop_step: int | None = None, seed: int = 0,
                 verbose: int = 0):
        super().__init__()
        if not isinstance(method, MaskMethod):
            raise ValueError(f"method must be a tfcompress.sparse method (Static, SET, DeepR, DSR, "
                             f"RigL), got {method!r}")
        if schedule is None:
            schedule = method.default_schedule(
                DEFAULT_UPDATE_EVERY if update_every is None else update_every, stop_step)
        elif not isinstance(schedule, UpdateSchedule):
            raise ValueError(f"schedule must be a tfcompress.sparse schedule (ConstantSchedule, "
                             f"CosineSchedule), got {schedule!r}")
        else:
            given = [f"{name}={value!r}" for name, value in (("update_every", update_every),
                                                            ("stop_step", stop_step)) if value is not None]
            if method.fraction is not None:
                given.append(f"{type(method).__name__}(fraction={method.fraction})")
            if given:
                raise ValueError(f"DynamicSparsity got schedule={schedule!r} and also "
                                 f"{', '.join(given)}: say how much and when once, in the schedule")
        self.method = method
        self.schedule = schedule
        self.seed = int(seed)
        self.verbose = verbose
        self.updates = tf.Variable(0, dtype=tf.int64, trainable=False, name="sparse_updates",
                                   aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self._layers: list[MaskedLayer] = []

    def state(self) -> dict:
        """Trackables to checkpoint: the update counter and the method's variables."""
        return {"sparse_updates": self.updates, **self.method.state()}

    def on_train_begin(self, logs=None):
        """Find the masked layers."""
        self._layers = masked_layers(self.model)
        if not self._layers:
            raise ValueError(f"model {self.model.name!r} has no MaskedLayer: call "
                             "tfcompress.sparse.sparsify(model, ...) first")
        if self.method.needs_gradients:
            with self.model.distribute_strategy.scope():
                fresh = [layer.record_gradients() for layer in self._layers]
            if any(fresh):
                # fit made its train function before this call: trace it again, recording.
                self.model.train_function = self.model.make_train_function(force=True)

    def on_train_batch_end(self, batch, logs=None):
        """Rewire when the optimizer step is one of the schedule's update steps."""
        step = int(self.model.optimizer.iterations.numpy())
        if self.schedule.is_update_step(step):
            self.update_now(step)

    def update_now(self, step: int) -> None:
        """Run one mask update as of optimizer step `step`."""
        with self.model.distribute_strategy.scope():
            context = UpdateContext(step=step, seed=self.seed,
                                    drop_fraction=self.schedule.fraction(step),
                                    optimizer=self.model.optimizer,
                                    gradients=self._gradients() if self.method.needs_gradients else None)
            self.method.update(self._layers, context)
            self.updates.assign_add(1)
        if self.verbose:
            from tfcompress.sparse.stats import stats
            print(f"step {step}: masks updated ({type(self.method).__name__}), "
                  f"{stats(self.model)['total']['nonzeros']} non-zeros", flush=True)

    def _gradients(self) -> list[tf.Tensor]:
        """The dense gradient of each masked kernel on the last batch, summed over replicas."""
        return [tf.convert_to_tensor(layer.dense_gradient) for layer in self._layers]
