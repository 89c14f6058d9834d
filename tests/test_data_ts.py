"""tfcompress.data on `.ts` files (UCR/UEA archives as aeon and sktime write them), written to tmp_path."""
import os

import numpy as np
import pytest
from scipy.stats import zscore

from tfcompress import data

# aeon's bundled sets: data/ucr after `make ucr` (CI runs it), or aeon's own datasets/data folder.
AEON_DATA = os.environ.get("TFCOMPRESS_AEON_DATA", "data/ucr")


def _series(count, length=12, dims=1, seed=0):
    return np.random.default_rng(seed).normal(2.0, 3.0, size=(count, length, dims)).round(4)


def _write_ts(path, labels, series, classes, **header):
    """A `.ts` file: 2 comment lines, the header on lines 3-10, @data on line 11, cases from line 12."""
    _, length, dims = series.shape
    fields = {"problemName": "Toy", "timeStamps": "false", "missing": "false",
              "univariate": str(dims == 1).lower(), "dimensions": dims, "equalLength": "true",
              "seriesLength": length, "classLabel": " ".join(["true", *map(str, classes)]), **header}
    cases = [":".join([*(",".join(map(str, row[:, d])) for d in range(dims)), str(label)])
             for label, row in zip(labels, series)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(["# Toy problem written by the tests", "#",
                               *(f"@{tag} {value}" for tag, value in fields.items()), "@data", *cases]) + "\n")


def _all(data_dir, split, name):
    (x, y), = data.load(name, split, data_dir=str(data_dir), batch_size=1000, shuffle=False)
    return x.numpy(), y.numpy()


def test_univariate_numeric_labels_read_like_the_text_files(tmp_path):
    train, test = _series(5), _series(3, seed=1)
    _write_ts(tmp_path / "Toy" / "Toy_TRAIN.ts", [3, 1, 3, 7, 1], train, [1, 3, 7, 9])
    _write_ts(tmp_path / "Toy" / "Toy_TEST.ts", [7, 1, 9], test, [1, 3, 7, 9], equalLength="TRUE")
    for name in ("ucr:Toy", "uea:Toy"):
        assert data.describe(name, data_dir=str(tmp_path)) == data.DatasetInfo(name, (12, 1), 4, 5, 3)
        x, y = _all(tmp_path, "test", name)
        assert x.dtype == np.float32 and y.dtype == np.int32 and x.shape == (3, 12, 1)
        np.testing.assert_allclose(x, zscore(test, axis=1), atol=1e-5)
        np.testing.assert_array_equal(y, [2, 0, 3])


def test_multivariate_string_labels_are_normalised_per_dimension(tmp_path):
    classes = ["Walking", "Running", "Badminton"]  # declared order is not the index order
    train, test = _series(4, length=10, dims=3), _series(2, length=10, dims=3, seed=1)
    train[0, :, 1] = 5.0  # a constant dimension becomes zeros
    _write_ts(tmp_path / "Moves" / "Moves_TRAIN.ts", ["Walking", "Running", "Badminton", "Walking"], train, classes)
    _write_ts(tmp_path / "Moves" / "Moves_TEST.ts", ["Running", "Badminton"], test, classes)
    assert data.describe("uea:Moves", data_dir=str(tmp_path)) == data.DatasetInfo("uea:Moves", (10, 3), 3, 4, 2)
    x, y = _all(tmp_path, "train", "uea:Moves")
    assert x.shape == (4, 10, 3)
    np.testing.assert_array_equal(x[0, :, 1], np.zeros(10))
    np.testing.assert_allclose(x[1:], zscore(train[1:], axis=1), atol=1e-5)
    np.testing.assert_array_equal(y, [2, 1, 0, 2])  # Badminton < Running < Walking
    np.testing.assert_array_equal(_all(tmp_path, "test", "uea:Moves")[1], [1, 0])


@pytest.mark.parametrize("train_labels, test_labels, expected", [
    (["2", "10", "1"], ["10"], [1, 2, 0, 2]),  # all numbers: by value, 2 before 10
    (["1", "2"], ["1.0", "2.0"], [0, 1, 0, 1]),  # equal values are one class
    (["b", "10", "2"], ["b"], [2, 0, 1, 2]),  # not all numbers: as strings
])
def test_labels_of_both_files_are_sorted_together(tmp_path, train_labels, test_labels, expected):
    _write_ts(tmp_path / "Toy" / "Toy_TRAIN.ts", train_labels, _series(len(train_labels)), train_labels)
    _write_ts(tmp_path / "Toy" / "Toy_TEST.ts", test_labels, _series(len(test_labels), seed=1), test_labels)
    labels = np.concatenate([_all(tmp_path, split, "uea:Toy")[1] for split in ("train", "test")])
    np.testing.assert_array_equal(labels, expected)
    assert data.describe("uea:Toy", data_dir=str(tmp_path)).num_classes == max(expected) + 1


