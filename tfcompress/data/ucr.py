"""UCR/UEA time-series classification archive sets (`ucr:<Name>`, `uea:<Name>`), read from their text files.

Files: `<data_dir>/<Name>/<Name>_TRAIN<ext>` and `<Name>_TEST<ext>`, both with
the same extension. `ucr:` tries `.tsv` (2018 archive, tab-separated), `.txt`
and no extension (older archives, comma- or space-separated), then `.ts`
(aeon/sktime format, `ts_format`), and takes the first extension that both
files have; `uea:` (the multivariate archive) reads `.ts` only. In the text
files each line is a numeric label followed by the series.

Labels are remapped to 0..K-1 by sorting the labels of both files together,
numerically (by value) when every label is a finite number, otherwise as
strings, so train and test agree and labels 1, 2, 10 keep that order. Series
are shaped (T, D) (D = 1 for the univariate text files) and z-normalised per
series and per dimension (the archive's custom). Variable-length sets (NaN
padding, `.ts` unequal lengths) and missing values are refused.
"""
from __future__ import annotations

import difflib
import functools
import os
import re

import numpy as np
import tensorflow as tf

from tfcompress.data import ts_format
from tfcompress.data.source import SPLITS, DatasetInfo, Request, Source

# File extensions tried in order, per dataset kind.
EXTENSIONS = {"ucr": (".tsv", ".txt", "", ".ts"), "uea": (".ts",)}
_ARCHIVES = {"ucr": "UCR", "uea": "UEA"}
_SEPARATORS = re.compile(r"[\s,]+")


def _set_dir(request: Request) -> str:
    if request.data_dir is None:
        raise ValueError(f"dataset {request.name!r} needs data_dir: the folder of the {_ARCHIVES[request.kind]} "
                         f"archive that holds {request.target}/{request.target}_TRAIN"
                         f"{EXTENSIONS[request.kind][0]}")
    folder = os.path.join(request.data_dir, request.target)
    if not os.path.isdir(folder):
        present = sorted(os.listdir(request.data_dir)) if os.path.isdir(request.data_dir) else []
        hint = difflib.get_close_matches(request.target, present, n=1)
        raise FileNotFoundError(f"dataset {request.name!r}: folder {folder!r} not found; expected the "
                                f"{_ARCHIVES[request.kind]} set {request.target!r} under "
                                f"data_dir={request.data_dir!r}."
                                + (f" Did you mean '{request.kind}:{hint[0]}'?" if hint else ""))
    return folder


def _files(request: Request) -> tuple[str, str]:
    """(train path, test path) with the first extension of the kind that both files have."""
    folder, extensions = _set_dir(request), EXTENSIONS[request.kind]
    stems = [os.path.join(folder, f"{request.target}_{split.upper()}") for split in SPLITS]
    found = [[extension for extension in extensions if os.path.isfile(stem + extension)] for stem in stems]
    for extension in extensions:
        if all(extension in present for present in found):
            return stems[0] + extension, stems[1] + extension
    for split, stem, present in zip(SPLITS, stems, found):
        if not present:
            raise FileNotFoundError(f"dataset {request.name!r}: no {split} file; expected one of "
                                    f"{[stem + extension for extension in extensions]}")
    raise FileNotFoundError(f"dataset {request.name!r}: the train file is {stems[0]}{found[0][0]} but the test "
                            f"file {stems[1]}{found[1][0]}; expected both with the same extension, one of "
                            f"{list(extensions)}")


