"""Datasets as `tf.data` pipelines of `(x float32, y int32)` batches, channels_last.

Names (`NAMES`):
- `digits` (default): scikit-learn's bundled 8x8 digits, no download; fixed
  stratified 80/20 split; `image_size=28|32` upsamples, `channels=3` repeats grey.
- `mnist`, `fashion_mnist`, `kmnist`: from the official IDX files when `data_dir`
  (or `data_dir/<name>`) holds them (`tools/get_data.sh mnist` fetches MNIST's
  offline), otherwise like the next ones.
- `mnist`, `fashion_mnist`, `kmnist`, `cifar10`, `cifar100`, `imagenet2012`:
  tensorflow-datasets sets read from `data_dir` (never downloaded); ImageNet's
  test split is its validation set.
- `ucr:<Name>`: a UCR archive set under `data_dir` (`.tsv`, `.txt`, no extension,
  then `.ts`), series shaped (T, D) (D = 1: univariate).
- `uea:<Name>`: a UEA (multivariate) archive set under `data_dir`, `.ts` files
  only, series shaped (T, D). In both archives each dimension is z-normalised
  on its own, and labels are indexed in sorted order (numeric when every label
  is a number, else as strings).
- `video:<path>`: labelled frames of a video, with a `frame,label` CSV (`labels`).

Values: images are scaled to [0, 1]; CIFAR and ImageNet are then standardised
per channel with their usual statistics, the digit sets and video frames are
not; time series are z-normalised per series. `augment=True` applies the set's
standard augmentation (digits, MNIST, video: small random translation; CIFAR:
4-pixel-padded random crop and horizontal flip; ImageNet: random resized crop
and flip), deterministic given `seed`.
"""
from __future__ import annotations

import tensorflow as tf

from tfcompress.data import pipeline, registry
from tfcompress.data.registry import DEFAULT, NAMES
from tfcompress.data.source import Augment, DatasetInfo, check_split

__all__ = ["DEFAULT", "NAMES", "Augment", "DatasetInfo", "describe", "examples", "load"]


def _check_count(what: str, value: int | None, optional: bool) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what}={value!r}; expected a positive int" + (" or None" if optional else ""))


def describe(name: str = DEFAULT, data_dir: str | None = None, image_size: int | None = None,
             labels: str | None = None, channels: int | None = None) -> DatasetInfo:
    """Input shape, classes and split sizes of `name` as `load` would yield it, reading as little as it can."""
    return registry.describe(registry.request(name, data_dir, image_size, channels, labels))


def _prepared(name: str, split: str, data_dir: str | None, image_size: int | None, augment: bool,
              labels: str | None, limit: int | None, channels: int | None, shuffle_files: bool = False,
              seed: int = 0) -> tuple[tf.data.Dataset, Augment | None, int]:
    """(examples, augmentation, number of examples) after every argument is checked."""
    check_split(split)
    _check_count("limit", limit, optional=True)
    req = registry.request(name, data_dir, image_size, channels, labels)
    found = registry.source(req, split, augment, shuffle_files, seed)
    finished, augment_fn = pipeline.finish(found, augment, limit)
    return finished, augment_fn, min(found.num_examples, limit or found.num_examples)


def examples(name: str = DEFAULT, split: str = "train", data_dir: str | None = None,
             image_size: int | None = None, augment: bool = False, labels: str | None = None,
             limit: int | None = None, channels: int | None = None) -> tuple[tf.data.Dataset, Augment | None]:
    """Unbatched, unshuffled examples of one split and, with `augment`, the stateless augmentation.

    For callers that order and augment epochs themselves: apply
    `augment(x, seed)` (an int64 seed pair per example) to each example;
    without `augment` the examples are final and the function is None.
    """
    finished, augment_fn, _ = _prepared(name, split, data_dir, image_size, augment, labels, limit, channels)
    return finished, augment_fn


def load(name: str = DEFAULT, split: str = "train", data_dir: str | None = None, batch_size: int = 32,
         image_size: int | None = None, augment: bool = False, shuffle: bool | None = None, seed: int = 0,
         labels: str | None = None, limit: int | None = None, channels: int | None = None) -> tf.data.Dataset:
    """Batches `(x float32, y int32)` of one split, prefetched, the last batch possibly smaller.

    `shuffle=None` shuffles the train split only; shuffling is reshuffled every
    epoch and, like augmentation, deterministic given `seed`. `limit` keeps the
    first `limit` examples (smoke runs).
    """
    _check_count("batch_size", batch_size, optional=False)
    shuffle = split == "train" if shuffle is None else shuffle
    finished, augment_fn, count = _prepared(name, split, data_dir, image_size, augment, labels, limit,
                                            channels, shuffle_files=shuffle and limit is None, seed=seed)
    return pipeline.batches(finished, augment_fn, num_examples=count, batch_size=batch_size, shuffle=shuffle,
                            seed=seed)