def _write_tsv(path, labels, series):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\t".join(map(str, [label, *row[:, 0]])) + "\n" for label, row in zip(labels, series)))


def test_ucr_prefers_the_text_files_and_uea_reads_ts_only(tmp_path):
    folder = tmp_path / "Toy"
    _write_tsv(folder / "Toy_TRAIN.tsv", [1, 2], _series(2))
    _write_tsv(folder / "Toy_TEST.tsv", [1], _series(1))
    with pytest.raises(FileNotFoundError, match=r"'uea:Toy': no train file; expected one of \[.*Toy_TRAIN.ts'\]"):
        data.describe("uea:Toy", data_dir=str(tmp_path))
    _write_ts(folder / "Toy_TRAIN.ts", [1, 2, 2], _series(3, length=8), [1, 2])
    _write_ts(folder / "Toy_TEST.ts", [1], _series(1, length=8), [1, 2])
    assert data.describe("ucr:Toy", data_dir=str(tmp_path)).input_shape == (12, 1)  # the .tsv pair first
    assert data.describe("uea:Toy", data_dir=str(tmp_path)).input_shape == (8, 1)
    (folder / "Toy_TEST.tsv").unlink()
    (folder / "Toy_TRAIN.ts").unlink()
    with pytest.raises(FileNotFoundError, match=r"train file is .*Toy_TRAIN.tsv but the test file .*Toy_TEST.ts; "
                                                r"expected both with the same extension"):
        data.describe("ucr:Toy", data_dir=str(tmp_path))


def test_uea_names_and_options_are_checked_like_ucr(tmp_path):
    _write_ts(tmp_path / "Toy" / "Toy_TRAIN.ts", [1], _series(1), [1])
    _write_ts(tmp_path / "Toy" / "Toy_TEST.ts", [1], _series(1), [1])
    with pytest.raises(ValueError, match="'uea:Toy' needs data_dir: the folder of the UEA archive .*Toy_TRAIN.ts"):
        data.describe("uea:Toy")
    with pytest.raises(FileNotFoundError, match="Did you mean 'uea:Toy'"):
        data.describe("uea:Tob", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="image_size=28.*time-series dataset 'uea:Toy'"):
        data.describe("uea:Toy", data_dir=str(tmp_path), image_size=28)
    with pytest.raises(ValueError, match="augment=True.*'uea:Toy'"):
        data.load("uea:Toy", data_dir=str(tmp_path), augment=True)


@pytest.fixture
def toy(tmp_path):
    """uea:Toy, 2 dimensions of length 4; the test file's header is on lines 3-10, its cases from line 12."""
    series = np.arange(24, dtype=float).reshape(3, 4, 2)
    _write_ts(tmp_path / "Toy" / "Toy_TRAIN.ts", ["walk", "run", "walk"], series, ["walk", "run"])
    _write_ts(tmp_path / "Toy" / "Toy_TEST.ts", ["run", "walk"], series[:2], ["walk", "run"])
    return tmp_path


