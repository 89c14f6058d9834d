"""UCR time-series classification archive sets (`ucr:<Name>`), read from the archive's text files.

Files: `<data_dir>/<Name>/<Name>_TRAIN.tsv` and `_TEST.tsv` (2018 archive,
tab-separated), or the older `.txt` / extension-less files (comma- or
space-separated). Each line is a label followed by the series. Labels are
remapped to 0..K-1 by sorting the labels of both files together, so train and
test agree; each series is z-normalised on its own (the archive's custom) and
shaped (T, 1). Variable-length sets (NaN padding) are refused.
"""
from __future__ import annotations

import difflib
import functools
import os
import re

import numpy as np
import tensorflow as tf

from tfcompress.data.source import DatasetInfo, Request, Source

EXTENSIONS = (".tsv", ".txt", "")
_SEPARATORS = re.compile(r"[\s,]+")


def _set_dir(request: Request) -> str:
    if request.data_dir is None:
        raise ValueError(f"dataset {request.name!r} needs data_dir: the folder of the UCR archive that holds "
                         f"{request.target}/{request.target}_TRAIN.tsv")
    folder = os.path.join(request.data_dir, request.target)
    if not os.path.isdir(folder):
        present = sorted(os.listdir(request.data_dir)) if os.path.isdir(request.data_dir) else []
        hint = difflib.get_close_matches(request.target, present, n=1)
        raise FileNotFoundError(f"dataset {request.name!r}: folder {folder!r} not found; expected the UCR set "
                                f"{request.target!r} under data_dir={request.data_dir!r}."
                                + (f" Did you mean 'ucr:{hint[0]}'?" if hint else ""))
    return folder


def _file(request: Request, split: str) -> str:
    stem = os.path.join(_set_dir(request), f"{request.target}_{split.upper()}")
    candidates = [stem + extension for extension in EXTENSIONS]
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"dataset {request.name!r}: no {split} file; expected one of {candidates}")


def _parse(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(labels (N,), series (N, T)) of one archive file; every line must hold the same number of values.

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
    mean = series.mean(axis=1, keepdims=True)
    std = series.std(axis=1, keepdims=True)
    return (series - mean) / np.where(std > 0, std, 1.0)  # a constant series becomes zeros


def _arrays(request: Request) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], int]:
    """({'train'|'test': (series (N, T, 1) float32, labels (N,) int32)}, number of classes)."""
    paths = tuple(_file(request, split) for split in ("train", "test"))
    stamps = tuple((os.stat(path).st_mtime_ns, os.stat(path).st_size) for path in paths)
    return _read_pair(request.name, paths, stamps)


@functools.lru_cache(maxsize=4)
def _read_pair(name: str, paths: tuple[str, str], stamps: tuple):
    """Both files of a set with shared label indices; cached while the files' (mtime, size) stay."""
    del stamps  # part of the cache key only
    raw = dict(zip(("train", "test"), map(_parse, paths)))
    lengths = {split: series.shape[1] for split, (_, series) in raw.items()}
    if lengths["train"] != lengths["test"]:
        raise ValueError(f"dataset {name!r}: train series have length {lengths['train']} but test "
                         f"series {lengths['test']}; expected the same length in both files")
    classes = np.unique(np.concatenate([labels for labels, _ in raw.values()]))
    splits = {split: (_znormalise(series)[..., np.newaxis].astype(np.float32),
                      np.searchsorted(classes, labels).astype(np.int32))
              for split, (labels, series) in raw.items()}
    return splits, len(classes)


def describe(request: Request) -> DatasetInfo:
    """Series length, classes and split sizes (reads both files: they are small)."""
    splits, num_classes = _arrays(request)
    train, test = splits["train"][1], splits["test"][1]
    return DatasetInfo(request.name, splits["train"][0].shape[1:], num_classes, len(train), len(test))


def read(request: Request, split: str) -> Source:
    """One split as (series (T, 1), label) examples."""
    series, labels = _arrays(request)[0][split]
    return Source(tf.data.Dataset.from_tensor_slices((series, labels)), len(labels))
