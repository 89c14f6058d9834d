"""The MNIST family (`mnist`, `fashion_mnist`, `kmnist`) from the official IDX files, no tfds needed.

Files, in `data_dir` itself or in `data_dir/<name>/`, plain or gzipped:
`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
`t10k-labels-idx1-ubyte` (`tools/get_data.sh mnist` puts MNIST's in `data/mnist/`).
IDX is the format of LeCun's site: a big-endian header (two zero bytes, a type
code, the number of dimensions, then each dimension as a uint32) followed by
the values. Every file is checked: magic number, type, dimensions, size, and
that images and labels agree; a bad file is an error naming it.

Pixels are scaled to [0, 1] and not standardised (as the digits); training
augmentation is the digits' small random shift.
"""
from __future__ import annotations

import functools
import gzip
import os

import numpy as np
import tensorflow as tf

from tfcompress.data import augment
from tfcompress.data.images import output_channels, reshape_image, to_unit
from tfcompress.data.source import DatasetInfo, Request, Source

SETS = ("mnist", "fashion_mnist", "kmnist")
NUM_CLASSES = 10
SIDE = 28
MAX_PIXEL = 255.0
UBYTE = 0x08  # IDX type code of unsigned bytes, the only type these sets use
# split -> (images file, labels file); the official names, each possibly with ".gz".
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_ALL = tuple(name for pair in FILES.values() for name in pair)


def _candidates(data_dir: str, name: str, file: str) -> list[str]:
    return [os.path.join(folder, file + suffix) for folder in (data_dir, os.path.join(data_dir, name))
            for suffix in ("", ".gz")]


def available(name: str, data_dir: str | None) -> bool:
    """Whether `data_dir` (or `data_dir/<name>`) holds any of the set's IDX files."""
    return data_dir is not None and any(os.path.isfile(path) for file in _ALL
                                        for path in _candidates(data_dir, name, file))


def _path(request: Request, file: str) -> str:
    candidates = _candidates(request.data_dir, request.target, file)
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"dataset {request.name!r}: IDX file {file!r} not found; expected one of "
                            f"{candidates} (the other files of the set are there)")


def read_idx(path: str, ndim: int) -> np.ndarray:
    """The uint8 array of an IDX file (plain or .gz) with `ndim` dimensions, after checking its header and size."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as error:  # gzip's errors for a truncated or non-gzip file
        raise ValueError(f"{path}: cannot be read ({error}); expected an IDX file, plain or gzipped") from None
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: {len(raw)} bytes, shorter than the {header}-byte IDX header of a "
                         f"{ndim}-dimensional file")
    zero, kind, dims = int.from_bytes(raw[:2], "big"), raw[2], raw[3]
    if zero != 0 or kind != UBYTE or dims != ndim:
        raise ValueError(f"{path}: magic number 0x{raw[:4].hex()}; expected 0x0000{UBYTE:02x}{ndim:02x} "
                         f"(an IDX file of unsigned bytes with {ndim} dimension(s))")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise ValueError(f"{path}: {len(raw)} bytes; expected {expected} for the shape {shape} its header "
                         f"declares ({'truncated' if len(raw) < expected else 'trailing bytes'})")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


@functools.lru_cache(maxsize=2)
def _read_split(images_path: str, labels_path: str, stamps: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 28, 28), labels (N,)) of one split; cached while the files' (mtime, size) stay."""
    del stamps  # part of the cache key only
    images, labels = read_idx(images_path, 3), read_idx(labels_path, 1)
    if images.shape[1:] != (SIDE, SIDE):
        raise ValueError(f"{images_path}: images of {images.shape[1]}x{images.shape[2]} pixels; "
                         f"expected {SIDE}x{SIDE}")
    if len(images) != len(labels):
        raise ValueError(f"{images_path} holds {len(images)} images but {labels_path} {len(labels)} labels; "
                         "expected one label per image")
    if labels.size and labels.max() >= NUM_CLASSES:
        raise ValueError(f"{labels_path}: label {labels.max()} at index {int(labels.argmax())}; "
                         f"expected labels 0..{NUM_CLASSES - 1}")
    return images, labels


def _split(request: Request, split: str) -> tuple[np.ndarray, np.ndarray]:
    paths = tuple(_path(request, file) for file in FILES[split])
    stamps = tuple((os.stat(path).st_mtime_ns, os.stat(path).st_size) for path in paths)
    return _read_split(*paths, stamps)


def describe(request: Request) -> DatasetInfo:
    """Shape, classes and split sizes (reads and checks both splits; `read` then finds them cached)."""
    side = request.image_size or SIDE
    channels = output_channels(request.name, 1, request.channels)
    sizes = [len(_split(request, split)[1]) for split in FILES]
    return DatasetInfo(request.name, (side, side, channels), NUM_CLASSES, *sizes)


def read(request: Request, split: str) -> Source:
    """One split as (image (side, side, channels), label) examples, converted lazily per example."""
    images, labels = _split(request, split)
    channels = output_channels(request.name, 1, request.channels)
    examples = tf.data.Dataset.from_tensor_slices((images[..., np.newaxis], labels.astype(np.int32))).map(
        lambda x, y: (reshape_image(to_unit(x, MAX_PIXEL), request.image_size, channels), y),
        num_parallel_calls=tf.data.AUTOTUNE)
    return Source(examples, len(labels), augment=augment.small_shift(request.image_size or SIDE))