def _edit(path, edits):
    """Replace lines of `path` (numbered from 1); '#' keeps the numbering when removing one."""
    lines = path.read_text().splitlines()
    for number, text in edits.items():
        lines[number - 1] = text
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("edits, expected", [
    ({4: "@timeStamps true"}, r"line 4: @timeStamps true: time stamps are not supported"),
    ({8: "@equalLength false"}, r"line 8: @equalLength false: unequal-length series are not supported"),
    ({9: "#", 13: "0,2,4,6:1,3,5:walk"},
     r"line 13: dimension 2 has length 3; expected 4 like the first case \(line 12\); unequal lengths"),
    ({13: "0,2,?,6:1,3,5,7:walk"},
     r"line 13: dimension 1, value 3 \('\?'\) is missing; expected none, as @missing false \(line 5\) says"),
    ({5: "@missing true", 13: "0,2,4,6:1,?,5,7:walk"},
     r"line 13: dimension 2, value 2 \('\?'\) is missing; expected none \(missing values are not supported\)"),
    ({13: "0,NaN,4,6:1,3,5,7:walk"}, r"line 13: dimension 1, value 2 \('NaN'\) is missing"),
    ({13: "0,2,4,inf:1,3,5,7:walk"}, r"line 13: dimension 1, value 4 \('inf'\) is infinite"),
    ({13: "0,2,x4,6:1,3,5,7:walk"}, r"line 13: dimension 1, value 3 \('x4'\) is not a number"),
    ({9: "@seriesLength 5"}, r"line 12: dimension 1 has length 4; expected 5 as @seriesLength 5 \(line 9\) says"),
    ({7: "@dimensions 3"}, r"line 12: 2 dimension\(s\); expected 3 as @dimensions 3 \(line 7\) says"),
    ({6: "@univariate true", 7: "#"}, r"line 12: 2 dimension\(s\); expected 1 as @univariate true \(line 6\) says"),
    ({7: "#", 13: "0,2,4,6:walk"}, r"line 13: 1 dimension\(s\); expected 2 like the first case \(line 12\)"),
    ({10: "@classLabel false"}, r"line 10: @classLabel false: the set has no class labels"),
    ({10: "@classLabel true"}, r"line 10: @classLabel true lists no labels"),
    ({10: "#"}, r"line 11: no @classLabel header before @data"),
    ({10: "@targetLabel true"}, r"line 10: @targetLabel marks a regression set"),
    ({13: "0,2,4,6:1,3,5,7:jog"},
     r"line 13: class label 'jog' is not declared by @classLabel \(line 10\); expected one of \['walk', 'run'\]"),
    ({13: "0,2,4,6,1,3,5,7 walk"}, r"line 13: '0,2,4,6,1,3,5,7 walk' has no ':'"),
    ({4: "@timeStamps maybe"}, r"line 4: @timeStamps 'maybe'; expected true or false"),
    ({9: "@seriesLength four"}, r"line 9: @seriesLength 'four'; expected a positive integer"),
    ({9: "@seriesLenght 4"}, r"line 9: unknown header tag '@serieslenght'"),
    ({6: "@missing false"}, r"line 6: @missing repeated \(first on line 5\)"),
    ({2: "% a comment", 3: "problem Toy"}, r"line 3: 'problem Toy' before @data; expected header lines"),
])
def test_bad_ts_files_are_reported_with_file_and_line(toy, edits, expected):
    _edit(toy / "Toy" / "Toy_TEST.ts", edits)
    with pytest.raises(ValueError, match=r"Toy_TEST.ts, " + expected):
        data.load("uea:Toy", "test", data_dir=str(toy))


def test_header_tags_and_booleans_are_read_in_any_case(toy):
    _edit(toy / "Toy" / "Toy_TEST.ts", {4: "@TIMESTAMPS False", 8: "@equallength TRUE",
                                        10: "@classlabel True walk run"})
    assert data.describe("uea:Toy", data_dir=str(toy)).num_test == 2


def test_a_file_without_data_or_cases_is_named(toy):
    path = toy / "Toy" / "Toy_TEST.ts"
    header = path.read_text().splitlines()[:11]
    path.write_text("\n".join(header) + "\n")
    with pytest.raises(ValueError, match=r"Toy_TEST.ts: no cases after @data \(line 11\)"):
        data.describe("uea:Toy", data_dir=str(toy))
    path.write_text("\n".join(header[:-1]) + "\n")
    with pytest.raises(ValueError, match=r"Toy_TEST.ts: no @data line"):
        data.describe("uea:Toy", data_dir=str(toy))


@pytest.mark.parametrize("shape, expected", [((2, 5, 2), "length 4 but test series 5"),
                                             ((2, 4, 3), "dimension count 2 but test series 3")])
def test_train_and_test_shapes_must_agree(toy, shape, expected):
    _write_ts(toy / "Toy" / "Toy_TEST.ts", ["run", "walk"], np.ones(shape), ["walk", "run"])
    with pytest.raises(ValueError, match=f"'uea:Toy': train series have {expected} "
                                         r"\(.*Toy_TRAIN.ts and .*Toy_TEST.ts\); expected the same"):
        data.describe("uea:Toy", data_dir=str(toy))


@pytest.mark.skipif(not AEON_DATA or not os.path.isdir(AEON_DATA),
                    reason="aeon's sets are not fetched (make ucr) and TFCOMPRESS_AEON_DATA names no folder")
def test_aeon_bundled_sets():
    gun_point = data.describe("ucr:GunPoint", data_dir=AEON_DATA)
    assert gun_point == data.DatasetInfo("ucr:GunPoint", (150, 1), 2, 50, 150)
    assert data.describe("uea:BasicMotions", data_dir=AEON_DATA) == data.DatasetInfo("uea:BasicMotions", (100, 6),
                                                                                       4, 40, 40)
    for split in ("train", "test"):
        x, y = _all(AEON_DATA, split, "uea:BasicMotions")
        np.testing.assert_allclose(x.mean(axis=1), 0.0, atol=1e-4)
        np.testing.assert_array_equal(np.bincount(y), [10, 10, 10, 10])
    with pytest.raises(ValueError, match=r"JapaneseVowels_TRAIN.ts, line \d+: @equalLength false: unequal-length"):
        data.describe("uea:JapaneseVowels", data_dir=AEON_DATA)
