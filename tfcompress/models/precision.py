"""`with_policy(model, policy)`: the same trained model computing under another Keras dtype policy.

For serving: on CPUs with bfloat16 units (AMX, AVX512-BF16) and on GPUs a
model trained in float32 runs faster with `policy="bfloat16"` (weights and
arithmetic in bfloat16) or `"mixed_bfloat16"` (float32 weights cast per call).
Keras has no call for this (`clone_model` keeps each layer's own dtype), so
every layer is rebuilt from its config with the policy and the weights are
copied, cast on assignment.
"""
from __future__ import annotations

import tf_keras as keras


def with_policy(model: keras.Model, policy: str) -> keras.Model:
    """A copy of functional or sequential `model` whose layers all compute under `policy`.

    Floating inputs take the policy's compute dtype: the copy is fed bfloat16
    images without a cast, and float32 images are cast once, on the way in
    (an input kept in float32 would cast bfloat16 images up and back down).
    Its outputs have the compute dtype; its weights are `model`'s, cast to the
    policy's variable dtype.
    """
    policy = keras.mixed_precision.Policy(policy)  # ValueError for an unknown name

    def rebuild(layer: keras.layers.Layer) -> keras.layers.Layer:
        return layer.__class__.from_config({**layer.get_config(), "dtype": policy.name})

    inputs = [keras.Input(t.shape[1:], dtype=policy.compute_dtype if t.dtype.is_floating else t.dtype,
                          name=t.name.split(":")[0])
              for t in model.inputs or ()] or None  # None: an unbuilt model, cloned as it is
    copy = keras.models.clone_model(model, input_tensors=inputs, clone_function=rebuild)
    copy.set_weights(model.get_weights())
    return copy
