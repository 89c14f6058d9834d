"""Small models with every kind of kernel layer, and checks shared by the sparse and pruning tests."""
import numpy as np
import tf_keras as keras

from tfcompress.rewrite import all_layers

# The kernel each layer kind is sparsified/pruned on.
KERNELS = {"Conv1D": "kernel", "Conv2D": "kernel", "Conv3D": "kernel", "Dense": "kernel",
           "Conv2DTranspose": "kernel", "DepthwiseConv2D": "depthwise_kernel",
           "SeparableConv2D": "pointwise_kernel"}


def cnn(seed=0):
    """Functional CNN: Conv2D, DepthwiseConv2D, SeparableConv2D, a nested Sequential block
    (Conv2D + BatchNorm), Conv2DTranspose, Dense."""
    keras.utils.set_random_seed(seed)
    block = keras.Sequential([keras.Input((8, 8, 8)),
                              keras.layers.Conv2D(8, 3, padding="same", name="inner_conv"),
                              keras.layers.BatchNormalization(name="inner_bn")], name="block")
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw")(x)
    x = keras.layers.SeparableConv2D(8, 3, padding="same", name="sep")(x)
    x = block(x)
    x = keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same", name="up")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(5, name="fc")(x), name="cnn")


def conv1d_model(seed=0):
    """Sequential Conv1D + Dense."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((16, 3)), keras.layers.Conv1D(8, 3, name="conv1d"),
                             keras.layers.Flatten(), keras.layers.Dense(4, name="fc")], name="seq1d")


def conv3d_model(seed=0):
    """Sequential Conv3D + Dense."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((4, 4, 4, 2)), keras.layers.Conv3D(4, 3, name="conv3d"),
                             keras.layers.Flatten(), keras.layers.Dense(3, name="fc")], name="seq3d")


def kernel_of(layer):
    """The variable a layer is sparsified/pruned on."""
    return getattr(layer, KERNELS[type(layer).__name__])


def snapshot(model):
    """Layer objects, their attribute names and every weight value of `model`."""
    layers = all_layers(model)
    return ([id(layer) for layer in layers], [sorted(vars(layer)) for layer in layers],
            [weight.numpy().copy() for weight in model.weights])


def assert_unchanged(model, before):
    """`model` still has the layers, attributes and weights recorded by `snapshot`."""
    ids, attributes, weights = snapshot(model)
    assert ids == before[0] and attributes == before[1]
    assert len(weights) == len(before[2])
    for now, then in zip(weights, before[2]):
        np.testing.assert_array_equal(now, then)


def inputs_for(model, n=4, seed=0):
    return np.random.default_rng(seed).random((n, *model.input_shape[1:]), dtype=np.float32)
