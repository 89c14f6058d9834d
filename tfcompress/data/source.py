"""What a dataset is to the rest of the package: a request, its description, and one split's examples."""
from __future__ import annotations

import dataclasses
import os
from typing import Callable

import tensorflow as tf

# `augment(x, seed)`: a stateless transform of one example; `seed` is an int64 pair.
Augment = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]

SPLITS = ("train", "test")


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Shape and size of a dataset as `load` yields it (after resizing and channel changes)."""

    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    num_train: int
    num_test: int


@dataclasses.dataclass(frozen=True)
class Request:
    """A dataset name with the options that shape its examples.

    `kind` is `digits`, `idx` (MNIST family from IDX files), `tfds`, `ucr`,
    `uea` or `video`; `target` is the set's name (tfds, MNIST family, UCR/UEA)
    or the video path.
    """

    name: str
    kind: str
    target: str
    data_dir: str | None = None
    image_size: int | None = None
    channels: int | None = None
    labels: str | None = None

    def path(self, path: str) -> str:
        """`path` as given when absolute or when there is no data_dir, else joined to data_dir."""
        if self.data_dir is None or os.path.isabs(path):
            return path
        return os.path.join(self.data_dir, path)


@dataclasses.dataclass(frozen=True)
class Source:
    """One split of a dataset before the shared pipeline (`pipeline.finish`).

    `examples` yields unbatched `(x float32, y int32)`, images scaled to [0, 1].
    When augmenting, `augment` maps each example to its final shape; otherwise
    `prepare` does (None: examples already have it). `mean`/`std` are the
    per-channel standardisation applied last (None: images stay in [0, 1]).
    """

    examples: tf.data.Dataset
    num_examples: int
    augment: Augment | None = None
    prepare: Callable[[tf.Tensor], tf.Tensor] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None


def check_split(split: str) -> str:
    """`split` if it is 'train' or 'test', else a ValueError naming it."""
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not a split of tfcompress datasets; expected one of {SPLITS}")
    return split
