"""Compressed sparse row storage of a pruned model's weights, and what it saves.

`to_csr(model, path)` writes one uncompressed `.npz` file: every kernel
(a weight with 2 or more axes) reshaped to a matrix (prod(shape[:-1]), shape[-1])
as CSR `values` (float32), column `indices` and row pointers `indptr`, plus its
`shape`; every other weight (biases, BatchNorm statistics) dense. Indices and
pointers use the smallest unsigned integer type that holds them (uint8 for
matrices of <= 256 columns, uint16, uint32), which is what decides where CSR
starts to pay: with float32 values and uint16 indices a matrix must be more
than ~1/3 zeros, with int32 indices more than 1/2 (Han et al. get lower with
4-8 bit relative indices and quantised values, which this plain CSR does not do).
"""
from __future__ import annotations

import csv
import dataclasses
import os

import numpy as np
import scipy.sparse
import tf_keras as keras

_NAMES = "names"


def _index_dtype(largest: int) -> np.dtype:
    for dtype in (np.uint8, np.uint16, np.uint32):
        if largest <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


@dataclasses.dataclass
class CsrEntry:
    """Storage of one weight: dense bytes, stored bytes, and the sparsity where CSR breaks even."""

    name: str
    shape: tuple
    nonzeros: int
    dense_bytes: int
    stored_bytes: int
    sparse: bool
    value_bytes: int = 4
    index_bytes: int = 0
    pointer_bytes: int = 0

    @property
    def size(self) -> int:
        """Number of entries of the weight."""
        return int(np.prod(self.shape))

    @property
    def sparsity(self) -> float:
        """Fraction of zeros."""
        return 1.0 - self.nonzeros / self.size

    @property
    def break_even_sparsity(self) -> float | None:
        """The sparsity above which CSR is smaller than dense (None for weights stored dense).

        CSR bytes = nnz * (value + index bytes) + (rows + 1) * pointer bytes.
        """
        if not self.sparse:
            return None
        rows = self.size // self.shape[-1]
        nnz = (self.dense_bytes - (rows + 1) * self.pointer_bytes) / (self.value_bytes + self.index_bytes)
        return 1.0 - nnz / self.size


