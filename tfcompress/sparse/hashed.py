"""Tied weights (HashedNets, Chen et al. 2015): HashedDense and HashedConv2D.

Every virtual kernel entry is `sign[i] * real[bucket[i]]`, where `real` is a
trainable vector `density` times the kernel's size and `bucket`/`sign`
are a fixed random hash (stored as non-trainable weights, drawn statelessly
from `hash_seed`). The layers are Dense/Conv2D whose `kernel` is that gathered
tensor, so all of Keras' own build/call logic is reused.
"""
from __future__ import annotations

import math

import tensorflow as tf
import tf_keras as keras


class _HashedKernel:
    """Mixin: `add_weight("kernel", ...)` creates the hashed parameters instead of a kernel."""

    def _init_hashing(self, density: float, rescale_gradient: bool, hash_seed: int) -> None:
        if not 0.0 < density <= 1.0:
            raise ValueError(f"density (real/virtual weights) must be in (0, 1], got {density}")
        self.density = float(density)
        self.rescale_gradient = bool(rescale_gradient)
        self.hash_seed = int(hash_seed)

    def add_weight(self, name=None, shape=None, *args, **kwargs):
        """For `kernel`, create the real vector and the hash; other weights as usual."""
        if name != "kernel":
            return super().add_weight(name, shape, *args, **kwargs)
        size = math.prod(shape)
        real = max(1, math.ceil(size * self.density))
        dense_init = keras.initializers.get(kwargs.pop("initializer", "glorot_uniform"))
        seed = tf.constant([self.hash_seed, 0], tf.int64)
        self.hashed_weights = super().add_weight(
            "hashed_weights", (real,), *args,
            # Drawn like the virtual kernel (same fan-in/out), then the first `real` entries kept.
            initializer=lambda s, dtype=None: tf.reshape(dense_init(shape, dtype), [-1])[:real],
            **kwargs)
        self.hash_buckets = super().add_weight(
            "hash_buckets", shape, dtype=tf.int32, trainable=False,
            initializer=lambda s, dtype=None: tf.random.stateless_uniform(
                s, seed, minval=0, maxval=real, dtype=tf.int32))
        self.hash_signs = super().add_weight(
            "hash_signs", shape, dtype=self.dtype, trainable=False,
            initializer=lambda s, dtype=None: tf.sign(
                tf.random.stateless_uniform(s, seed + 1, dtype=dtype) - 0.5))
        return None

    @property
    def kernel(self) -> tf.Tensor:
        """The virtual kernel gathered from the real weights.

        With `rescale_gradient`, each real weight's gradient is divided by the
        number of virtual entries that share it (the forward is unchanged).
        """
        real = self.hashed_weights
        if self.rescale_gradient:
            counts = tf.math.bincount(self.hash_buckets, minlength=real.shape[0], dtype=real.dtype)
            scaled = real / tf.maximum(counts, 1.0)
            real = scaled + tf.stop_gradient(real - scaled)
        return tf.gather(real, self.hash_buckets) * self.hash_signs

    @kernel.setter
    def kernel(self, value) -> None:
        if value is not None:
            raise AttributeError("the kernel of a hashed layer is derived from its hashed weights")

    def get_prunable_weights(self) -> list[tf.Variable]:
        """The real (shared) weights: tfmot's `PrunableLayer` protocol prunes those, not the
        virtual kernel gathered from them."""
        return [self.hashed_weights]

    def hashed_config(self) -> dict:
        """The hashing arguments for `get_config`."""
        return {"density": self.density, "rescale_gradient": self.rescale_gradient,
                "hash_seed": self.hash_seed}


    @classmethod
    def from_config(cls, config: dict):
        """The layer from its config (also one saved with `compression`, the former name of
        `density`)."""
        config = dict(config)
        if "compression" in config:
            config["density"] = config.pop("compression")
        return cls(**config)


@keras.saving.register_keras_serializable(package="tfcompress")
class HashedDense(_HashedKernel, keras.layers.Dense):
    """Dense layer whose kernel shares `density * in * units` real weights through a hash."""

    def __init__(self, units: int, density: float = 0.125, rescale_gradient: bool = False,
                 hash_seed: int = 0, **kwargs):
        super().__init__(units, **kwargs)
        self._init_hashing(density, rescale_gradient, hash_seed)

    def get_config(self):
        """Dense's config plus the hashing arguments."""
        return {**super().get_config(), **self.hashed_config()}


@keras.saving.register_keras_serializable(package="tfcompress")
class HashedConv2D(_HashedKernel, keras.layers.Conv2D):
    """Conv2D whose kernel shares `density * kh * kw * C * F` real weights through a hash."""

    def __init__(self, filters: int, kernel_size, density: float = 0.125,
                 rescale_gradient: bool = False, hash_seed: int = 0, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        self._init_hashing(density, rescale_gradient, hash_seed)

    def get_config(self):
        """Conv2D's config plus the hashing arguments."""
        return {**super().get_config(), **self.hashed_config()}


def tie(model: keras.Model, density: float = 0.125, rescale_gradient: bool = False,
        keep_dense: tuple = ("first", "last"), seed: int = 0) -> keras.Model:
    """A freshly initialised copy of `model` with its Dense/Conv2D layers hashed (HashedNet baseline).

    `keep_dense` names layers left as they are ("first"/"last": the first/last
    Dense or Conv2D). The copy is not compiled.
    """
    kinds = {keras.layers.Dense: HashedDense, keras.layers.Conv2D: HashedConv2D}
    candidates = [layer.name for layer in model.layers if type(layer) in kinds]
    if not candidates:
        raise ValueError(f"model {model.name!r} has no Dense or Conv2D layer to hash")
    aliases = {"first": candidates[0], "last": candidates[-1]}
    unknown = [k for k in keep_dense if k not in aliases and k not in candidates]
    if unknown:
        raise ValueError(f"keep_dense items {unknown} are neither 'first', 'last' nor layers "
                         f"of {candidates}")
    kept = {aliases.get(k, k) for k in keep_dense}

    def clone(layer):
        if type(layer) in kinds and layer.name not in kept:
            return kinds[type(layer)].from_config({
                **layer.get_config(), "density": density,
                "rescale_gradient": rescale_gradient,
                "hash_seed": seed * 1_000_003 + candidates.index(layer.name)})
        return type(layer).from_config(layer.get_config())

    return keras.models.clone_model(model, clone_function=clone)
