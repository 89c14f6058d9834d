"""How a sparsity budget is spread over layers: uniform, ERK (Evci et al. 2020) or per kind (DSR paper)."""
from __future__ import annotations

import numpy as np

DISTRIBUTIONS = ("uniform", "erk", "per_kind")


def check_sparsity(name: str, value: float) -> float:
    """Return `value` if it is a sparsity in [0, 1); raise ValueError naming `name` otherwise."""
    if value is None or not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be a sparsity in [0, 1), got {value}")
    return float(value)


def layer_densities(kernel_shapes: list[tuple], distribution: str = "uniform",
                    sparsity: float | None = None, conv_sparsity: float = 0.5,
                    dense_sparsity: float = 0.98) -> list[float]:
    """Density (fraction of non-zeros) of each kernel.

    `uniform`: every kernel at `sparsity`. `erk`: density proportional to
    `sum(shape) / prod(shape)` (Erdos-Renyi-Kernel), scaled so that the total
    is `1 - sparsity`; kernels that would exceed density 1 are made dense and
    the rest rescaled (as in rigl's `sparse_utils`). `per_kind`: convolution
    kernels (rank > 2) at `conv_sparsity`, dense ones at `dense_sparsity`.
    """
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
    if distribution == "per_kind":
        conv = 1.0 - check_sparsity("conv_sparsity", conv_sparsity)
        dense = 1.0 - check_sparsity("dense_sparsity", dense_sparsity)
        return [conv if len(shape) > 2 else dense for shape in kernel_shapes]
    density = 1.0 - check_sparsity("sparsity", sparsity)
    if distribution == "uniform":
        return [density] * len(kernel_shapes)
    return _erk(kernel_shapes, density)


def _erk(kernel_shapes: list[tuple], density: float) -> list[float]:
    sizes = np.array([np.prod(s) for s in kernel_shapes], dtype=np.float64)
    raw = np.array([np.sum(s) / np.prod(s) for s in kernel_shapes], dtype=np.float64)
    dense = np.zeros(len(sizes), dtype=bool)
    while True:
        budget = density * sizes.sum() - sizes[dense].sum()
        scale = budget / np.sum(raw[~dense] * sizes[~dense])
        over = ~dense & (scale * raw > 1.0)
        if not over.any():
            break
        dense |= over
    return [1.0 if d else float(scale * r) for d, r in zip(dense, raw)]
