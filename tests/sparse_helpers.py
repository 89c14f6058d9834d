"""Small models and data shared by the tests of tfcompress.sparse."""
import numpy as np
import tf_keras as keras

from tfcompress import sparse


def tiny_model(sparsity=0.5, seed=0, conv=False, **kwargs):
    """A sparsified Dense (or Conv+Dense) model with every kernel masked."""
    if conv:
        layers = [keras.Input((6, 6, 3)), keras.layers.Conv2D(8, 3, name="conv"),
                  keras.layers.Flatten(), keras.layers.Dense(4, name="out")]
    else:
        layers = [keras.Input((8,)), keras.layers.Dense(16, activation="relu", name="hidden",
                                                        kernel_regularizer=keras.regularizers.l2(1e-3)),
                  keras.layers.Dense(4, name="out")]
    keras.utils.set_random_seed(seed)
    return sparse.sparsify(keras.Sequential(layers), sparsity=sparsity, keep_dense=(), seed=seed,
                           **kwargs)


def data(n=64, shape=(8,), seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, *shape)).astype("float32"), rng.integers(0, 4, n)


def compiled(model, optimizer=None):
    model.compile(optimizer or keras.optimizers.SGD(0.1, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model