@dataclasses.dataclass
class CsrReport:
    """Sizes of a CSR file: per weight and in total (bytes of the arrays and of the file)."""

    entries: list[CsrEntry]
    file_bytes: int

    @property
    def dense_bytes(self) -> int:
        """Bytes of all weights stored dense as float32."""
        return sum(e.dense_bytes for e in self.entries)

    @property
    def csr_bytes(self) -> int:
        """Bytes of the stored arrays (CSR kernels + dense others)."""
        return sum(e.stored_bytes for e in self.entries)

    @property
    def ratio(self) -> float:
        """dense_bytes / csr_bytes."""
        return self.dense_bytes / self.csr_bytes

    @property
    def file_ratio(self) -> float:
        """dense_bytes / the size of the file on disk (array headers and zip directory included)."""
        return self.dense_bytes / self.file_bytes

    @property
    def break_even_sparsity(self) -> float:
        """The sparsity, the same in every kernel, at which the whole CSR file's arrays
        equal the dense bytes (stored bytes are linear in the kernels' density)."""
        sparse = [e for e in self.entries if e.sparse]
        fixed = sum(e.stored_bytes for e in self.entries if not e.sparse)
        fixed += sum((e.size // e.shape[-1] + 1) * e.pointer_bytes for e in sparse)
        per_density = sum(e.size * (e.value_bytes + e.index_bytes) for e in sparse)
        return 1.0 - (self.dense_bytes - fixed) / per_density

    def rows(self) -> list[dict]:
        """One dict per weight and a "total" row, for CSV and printing."""
        rows = [{"weight": e.name, "shape": "x".join(map(str, e.shape)), "nonzeros": e.nonzeros,
                 "sparsity": round(e.sparsity, 4), "dense_bytes": e.dense_bytes,
                 "csr_bytes": e.stored_bytes, "ratio": round(e.dense_bytes / e.stored_bytes, 3),
                 "break_even_sparsity": None if e.break_even_sparsity is None
                 else round(e.break_even_sparsity, 4)} for e in self.entries]
        nonzeros = sum(e.nonzeros for e in self.entries)
        rows.append({"weight": "total", "shape": "", "nonzeros": nonzeros,
                     "sparsity": round(1 - nonzeros / sum(e.size for e in self.entries), 4),
                     "dense_bytes": self.dense_bytes, "csr_bytes": self.csr_bytes,
                     "ratio": round(self.ratio, 3),
                     "break_even_sparsity": round(self.break_even_sparsity, 4)})
        return rows

    def to_csv(self, path: str) -> str:
        """Write `rows()` to `path`, with the file size as a last row."""
        rows = self.rows()
        rows.append({"weight": "file", "csr_bytes": self.file_bytes, "dense_bytes": self.dense_bytes,
                     "ratio": round(self.file_ratio, 3)})
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return path

    def __str__(self) -> str:
        lines = [f"{'weight':<28} {'shape':>14} {'sparsity':>9} {'dense B':>10} {'CSR B':>10} "
                 f"{'ratio':>7} {'break-even':>10}"]
        for row in self.rows():
            even = "" if row["break_even_sparsity"] is None else f"{row['break_even_sparsity']:.3f}"
            lines.append(f"{row['weight']:<28} {row['shape']:>14} {row['sparsity']:>9.3f} "
                         f"{row['dense_bytes']:>10} {row['csr_bytes']:>10} {row['ratio']:>7.2f} "
                         f"{even:>10}")
        lines.append(f"file: {self.file_bytes} bytes, {self.file_ratio:.2f}x smaller than "
                     f"{self.dense_bytes} dense bytes")
        return "\n".join(lines)


def to_csr(model: keras.Model, path: str) -> CsrReport:
    """Write the weights of `model` to `path` (.npz, see the module doc); return the size report."""
    if not model.weights:
        raise ValueError(f"model {model.name!r} has no weights to store (build it first)")
    arrays = {_NAMES: np.array([w.name for w in model.weights])}
    entries = []
    for i, weight in enumerate(model.weights):
        value = weight.numpy()
        dense_bytes = value.size * 4
        if value.ndim < 2:
            arrays[f"{i}.dense"] = value
            entries.append(CsrEntry(weight.name, value.shape, int(np.count_nonzero(value)),
                                    dense_bytes, value.nbytes, sparse=False))
            continue
        # scipy builds the CSR arrays; only their integer types are narrowed here.
        matrix = scipy.sparse.csr_matrix(value.reshape(-1, value.shape[-1]).astype(np.float32))
        matrix.eliminate_zeros()
        stored = {"values": matrix.data,
                  "indices": matrix.indices.astype(_index_dtype(value.shape[-1] - 1)),
                  "indptr": matrix.indptr.astype(_index_dtype(matrix.nnz)),
                  "shape": np.array(value.shape, np.int64)}
        arrays.update({f"{i}.{key}": array for key, array in stored.items()})
        entries.append(CsrEntry(weight.name, value.shape, int(matrix.nnz), dense_bytes,
                                sum(stored[k].nbytes for k in ("values", "indices", "indptr")),
                                sparse=True, index_bytes=stored["indices"].itemsize,
                                pointer_bytes=stored["indptr"].itemsize))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return CsrReport(entries, os.path.getsize(path))


def from_csr(path: str, model: keras.Model | None = None) -> dict[str, np.ndarray]:
    """The dense weights stored by `to_csr`, by weight name, in the model's order.

    With `model`, they are also assigned to it; its weights must have the same
    names and shapes (ValueError otherwise, before anything is assigned).
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"CSR file {path!r} does not exist")
    with np.load(path, allow_pickle=False) as stored:
        if _NAMES not in stored:
            raise ValueError(f"{path!r} is not a file written by to_csr (no {_NAMES!r} array)")
        weights = {}
        for i, name in enumerate(stored[_NAMES]):
            if f"{i}.dense" in stored:
                weights[str(name)] = stored[f"{i}.dense"]
                continue
            shape = tuple(int(d) for d in stored[f"{i}.shape"])
            matrix = scipy.sparse.csr_matrix(
                (stored[f"{i}.values"], stored[f"{i}.indices"].astype(np.int64),
                 stored[f"{i}.indptr"].astype(np.int64)),
                shape=(int(np.prod(shape[:-1])), shape[-1]))
            weights[str(name)] = matrix.toarray().reshape(shape)
    if model is not None:
        expected = [(w.name, tuple(w.shape)) for w in model.weights]
        found = [(name, value.shape) for name, value in weights.items()]
        if expected != found:
            raise ValueError(f"{path!r} does not match model {model.name!r}: file has {found}, "
                             f"model has {expected}")
        for variable, value in zip(model.weights, weights.values()):
            variable.assign(value)
    return weights
