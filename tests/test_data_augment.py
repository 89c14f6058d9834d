"""tfcompress.data augmentation: what each set's augmentation does to pixels, and its determinism."""
import itertools

import numpy as np
import tensorflow_datasets as tfds

from tfcompress import data

CIFAR_MEAN = np.array([0.4914, 0.4822, 0.4465], np.float32)
CIFAR_STD = np.array([0.2470, 0.2435, 0.2616], np.float32)


def _shift(image, dy, dx):
    """`image` moved down `dy` and right `dx` pixels, zero filled (an independent numpy reference)."""
    out = np.zeros_like(image)
    h, w = image.shape[:2]
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def _variants(image, pad, flips):
    for dy, dx in itertools.product(range(-pad, pad + 1), repeat=2):
        shifted = _shift(image, dy, dx)
        yield (dy, dx, False), shifted
        if flips:
            yield (dy, dx, True), shifted[:, ::-1]


def _explain(original, augmented, pad, flips):
    """The (dy, dx, flipped) that turns `original` into `augmented`, or None."""
    for how, candidate in _variants(original, pad, flips):
        if np.allclose(candidate, augmented, atol=1e-5):
            return how
    return None


def _first_batch(name, augment, seed=0, **kwargs):
    x, y = next(iter(data.load(name, "train", batch_size=64, augment=augment, shuffle=False, seed=seed,
                               **kwargs)))
    return x.numpy(), y.numpy()


def test_digits_are_only_translated_by_at_most_one_pixel():
    plain, labels = _first_batch("digits", False)
    moved, moved_labels = _first_batch("digits", True)
    np.testing.assert_array_equal(labels, moved_labels)
    hows = [_explain(a, b, pad=1, flips=False) for a, b in zip(plain, moved)]
    assert None not in hows
    assert (plain != moved).any(axis=(1, 2, 3)).sum() > 32  # most images actually move


def test_upsampled_digits_move_by_up_to_two_pixels():
    plain, _ = _first_batch("digits", False, image_size=28)
    moved, _ = _first_batch("digits", True, image_size=28)
    hows = [_explain(a, b, pad=2, flips=False) for a, b in zip(plain, moved)]
    assert None not in hows


def test_augmentation_is_deterministic_given_the_seed_and_varies_by_epoch():
    def two_epochs(seed):
        dataset = data.load("digits", "train", batch_size=200, augment=True, shuffle=False, seed=seed, limit=200)
        return [x.numpy() for _ in range(2) for x, _ in dataset]
    first, again, other = two_epochs(5), two_epochs(5), two_epochs(6)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], first[1])
    assert not np.array_equal(first[0], other[0])


def test_cifar_augmentation_is_a_padded_crop_and_flip_before_standardisation(tmp_path):
    with tfds.testing.mock_data(num_examples=24):
        plain, _ = _first_batch("cifar10", False, data_dir=str(tmp_path))
        moved, _ = _first_batch("cifar10", True, data_dir=str(tmp_path))
    pixels = lambda x: x * CIFAR_STD + CIFAR_MEAN  # noqa: E731  (undo the standardisation)
    hows = [_explain(pixels(a), pixels(b), pad=4, flips=True) for a, b in zip(plain, moved)]
    assert None not in hows
    assert any(flipped for _, _, flipped in hows) and any(not flipped for _, _, flipped in hows)
    assert len({(dy, dx) for dy, dx, _ in hows}) > 5
