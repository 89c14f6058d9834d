"""tfcompress.data on the MNIST family's official IDX files: small files the tests write, and real MNIST
when `make mnist` has put it in data/mnist (CI does)."""
import gzip
import hashlib
import os
import subprocess

import numpy as np
import pytest

from idx_files import NAMES, idx_bytes, write_set
from tfcompress import data

REAL_MNIST = "data/mnist"
OFFICIAL_MD5 = {"train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
                "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
                "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
                "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637"}


def _all(name, data_dir, split="test", **kwargs):
    (x, y), = data.load(name, split, data_dir=str(data_dir), batch_size=1000, shuffle=False, **kwargs)
    return x.numpy(), y.numpy()


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "kmnist"])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_files_read_as_unit_pixels_and_labels(tmp_path, name, gz):
    arrays = write_set(tmp_path / name, counts=(40, 24), gz=gz)
    for data_dir in (tmp_path, tmp_path / name):  # the parent folder or the set's own
        assert data.describe(name, data_dir=str(data_dir)) == data.DatasetInfo(name, (28, 28, 1), 10, 40, 24)
        x, y = _all(name, data_dir)
        images, labels = arrays["test"]
        assert x.dtype == np.float32 and y.dtype == np.int32
        np.testing.assert_allclose(x[..., 0], images / 255.0, rtol=1e-6)
        np.testing.assert_array_equal(y, labels)


def test_image_size_channels_and_augmentation_apply(tmp_path):
    arrays = write_set(tmp_path, counts=(16, 8))
    x, _ = _all("mnist", tmp_path, image_size=32, channels=3)
    assert x.shape == (8, 32, 32, 3)
    np.testing.assert_allclose(x[..., 0], x[..., 2])
    augmented, _ = _all("mnist", tmp_path, split="train", augment=True)
    plain = arrays["train"][0] / 255.0
    assert augmented.shape == (16, 28, 28, 1) and not np.allclose(augmented[..., 0], plain)
    assert data.describe("mnist", data_dir=str(tmp_path), image_size=32, channels=3).input_shape == (32, 32, 3)


def _write(path, raw):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[:-100], r"700 bytes; expected 800 for the shape \(1, 28, 28\).*truncated"),
    (lambda raw: raw + b"\0", r"801 bytes; expected 800.*trailing"),
    (lambda raw: b"\0\0\x09\x03" + raw[4:], r"magic number 0x00000903; expected 0x00000803"),
    (lambda raw: raw[:10], r"10 bytes, shorter than the 16-byte IDX header"),
])
def test_a_damaged_images_file_is_an_error_naming_it(tmp_path, damage, message):
    write_set(tmp_path, counts=(4, 1))
    path = tmp_path / NAMES["test"][0]
    _write(path, damage(path.read_bytes()))
    with pytest.raises(ValueError, match=rf"{path}.*{message}"):
        _all("mnist", tmp_path)


def test_corrupt_gzip_and_mismatched_files_are_errors_naming_them(tmp_path):
    write_set(tmp_path, counts=(4, 2), gz=True)
    path = tmp_path / (NAMES["test"][0] + ".gz")
    _write(path, path.read_bytes()[:30])
    with pytest.raises(ValueError, match=rf"{path}: cannot be read"):
        _all("mnist", tmp_path)
    write_set(tmp_path / "b", counts=(4, 2))
    _write(tmp_path / "b" / NAMES["test"][1], idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(ValueError, match=r"holds 2 images but .*t10k-labels-idx1-ubyte 3 labels"):
        _all("mnist", tmp_path / "b")
    write_set(tmp_path / "c", counts=(4, 2))
    _write(tmp_path / "c" / NAMES["test"][1], idx_bytes(np.array([3, 12], np.uint8)))
    with pytest.raises(ValueError, match=r"label 12 at index 1; expected labels 0..9"):
        _all("mnist", tmp_path / "c")
    write_set(tmp_path / "d", counts=(4, 2))
    _write(tmp_path / "d" / NAMES["test"][0], idx_bytes(np.zeros((2, 8, 8), np.uint8)))
    with pytest.raises(ValueError, match=r"images of 8x8 pixels; expected 28x28"):
        _all("mnist", tmp_path / "d")


def test_a_missing_file_is_named_and_no_files_means_tfds(tmp_path):
    write_set(tmp_path, counts=(4, 2))
    os.remove(tmp_path / NAMES["train"][1])
    with pytest.raises(FileNotFoundError, match=r"'train-labels-idx1-ubyte' not found"):
        data.describe("mnist", data_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"tfds dataset 'kmnist'.*official IDX files.*get_data.sh"):
        data.describe("kmnist", data_dir=str(tmp_path / "empty"))


@pytest.mark.skipif(not os.path.isdir(REAL_MNIST), reason="real MNIST not fetched (make mnist)")
def test_real_mnist_has_the_official_files_sizes_and_first_labels():
    for name, md5 in OFFICIAL_MD5.items():
        with open(os.path.join(REAL_MNIST, name), "rb") as f:
            assert hashlib.md5(f.read()).hexdigest() == md5, name
    assert data.describe("mnist", data_dir=REAL_MNIST) == data.DatasetInfo("mnist", (28, 28, 1), 10, 60000, 10000)
    (x, y), = data.load("mnist", "test", data_dir=REAL_MNIST, batch_size=5, shuffle=False, limit=5)
    np.testing.assert_array_equal(y.numpy(), [7, 2, 1, 0, 4])  # the well-known first test digits
    assert 0.0 <= x.numpy().min() and x.numpy().max() == 1.0


def test_get_data_refuses_an_unknown_set():
    result = subprocess.run(["bash", "tools/get_data.sh", "cifar"], capture_output=True, text=True)
    assert result.returncode == 2 and "unknown data set 'cifar'; expected mnist or ucr" in result.stderr


@pytest.mark.slow
def test_get_data_fetches_mnist_with_the_official_md5s(tmp_path):
    env = {**os.environ, "DATA_DIR": str(tmp_path)}
    result = subprocess.run(["bash", "tools/get_data.sh", "mnist"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    for name, md5 in OFFICIAL_MD5.items():
        assert hashlib.md5((tmp_path / "mnist" / name).read_bytes()).hexdigest() == md5
    again = subprocess.run(["bash", "tools/get_data.sh", "mnist"], capture_output=True, text=True, env=env)
    assert "already there (md5s match)" in again.stdout
