"""MNIST (Fashion-, K-), CIFAR-10/100 and ImageNet through tensorflow-datasets, from `data_dir`, never downloaded.

The MNIST family is read from its official IDX files instead when `data_dir`
holds them (`tfcompress.data.idx`). Conventions: pixels scaled to [0, 1]; the
MNIST family stays there (as the digits do),
CIFAR and ImageNet are then standardised per channel with the usual training
set statistics. ImageNet's `test` split is tfds' `validation` (the test labels
are not public); its images are resized to `image_size` (default 224): a
random resized crop and flip when augmenting, otherwise the shorter side is
resized to `image_size / 0.875` and the centre cropped.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import tensorflow as tf
import tensorflow_datasets as tfds

from tfcompress.data import augment, idx
from tfcompress.data.images import output_channels, reshape_image, to_unit
from tfcompress.data.source import Augment, DatasetInfo, Request, Source

IMAGENET_SIZE = 224
CENTRE_CROP_FRACTION = 0.875


@dataclasses.dataclass(frozen=True)
class TfdsSet:
    """How one tfds image set becomes tfcompress examples."""

    tfds_name: str
    augmentation: Callable[[int], Augment]  # image side -> training augmentation
    test_split: str = "test"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    default_size: int | None = None    # None: keep the stored size
    variable_size: bool = False        # stored images differ in size (crop to default_size)


def _cifar_augmentation(side: int) -> Augment:
    del side  # 4-pixel padding at any size, as in the CIFAR papers
    return augment.crop_flip()


SETS = {
    "mnist": TfdsSet("mnist", augment.small_shift),
    "fashion_mnist": TfdsSet("fashion_mnist", augment.small_shift),
    "kmnist": TfdsSet("kmnist", augment.small_shift),
    "cifar10": TfdsSet("cifar10", _cifar_augmentation,
                       mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616)),
    "cifar100": TfdsSet("cifar100", _cifar_augmentation,
                        mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762)),
    "imagenet2012": TfdsSet("imagenet2012", augment.resized_crop_flip, test_split="validation",
                            mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                            default_size=IMAGENET_SIZE, variable_size=True),
}


def _open(request: Request, split: str, shuffle_files: bool = False, seed: int = 0) -> tf.data.Dataset:
    """`tfds.load` of one split as (image uint8, label int64), or a FileNotFoundError if it is not prepared."""
    spec = SETS[request.target]
    tfds_split = spec.test_split if split == "test" else split
    try:
        return tfds.load(spec.tfds_name, split=tfds_split, data_dir=request.data_dir, as_supervised=True,
                         download=False, shuffle_files=shuffle_files,
                         read_config=tfds.ReadConfig(shuffle_seed=seed))
    except AssertionError as error:  # tfds' way of saying "not prepared in data_dir"
        where = repr(request.data_dir) if request.data_dir else "None (tfds' default, ~/tensorflow_datasets)"
        manual = (" (its source files must first be downloaded by hand into <dir>/downloads/manual)"
                  if tfds.builder_cls(spec.tfds_name).MANUAL_DOWNLOAD_INSTRUCTIONS else "")
        raise FileNotFoundError(
            f"dataset {request.name!r}: tfds dataset {spec.tfds_name!r} (split {tfds_split!r}) is not "
            f"prepared in data_dir={where}, and tfcompress never downloads. Prepare it there first, "
            f"e.g. `tfds build {spec.tfds_name} --data_dir=<dir>`{manual}, then pass data_dir=<dir>."
            + (f" Or pass the folder holding its official IDX files ({', '.join(idx.FILES['train'])}, ...; "
               "`tools/get_data.sh mnist` fetches MNIST's offline)." if request.target in idx.SETS else "")) from error


def _size(examples: tf.data.Dataset, request: Request, split: str) -> int:
    count = int(examples.cardinality())
    if count < 0:
        raise ValueError(f"dataset {request.name!r}: tfds does not know the size of split {split!r}")
    return count


def _features(request: Request) -> tuple[tuple[int, int, int], int]:
    """(final image shape, number of classes) from the tfds features, without reading data."""
    spec = SETS[request.target]
    features = tfds.builder(spec.tfds_name, data_dir=request.data_dir).info.features
    height, width, native = features["image"].shape
    channels = output_channels(request.name, native, request.channels)
    size = request.image_size or spec.default_size
    return ((size, size) if size else (height, width)) + (channels,), features["label"].num_classes


def describe(request: Request) -> DatasetInfo:
    """Shape, classes and split sizes from tfds' metadata (raises FileNotFoundError if not prepared)."""
    shape, num_classes = _features(request)
    sizes = [_size(_open(request, split), request, split) for split in ("train", "test")]
    return DatasetInfo(request.name, shape, num_classes, *sizes)


def _centre_crop(size: int) -> Callable[[tf.Tensor], tf.Tensor]:
    """Shorter side to `size / CENTRE_CROP_FRACTION` (aspect kept), then the central `size` square."""
    def apply(image: tf.Tensor) -> tf.Tensor:
        hw = tf.cast(tf.shape(image)[:2], tf.float32)
        scale = size / CENTRE_CROP_FRACTION / tf.reduce_min(hw)
        resized = tf.image.resize(image, tf.cast(tf.round(hw * scale), tf.int32), method="bilinear")
        return tf.image.resize_with_crop_or_pad(resized, size, size)
    return apply


def read(request: Request, split: str, shuffle_files: bool = False, seed: int = 0) -> Source:
    """One split, decoded lazily; fixed-size sets are resized and recoloured in the map."""
    spec = SETS[request.target]
    shape, _ = _features(request)
    raw = _open(request, split, shuffle_files, seed)
    size = None if spec.variable_size else request.image_size
    examples = raw.map(lambda x, y: (reshape_image(to_unit(x, 255.0), size, shape[-1]), tf.cast(y, tf.int32)),
                       num_parallel_calls=tf.data.AUTOTUNE)
    return Source(examples, _size(raw, request, split), augment=spec.augmentation(shape[0]),
                  prepare=_centre_crop(shape[0]) if spec.variable_size else None,
                  mean=spec.mean, std=spec.std)
