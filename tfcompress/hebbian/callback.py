"""HebbianRewiring: the Keras callback that rewires every HebbianSparseConv2D when it is due."""
from __future__ import annotations

import tf_keras as keras

from tfcompress.hebbian.layer import HebbianSparseConv2D
from tfcompress.sparse.masks import masked_layers


def hebbian_layers(model: keras.Model) -> list[HebbianSparseConv2D]:
    """Every HebbianSparseConv2D of `model`, nested models included, in layer order."""
    return [layer for layer in masked_layers(model) if isinstance(layer, HebbianSparseConv2D)]


class HebbianRewiring(keras.callbacks.Callback):
    """After each training batch, rewire the layers whose `rewire_every` steps have passed.

    Runs in cross-replica context (`model.distribute_strategy.scope()`), so the
    strengths it reads are summed over replicas and the new masks and weights
    are written to every replica. Needed in every `fit` of a model with
    HebbianSparseConv2D layers: without it they only count co-activations
    (and each prints a warning once a rewiring it was due is missed).
    """

    def __init__(self, verbose: int = 0):
        super().__init__()
        self.verbose = verbose
        self._layers: list[HebbianSparseConv2D] = []

    def on_train_begin(self, logs=None):
        """Find the Hebbian layers."""
        self._layers = hebbian_layers(self.model)
        if not self._layers:
            raise ValueError(f"model {self.model.name!r} has no HebbianSparseConv2D layer")

    def on_train_batch_end(self, batch, logs=None):
        """Rewire the layers that are due."""
        due = [layer for layer in self._layers if layer.due()]
        with self.model.distribute_strategy.scope():
            for layer in due:
                layer.rewire(self.model.optimizer)
                if self.verbose:
                    print(f"{layer.name}: rewiring {int(layer.rewires.numpy())} at step "
                          f"{int(layer.step.numpy())}", flush=True)
