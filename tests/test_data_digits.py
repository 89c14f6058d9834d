"""tfcompress.data: the default digits set, the batching pipeline and the argument checks."""
import cv2
import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits

from tfcompress import data


def _stack(dataset):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in dataset])
    return np.concatenate(xs), np.concatenate(ys)


def _sorted_rows(images, labels):
    rows = np.concatenate([images.reshape(len(images), -1), labels[:, None]], axis=1)
    return rows[np.lexsort(rows.T[::-1])]


def test_describe_matches_load():
    info = data.describe()
    assert info == data.DatasetInfo("digits", (8, 8, 1), 10, 1437, 360)
    x, y = _stack(data.load("digits", "train", batch_size=500))
    assert x.shape == (1437, 8, 8, 1) and y.shape == (1437,)
    assert x.dtype == np.float32 and y.dtype == np.int32
    assert x.min() == 0.0 and x.max() == 1.0 and set(y) == set(range(10))


def test_split_is_a_stratified_partition_of_sklearn_digits():
    bundled = load_digits()
    train = _stack(data.load("digits", "train", batch_size=2000, shuffle=False))
    test = _stack(data.load("digits", "test", batch_size=2000))
    ours = _sorted_rows(np.concatenate([train[0], test[0]]) * 16,
                        np.concatenate([train[1], test[1]]))
    reference = _sorted_rows(bundled.images.astype(np.float32), bundled.target)
    np.testing.assert_allclose(ours, reference, atol=1e-5)  # every image once: disjoint and complete
    test_counts = np.bincount(test[1], minlength=10)
    np.testing.assert_allclose(test_counts, np.bincount(bundled.target) * 0.2, atol=1)


def test_split_and_order_are_deterministic():
    first = _stack(data.load("digits", "test", batch_size=64))
    again = _stack(data.load("digits", "test", batch_size=64))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])


def test_upsampling_is_bilinear_and_channels_repeat():
    small, _ = _stack(data.load("digits", "test", batch_size=400))
    big, _ = _stack(data.load("digits", "test", batch_size=400, image_size=28, channels=3))
    assert big.shape == (360, 28, 28, 3)
    assert data.describe("digits", image_size=28, channels=3).input_shape == (28, 28, 3)
    np.testing.assert_array_equal(big[..., 0], big[..., 2])
    # cv2's bilinear upsampling uses the same half-pixel centres as tf.image.resize.
    reference = np.stack([cv2.resize(image[..., 0], (28, 28), interpolation=cv2.INTER_LINEAR)
                          for image in small])
    np.testing.assert_allclose(big[..., 1], reference, atol=1e-5)
    assert data.describe("digits", image_size=32).input_shape == (32, 32, 1)


def test_batches_keep_the_remainder_and_limit_takes_the_first_examples():
    sizes = [len(y) for _, y in data.load("digits", "test", batch_size=100)]
    assert sizes == [100, 100, 100, 60]
    first, _ = _stack(data.load("digits", "test", batch_size=100, shuffle=False))
    limited, _ = _stack(data.load("digits", "test", batch_size=7, limit=20))
    np.testing.assert_array_equal(limited, first[:20])


def test_shuffle_is_seeded_and_changes_every_epoch():
    def epochs(seed):
        dataset = data.load("digits", "train", batch_size=1437, seed=seed)
        return [y.numpy() for _ in range(2) for _, y in dataset]
    one, again, other = epochs(1), epochs(1), epochs(2)
    np.testing.assert_array_equal(one[0], again[0])
    np.testing.assert_array_equal(one[1], again[1])
    assert not np.array_equal(one[0], one[1])
    assert not np.array_equal(one[0], other[0])
    assert sorted(one[0]) == sorted(one[1])


def test_test_split_is_not_shuffled_unless_asked():
    plain, _ = _stack(data.load("digits", "test", batch_size=400))
    again, _ = _stack(data.load("digits", "test", batch_size=400, seed=9))
    shuffled, _ = _stack(data.load("digits", "test", batch_size=400, shuffle=True))
    np.testing.assert_array_equal(plain, again)
    assert not np.array_equal(plain, shuffled)
    np.testing.assert_array_equal(np.sort(plain, axis=0), np.sort(shuffled, axis=0))


def test_examples_returns_final_examples_or_a_stateless_augmentation():
    examples, augment = data.examples("digits", "test", limit=5)
    assert augment is None and len(list(examples)) == 5
    examples, augment = data.examples("digits", "train", augment=True, image_size=28)
    x, _ = next(iter(examples))
    seed = tf.constant([3, 4], tf.int64)
    np.testing.assert_array_equal(augment(x, seed), augment(x, seed))
    assert augment(x, seed).shape == (28, 28, 1)


@pytest.mark.parametrize("call, expected", [
    (lambda: data.load("digits", "validation"), "'validation'"),
    (lambda: data.load("cifar-10"), "Did you mean 'cifar10'"),
    (lambda: data.describe("MNIST"), "Did you mean 'mnist'"),
    (lambda: data.describe("ucr"), "Did you mean 'ucr:<Name>'"),
    (lambda: data.describe("nonsense:thing"), "'nonsense:thing'"),
    (lambda: data.describe("video:"), "'video:'"),
    (lambda: data.load("digits", labels="x.csv"), "labels='x.csv'"),
    (lambda: data.describe("ucr:GunPoint", image_size=32), "image_size=32"),
    (lambda: data.describe("digits", channels=2), "channels=2"),
    (lambda: data.describe("cifar10", channels=1), "channels=1"),
    (lambda: data.describe("digits", image_size=0), "image_size=0"),
    (lambda: data.load("digits", batch_size=0), "batch_size=0"),
    (lambda: data.load("digits", limit=-3), "limit=-3"),
])
def test_bad_arguments_are_named(call, expected):
    with pytest.raises(ValueError, match=expected.replace("(", r"\(").replace("?", r"\?")):
        call()
