"""The report's figures (matplotlib PNG), each from the aggregated rows or per-seed outcomes."""
from __future__ import annotations

import os
import shutil

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)

SPARSE_METHODS = ("dsr", "rigl", "tfmot", "threshold")


def _save(fig, path: str) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _dense_line(ax, rows: list[dict]) -> None:
    for row in rows:
        if row["technique"] == "dense":
            ax.axhline(row["accuracy_mean"], color="grey", linestyle="--", label="dense")


def accuracy_vs_compress_rate(rows: list[dict], path: str) -> str | None:
    """Band-limited convolution: accuracy (mean, std over seeds) against compress rate in %."""
    points = sorted((r for r in rows if r["technique"] == "spectral"), key=lambda r: r["setting"])
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.errorbar([100 * r["setting"] for r in points], [r["accuracy_mean"] for r in points],
                yerr=[r["accuracy_std"] for r in points], marker="o", capsize=3, label="spectral")
    _dense_line(ax, rows)
    ax.set_xlabel("compress rate (% of the spectrum dropped)")
    ax.set_ylabel("test accuracy")
    ax.set_title("Band-limited convolution: accuracy vs compression")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def accuracy_vs_sparsity(rows: list[dict], path: str) -> str | None:
    """Each sparse method's accuracy against the sparsity it reached (all weights of the model)."""
    methods = [m for m in SPARSE_METHODS if any(r["technique"] == m for r in rows)]
    if not methods:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for method in methods:
        points = sorted((r for r in rows if r["technique"] == method), key=lambda r: r["sparsity"])
        ax.errorbar([100 * r["sparsity"] for r in points], [r["accuracy_mean"] for r in points],
                    yerr=[r["accuracy_std"] for r in points], marker="o", capsize=3, label=method)
    _dense_line(ax, rows)
    ax.set_xlabel("sparsity (% of all parameters that are zero)")
    ax.set_ylabel("test accuracy")
    ax.set_title("Sparse methods: accuracy vs sparsity")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def layer_sparsity(outcome: dict | None, path: str, title: str) -> str | None:
    """Per-layer sparsity before and after DSR's re-allocation (bars per layer)."""
    if not outcome or "layer_sparsity" not in outcome:
        return None
    names = list(outcome["layer_sparsity"])
    before, after = zip(*outcome["layer_sparsity"].values())
    fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(names)), 4))
    positions = range(len(names))
    ax.bar([p - 0.2 for p in positions], [100 * v for v in before], width=0.4, label="initial (ERK)")
    ax.bar([p + 0.2 for p in positions], [100 * v for v in after], width=0.4, label="after training")
    ax.set_xticks(list(positions), names, rotation=45, ha="right")
    ax.set_ylabel("sparsity (%)")
    ax.set_title(title)
    ax.legend()
    return _save(fig, path)


def copied(source: str | None, path: str) -> str | None:
    """A figure a technique already drew (threshold pruning's weight histograms), copied here."""
    if not source or not os.path.exists(source):
        return None
    return shutil.copyfile(source, path)


def throughput_vs_batch(curves: dict[str, dict[str, float]], path: str) -> str | None:
    """Images/s against batch size, one line per fold (`{"f=1": {"16": 1234.5, ...}, ...}`)."""
    if len(curves) < 2:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, curve in curves.items():
        batches = sorted(curve, key=int)
        ax.plot([int(b) for b in batches], [curve[b] for b in batches], marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size (images)")
    ax.set_ylabel("images / s (CPU)")
    ax.set_title("FoldedCNN inference throughput")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)
