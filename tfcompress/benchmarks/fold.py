"""Fold suite: inference throughput of a NoScope-style CNN, original vs FoldedCNNs f = 2, 3, 4.

Rows have the FoldedCNNs seed's columns ``Model,Trial,Fold,Batch Size,Mode,
Throughput,FLOPs/sec``: Throughput in images/s (a folded input counts its f
images, folding and unfolding timed too), FLOPs/sec = profiler FLOPs per
image x Throughput; trials interleaved across folds. Ratios: folded / original median throughput at each fold
and the largest batch (target >= 1.5 at f = 4), and the arithmetic intensity
(FLOPs per byte moved) of each model there. ``plot_throughput`` draws
throughput vs batch size, one line per fold.
"""
from __future__ import annotations

import dataclasses
import os
import statistics

from tfcompress import models
from tfcompress.benchmarks import SuiteResult
from tfcompress.folding import ImageTimer, arithmetic_intensity, flops, fold_model

COLUMNS = ("Model", "Trial", "Fold", "Batch Size", "Mode", "Throughput", "FLOPs/sec")
PLOT = "fold_throughput.png"


@dataclasses.dataclass(frozen=True)
class Sizes:
    """What the suite measures: full (the issue's) or quick (a smoke run for tests)."""

    model: str
    input_shape: tuple[int, int, int]
    num_classes: int
    folds: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    min_images: int


# NoScope's coral/night CNN (convs=2, filters=16, dense=128) on 50x50 RGB frames, 2 classes.
FULL = Sizes("noscope", (50, 50, 3), 2, (1, 2, 3, 4), (16, 64, 256, 1024), 1024)
QUICK = Sizes("noscope", (8, 8, 3), 2, (1, 2), (3, 4), 8)


def fold_rows(sizes: Sizes, repeats: int, result: SuiteResult) -> None:
    """Time each fold at each batch size; add rows, speed-up and intensity ratios.

    Trials are interleaved (round r times every fold and batch size once), so
    that load from other processes falls on all of them alike.
    """
    largest = max(sizes.batch_sizes)
    timers, flops_per_image = {}, {}
    for fold in sizes.folds:
        model = (models.build(sizes.model, sizes.input_shape, sizes.num_classes) if fold == 1
                 else fold_model(sizes.model, fold, sizes.input_shape, sizes.num_classes))
        flops_per_image[fold] = flops(model, 1) / fold
        costs = arithmetic_intensity(model, max(1, largest // fold))
        result.add_ratio(f"arithmetic intensity (FLOPs/byte), {_mode(fold)} f={fold}, "
                         f"batch {largest}", costs[-1].intensity)
        result.notes.append(f"f={fold}: {flops_per_image[fold]:.4g} FLOPs/image; per-layer "
                            "intensity " + ", ".join(f"{c.name} {c.intensity:.1f}"
                                                     for c in costs[:-1]))
        for batch_size in sizes.batch_sizes:
            timers[fold, batch_size] = ImageTimer(model, batch_size, fold, sizes.min_images)
            timers[fold, batch_size].warm_up()
    for trial in range(repeats):
        for (fold, batch_size), timer in timers.items():
            images_per_sec = timer.images / timer.trial()
            result.rows.append(dict(zip(COLUMNS, (
                sizes.model, trial, fold, batch_size, _mode(fold), images_per_sec,
                flops_per_image[fold] * images_per_sec))))
    medians = {fold: statistics.median(r["Throughput"] for r in result.rows
                                       if r["Fold"] == fold and r["Batch Size"] == largest)
               for fold in sizes.folds}
    for fold in sizes.folds[1:]:
        result.add_ratio(f"throughput f={fold} / original, batch {largest}, median of {repeats}",
                         medians[fold] / medians[1], ">= 1.5" if fold == 4 else "")


def _mode(fold: int) -> str:
    return "Original" if fold == 1 else "Folded"


def plot_throughput(rows: list[dict], png_path: str) -> str:
    """Median throughput vs batch size, one line per fold, from suite rows; return the path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("plot_throughput: no rows to plot")
    fig, ax = plt.subplots(figsize=(6, 4))
    for fold in sorted({int(r["Fold"]) for r in rows}):
        batches = sorted({int(r["Batch Size"]) for r in rows if int(r["Fold"]) == fold})
        medians = [statistics.median(float(r["Throughput"]) for r in rows
                                     if int(r["Fold"]) == fold and int(r["Batch Size"]) == b)
                   for b in batches]
        ax.plot(batches, medians, marker="o", label="original" if fold == 1 else f"folded f={fold}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size (images)")
    ax.set_ylabel("throughput (images/s, median)")
    ax.set_title(f"{rows[0]['Model']} inference throughput (CPU)")
    ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(png_path)), exist_ok=True)
    fig.savefig(png_path, dpi=120)
    plt.close(fig)
    return png_path


def run(quick: bool = False, repeats: int = 5) -> SuiteResult:
    """Run the suite; the full run also draws ``PLOT`` (throughput vs batch size per fold)."""
    result = SuiteResult()
    fold_rows(QUICK if quick else FULL, repeats, result)
    if not quick:
        result.plots[PLOT] = lambda path: plot_throughput(result.rows, path)
    return result
