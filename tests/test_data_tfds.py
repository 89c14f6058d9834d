"""tfcompress.data on tensorflow-datasets sets, with `tfds.testing.mock_data` only (never a download)."""
import cv2
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from tfcompress import data

STATS = {  # the usual per-channel training-set statistics, typed in independently of the library
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenet2012": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


@pytest.fixture
def mocked(tmp_path):
    with tfds.testing.mock_data(num_examples=10):
        yield str(tmp_path)


def _raw(name, split="train"):
    """The mocked uint8 images and labels, straight from tfds."""
    pairs = list(tfds.as_numpy(tfds.load(name, split=split, as_supervised=True)))
    return np.stack([x for x, _ in pairs]), np.array([y for _, y in pairs])


def _all(name, data_dir, **kwargs):
    batches = list(data.load(name, "train", data_dir=data_dir, batch_size=4, shuffle=False, **kwargs))
    return (np.concatenate([x.numpy() for x, _ in batches]), np.concatenate([y.numpy() for _, y in batches]),
            batches)


@pytest.mark.parametrize("name, shape, classes", [
    ("mnist", (28, 28, 1), 10), ("fashion_mnist", (28, 28, 1), 10), ("kmnist", (28, 28, 1), 10),
    ("cifar10", (32, 32, 3), 10), ("cifar100", (32, 32, 3), 100)])
def test_fixed_size_sets_scale_and_standardise_like_the_reference(mocked, name, shape, classes):
    assert data.describe(name, data_dir=mocked) == data.DatasetInfo(name, shape, classes, 10, 10)
    x, y, batches = _all(name, mocked)
    raw, labels = _raw(name)
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    assert x.dtype == np.float32 and y.dtype == np.int32 and x.shape == (10, *shape)
    np.testing.assert_array_equal(y, labels)
    expected = raw / 255.0
    if name in STATS:
        mean, std = STATS[name]
        expected = (expected - np.array(mean)) / np.array(std)
    np.testing.assert_allclose(x, expected, atol=1e-5)


def test_mnist_resizes_and_repeats_channels_for_cifar_models(mocked):
    assert data.describe("mnist", data_dir=mocked, image_size=32, channels=3).input_shape == (32, 32, 3)
    x, _, _ = _all("mnist", mocked, image_size=32, channels=3, limit=3)
    raw, _ = _raw("mnist")
    assert x.shape == (3, 32, 32, 3)
    reference = cv2.resize(raw[0, ..., 0].astype(np.float32) / 255.0, (32, 32), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(x[0, ..., 2], reference, atol=1e-5)


def test_imagenet_defaults_to_224_and_honours_image_size(mocked):
    assert data.describe("imagenet2012", data_dir=mocked) == data.DatasetInfo(
        "imagenet2012", (224, 224, 3), 1000, 10, 10)
    for augment in (False, True):
        x, y, _ = _all("imagenet2012", mocked, augment=augment, image_size=64)
        assert x.shape == (10, 64, 64, 3) and y.dtype == np.int32 and y.max() < 1000
    x, _ = next(iter(data.load("imagenet2012", "test", data_dir=mocked, batch_size=2)))
    assert x.shape == (2, 224, 224, 3)


def _one_image_imagenet(image):
    """A mock `_as_dataset` yielding `image` (and a label), to check the geometry pixel by pixel."""
    def as_dataset(self, *args, **kwargs):
        del self, args, kwargs
        return tf.data.Dataset.from_tensors({"image": image, "label": np.int64(7), "file_name": "x.jpeg"})
    return as_dataset


def test_imagenet_evaluation_resizes_the_shorter_side_then_crops_the_centre(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(60, 40, 3), dtype=np.uint8)  # portrait: width is the shorter side
    with tfds.testing.mock_data(as_dataset_fn=_one_image_imagenet(image)):
        (x, y), = data.load("imagenet2012", "test", data_dir=str(tmp_path), batch_size=1, image_size=56)
    assert int(y[0]) == 7
    # Shorter side to 56 / 0.875 = 64 (so 96 x 64), then the central 56 x 56.
    resized = cv2.resize(image.astype(np.float32) / 255.0, (64, 96), interpolation=cv2.INTER_LINEAR)
    mean, std = STATS["imagenet2012"]
    expected = (resized[20:76, 4:60] - np.array(mean)) / np.array(std)
    np.testing.assert_allclose(x[0].numpy(), expected, atol=1e-4)


def test_a_set_that_is_not_prepared_names_the_data_dir_and_the_tfds_dataset(tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"'cifar10'.*{tmp_path}"):
        data.load("cifar10", data_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match=rf"'imagenet2012'.*'validation'.*{tmp_path}.*manual"):
        data.load("imagenet2012", "test", data_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match=rf"'mnist'.*'train'.*{tmp_path}"):
        data.describe("mnist", data_dir=str(tmp_path))
