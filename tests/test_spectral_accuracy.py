"""Accuracy holds under band-limiting: a small CNN on digits, SpectralConv2D r=0.5 vs Conv2D."""
import numpy as np
import pytest
import tf_keras as keras
from sklearn.datasets import load_digits

from tfcompress.spectral.layers import conv_factory


def digits_split():
    """scikit-learn's bundled 8x8 digits, scaled to [0, 1], a fixed 70/30 split."""
    images, labels = load_digits(return_X_y=True)
    images = (images / 16.0).reshape(-1, 8, 8, 1).astype(np.float32)
    order = np.random.default_rng(0).permutation(len(labels))
    cut = int(0.7 * len(labels))
    return (images[order[:cut]], labels[order[:cut]]), (images[order[cut:]], labels[order[cut:]])


def trained_accuracy(conv, epochs, width, seed=0):
    """Test accuracy of conv(w, 3) -> conv(2w, 3, stride 2) -> dense, trained with Adam."""
    (x_train, y_train), (x_test, y_test) = digits_split()
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 1))
    y = keras.layers.ReLU()(conv(width, 3, name="conv1")(inputs))
    y = keras.layers.ReLU()(conv(2 * width, 3, strides=2, name="conv2")(y))
    model = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(y)))
    model.compile(keras.optimizers.Adam(3e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), ["accuracy"])
    model.fit(x_train, y_train, batch_size=64, epochs=epochs, verbose=0)
    return model.evaluate(x_test, y_test, verbose=0)[1]


def conv2d(filters, kernel_size, strides=1, name=None):
    return keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="same", name=name)


@pytest.mark.slow  # 6 trainings; the MNIST table (`--suite=mnist_spectral`) is the full check
def test_band_limited_cnn_within_two_points_of_conv2d():
    """Mean test accuracy over 3 seeds (one seed's gap moves by a point with float rounding).

    About 15-25 s on 2 cores (6 short trainings); last measured: Conv2D 99.01%,
    r = 0.5 97.47% (seeds 0-2).
    """
    seeds = (0, 1, 2)
    baseline = np.mean([trained_accuracy(conv2d, 30, 32, seed) for seed in seeds])
    spectral = np.mean([trained_accuracy(conv_factory(2, compress_rate=0.5), 30, 32, seed)
                        for seed in seeds])
    assert baseline > 0.9
    assert spectral >= baseline - 0.02, (spectral, baseline)
