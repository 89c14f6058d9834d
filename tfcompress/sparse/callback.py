"""DynamicSparsity: the Keras callback that rewires masks every `update_every` steps."""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfcompress.sparse.masks import MaskedLayer, masked_layers
from tfcompress.sparse.methods import MaskMethod, UpdateContext


class DynamicSparsity(keras.callbacks.Callback):
    """Update the masks of a sparsified model with `method` every `update_every` optimizer steps.

    Updates happen after steps `update_every, 2*update_every, ...` up to
    `stop_step` (None: never stop), in cross-replica context, from the
    weights every replica shares and stateless draws seeded by `seed` and the
    step, so replicas and workers stay identical and a resumed run repeats an
    uninterrupted one. Methods that need gradients (RigL) read the dense
    gradient of the loss with respect to each masked kernel on the batch of
    the update step itself, recorded by the layers during that step's
    backward pass (`MaskedLayer.record_gradients`) and summed over replicas.
    Checkpoint `state()` with the model.
    """

    def __init__(self, method: MaskMethod, update_every: int = 100, stop_step: int | None = None,
                 seed: int = 0, verbose: int = 0):
        super().__init__()
        if not isinstance(method, MaskMethod):
            raise ValueError(f"method must be a tfcompress.sparse method (Static, SET, DeepR, DSR, "
                             f"RigL), got {method!r}")
        if not isinstance(update_every, (int, np.integer)) or update_every < 1:
            raise ValueError(f"update_every must be an integer >= 1, got {update_every!r}")
        if stop_step is not None and stop_step < 0:
            raise ValueError(f"stop_step must be >= 0 or None, got {stop_step}")
        self.method = method
        self.update_every = int(update_every)
        self.stop_step = stop_step
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
        """Rewire when the optimizer step is a multiple of `update_every`."""
        step = int(self.model.optimizer.iterations.numpy())
        if step % self.update_every or (self.stop_step is not None and step > self.stop_step):
            return
        self.update_now(step)

    def update_now(self, step: int) -> None:
        """Run one mask update as of optimizer step `step`."""
        with self.model.distribute_strategy.scope():
            progress = step / self.stop_step if self.stop_step else 0.0
            context = UpdateContext(step=step, progress=progress, seed=self.seed,
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
