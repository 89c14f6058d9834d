"""tfcompress.data on UCR archive sets, from tiny archives written to tmp_path."""
import numpy as np
import pytest
from scipy.stats import zscore

from tfcompress import data

TRAIN_LABELS = [3, 1, 3, 7, 1]
TEST_LABELS = [7, 1, 9]
CLASS_INDEX = {1: 0, 3: 1, 7: 2, 9: 3}  # sorted labels of both files


def _series(count, length=12, seed=0):
    return np.random.default_rng(seed).normal(2.0, 3.0, size=(count, length)).round(4)


def _write(path, labels, series, separator, label_format="{}"):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [separator.join([label_format.format(label), *map(str, row)]) for label, row in zip(labels, series)]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def archive(tmp_path):
    """A 2018-style archive: Toy/Toy_TRAIN.tsv and Toy/Toy_TEST.tsv."""
    train, test = _series(len(TRAIN_LABELS)), _series(len(TEST_LABELS), seed=1)
    _write(tmp_path / "Toy" / "Toy_TRAIN.tsv", TRAIN_LABELS, train, "\t")
    _write(tmp_path / "Toy" / "Toy_TEST.tsv", TEST_LABELS, test, "\t")
    return tmp_path, train, test


def _all(data_dir, split, name="ucr:Toy"):
    (x, y), = data.load(name, split, data_dir=str(data_dir), batch_size=100, shuffle=False)
    return x.numpy(), y.numpy()


def test_series_are_z_normalised_with_labels_indexed_consistently(archive):
    data_dir, train, test = archive
    assert data.describe("ucr:Toy", data_dir=str(data_dir)) == data.DatasetInfo("ucr:Toy", (12, 1), 4, 5, 3)
    for split, series, labels in (("train", train, TRAIN_LABELS), ("test", test, TEST_LABELS)):
        x, y = _all(data_dir, split)
        assert x.dtype == np.float32 and y.dtype == np.int32 and x.shape == (len(labels), 12, 1)
        np.testing.assert_allclose(x[..., 0], zscore(series, axis=1), atol=1e-5)
        np.testing.assert_array_equal(y, [CLASS_INDEX[label] for label in labels])


@pytest.mark.parametrize("suffix, separator, label_format", [(".txt", ",", "{}"),
                                                              (".txt", "  ", "{:.7e}"),
                                                              ("", ",", "{}")])
def test_older_archive_formats_read_the_same(tmp_path, suffix, separator, label_format):
    train, test = _series(5), _series(3, seed=1)
    _write(tmp_path / "Old" / f"Old_TRAIN{suffix}", TRAIN_LABELS, train, separator, label_format)
    _write(tmp_path / "Old" / f"Old_TEST{suffix}", TEST_LABELS, test, separator, label_format)
    x, y = _all(tmp_path, "test", "ucr:Old")
    np.testing.assert_allclose(x[..., 0], zscore(test, axis=1), atol=1e-5)
    np.testing.assert_array_equal(y, [CLASS_INDEX[label] for label in TEST_LABELS])


def test_a_constant_series_becomes_zeros(tmp_path):
    _write(tmp_path / "Flat" / "Flat_TRAIN.tsv", [0, 1], [[5.0] * 4, [1.0, 2.0, 3.0, 4.0]], "\t")
    _write(tmp_path / "Flat" / "Flat_TEST.tsv", [0], [[1.0, 2.0, 3.0, 4.0]], "\t")
    x, _ = _all(tmp_path, "train", "ucr:Flat")
    np.testing.assert_array_equal(x[0], np.zeros((4, 1)))


def test_augmentation_and_image_options_are_refused(archive):
    data_dir, _, _ = archive
    with pytest.raises(ValueError, match="augment=True.*'ucr:Toy'"):
        data.load("ucr:Toy", data_dir=str(data_dir), augment=True)
    with pytest.raises(ValueError, match="channels=3"):
        data.describe("ucr:Toy", data_dir=str(data_dir), channels=3)


def test_missing_data_dir_set_or_file_is_named(archive):
    data_dir, _, _ = archive
    with pytest.raises(ValueError, match="'ucr:Toy' needs data_dir.*Toy/Toy_TRAIN.tsv"):
        data.describe("ucr:Toy")
    with pytest.raises(FileNotFoundError, match="'ucr:Tory'.*Did you mean 'ucr:Toy'"):
        data.describe("ucr:Tory", data_dir=str(data_dir))
    (data_dir / "Toy" / "Toy_TEST.tsv").unlink()
    with pytest.raises(FileNotFoundError, match="no test file.*Toy_TEST.tsv"):
        data.load("ucr:Toy", "train", data_dir=str(data_dir))


@pytest.mark.parametrize("bad_line, expected", [
    ("1\t0.5\t0.25", r"Toy_TEST.tsv, line 2: series of length 2; expected 12"),
    ("1\t0.5\tabc" + "\t0" * 10, r"Toy_TEST.tsv, line 2: .*'abc'"),
    ("1" + "\tNaN" * 12, r"Toy_TEST.tsv: NaN"),
])
def test_bad_lines_are_reported_with_file_and_line(archive, bad_line, expected):
    data_dir, _, test = archive
    path = data_dir / "Toy" / "Toy_TEST.tsv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], bad_line, *lines[1:]]) + "\n")
    with pytest.raises(ValueError, match=expected):
        data.load("ucr:Toy", "test", data_dir=str(data_dir))


def test_train_and_test_lengths_must_agree(archive):
    data_dir, _, _ = archive
    _write(data_dir / "Toy" / "Toy_TEST.tsv", TEST_LABELS, _series(3, length=10), "\t")
    with pytest.raises(ValueError, match="train series have length 12 but test series 10"):
        data.describe("ucr:Toy", data_dir=str(data_dir))
