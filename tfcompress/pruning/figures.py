"""Figures of a pruning run: weight histograms before/after and per-layer sparsity (PNG)."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_weight_histograms(before: Mapping[str, np.ndarray], after: Mapping[str, np.ndarray],
                           path: str, bins: int = 80) -> str:
    """One panel per layer: histogram of its kernel before pruning and of the non-zeros after."""
    if not before:
        raise ValueError("no weights to plot")
    plt = _pyplot()
    names = list(before)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3), squeeze=False)
    for ax, name in zip(axes[0], names):
        dense = np.ravel(before[name])
        kept = np.ravel(after[name])
        kept = kept[kept != 0]
        both = np.concatenate([dense, kept])
        edges = np.linspace(both.min(), both.max(), bins + 1)
        ax.hist(dense, bins=edges, alpha=0.5, label="before")
        ax.hist(kept, bins=edges, alpha=0.7, label="after (non-zero)")
        ax.set_title(f"{name}: {kept.size}/{dense.size}", fontsize=9)
        ax.set_yscale("log")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_layer_sparsity(sparsity: Mapping[str, float], path: str, title: str = "") -> str:
    """Bar plot of the fraction of zero weights per layer."""
    if not sparsity:
        raise ValueError("no layers to plot")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.2 * len(sparsity) + 2, 3.5))
    bars = ax.bar(list(sparsity), [100 * v for v in sparsity.values()])
    ax.bar_label(bars, fmt="%.1f%%", fontsize=8)
    ax.set_ylabel("zero weights (%)")
    ax.set_ylim(0, 105)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