def _parse(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(labels (N,), series (N, T, D)) of one `.ts` file, or of one text file (D = 1)."""
    if path.endswith(".ts"):
        return ts_format.parse(path)
    labels, series = _parse_text(path)
    return labels, series[..., np.newaxis]


def _parse_text(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(labels (N,), series (N, T)) of one archive text file; every line must hold the same number of values.

    Parsed by hand rather than with `np.loadtxt` so that a ragged or
    non-numeric line is reported with its file and line number.
    """
    rows = []
    with open(path) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            fields = _SEPARATORS.split(line.strip())
            try:
                values = [float(field) for field in fields]
            except ValueError as error:
                raise ValueError(f"{path}, line {number}: {error}; expected a numeric label then the "
                                 "series values") from None
            if len(values) < 2:
                raise ValueError(f"{path}, line {number}: only {len(values)} value(s); expected a label and a series")
            if rows and len(values) != len(rows[0]):
                raise ValueError(f"{path}, line {number}: series of length {len(values) - 1}; expected "
                                 f"{len(rows[0]) - 1} like the first series (unequal lengths are not supported)")
            rows.append(values)
    if not rows:
        raise ValueError(f"{path} holds no series; expected lines of a label followed by the series")
    table = np.asarray(rows, dtype=np.float64)
    if np.isnan(table).any():
        line = int(np.isnan(table).any(axis=1).argmax()) + 1
        raise ValueError(f"{path}: NaN values (first on data row {line}); expected equal-length series "
                         "without missing values (variable-length UCR sets are not supported)")
    return table[:, 0], table[:, 1:]


def _znormalise(series: np.ndarray) -> np.ndarray:
    """(N, T, D) series z-normalised over T, per series and per dimension."""
    mean = series.mean(axis=1, keepdims=True)
    std = series.std(axis=1, keepdims=True)
    return (series - mean) / np.where(std > 0, std, 1.0)  # a constant series becomes zeros


def _arrays(request: Request) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], int]:
    """({'train'|'test': (series (N, T, D) float32, labels (N,) int32)}, number of classes)."""
    paths = _files(request)
    stamps = tuple((os.stat(path).st_mtime_ns, os.stat(path).st_size) for path in paths)
    return _read_pair(request.name, paths, stamps)


@functools.lru_cache(maxsize=4)
def _read_pair(name: str, paths: tuple[str, str], stamps: tuple):
    """Both files of a set with shared label indices; cached while the files' (mtime, size) stay."""
    del stamps  # part of the cache key only
    raw = dict(zip(SPLITS, map(_parse, paths)))
    (train_length, train_dims), (test_length, test_dims) = (raw[split][1].shape[1:] for split in SPLITS)
    for what, train, test in (("length", train_length, test_length), ("dimension count", train_dims, test_dims)):
        if train != test:
            raise ValueError(f"dataset {name!r}: train series have {what} {train} but test series {test} "
                             f"({paths[0]} and {paths[1]}); expected the same {what} in both files")
    indices, num_classes = _class_indices([labels for labels, _ in raw.values()])
    splits = {split: (_znormalise(series).astype(np.float32), index)
              for (split, (_, series)), index in zip(raw.items(), indices)}
    return splits, num_classes


def _class_indices(labels: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Each label array as int32 indices into the sorted labels of all of them, and the number of classes.

    Labels are compared and sorted by value when every one is a finite number
    (so "1", "1.0", 1.0 are one class, and 2 sorts before 10), else as strings.
    """
    try:
        keys = [np.asarray(each, dtype=np.float64) for each in labels]
        numeric = all(np.isfinite(each).all() for each in keys)
    except ValueError:
        numeric = False
    if not numeric:
        keys = [np.asarray(each).astype(str) for each in labels]
    classes = np.unique(np.concatenate(keys))
    return [np.searchsorted(classes, each).astype(np.int32) for each in keys], len(classes)


def describe(request: Request) -> DatasetInfo:
    """Series length, classes and split sizes (reads both files: they are small)."""
    splits, num_classes = _arrays(request)
    train, test = splits["train"][1], splits["test"][1]
    return DatasetInfo(request.name, splits["train"][0].shape[1:], num_classes, len(train), len(test))


def read(request: Request, split: str) -> Source:
    """One split as (series (T, D), label) examples."""
    series, labels = _arrays(request)[0][split]
    return Source(tf.data.Dataset.from_tensor_slices((series, labels)), len(labels))
