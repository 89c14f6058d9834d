"""Small IDX files in the official layout, for tests of the MNIST-family reader and the MNIST suites."""
from __future__ import annotations

import gzip
import pathlib

import numpy as np

NAMES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def idx_bytes(array: np.ndarray) -> bytes:
    """`array` (uint8) as an IDX file: two zero bytes, type 0x08, the rank, each dimension, the values."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, np.uint8).tobytes()


def write_set(folder: pathlib.Path, counts=(256, 128), seed: int = 0, gz: bool = False) -> dict:
    """Write a learnable 10-class set (class k lights up row band k) to `folder`; return the arrays."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, count in zip(NAMES, counts):
        labels = rng.integers(0, 10, count).astype(np.uint8)
        images = rng.integers(0, 60, (count, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            images[i, 2 + 2 * label:4 + 2 * label, 4:24] = 255
        arrays[split] = (images, labels)
        for name, array in zip(NAMES[split], (images, labels)):
            raw = idx_bytes(array)
            if gz:
                (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
            else:
                (folder / name).write_bytes(raw)
    return arrays
