"""Fold suite: inference throughput of a NoScope-style CNN, original vs FoldedCNNs f = 2, 3, 4.

Rows have the FoldedCNNs seed's columns ``Model,Trial,Fold,Batch Size,Mode,
Throughput,FLOPs/sec``: Throughput in images/s (a folded input counts its f
images), FLOPs/sec = profiler FLOPs per image x Throughput. Every model is
timed in float32 and, with the same weights, in bfloat16
(`tfcompress.models.with_policy`), the faster way to serve it on CPUs with
bfloat16 units (AMX, AVX512-BF16) and on GPUs; and fed two ways (the Model
column says which, e.g. ``noscope [bfloat16, model only]``):

- model only, as the seed's ``inference.py`` measures: a batch is Batch Size
  inputs already in the model's layout and precision (a folded input holds f
  images), and only the model runs;
- end to end: a batch is Batch Size images in the model's precision, and
  folding and unfolding are timed with the model.

Trials are interleaved across layouts, precisions, folds and batch sizes.

Ratios, at the largest batch: folded / original median throughput at each
fold, precision and layout (target >= 1.5 at f = 4, model only); the
arithmetic intensity (FLOPs per byte moved) of each model; and each model's
FLOPs/sec as a fraction of a large matmul's in the same precision (how close
to what the device can reach it runs). ``plot_throughput`` draws throughput
vs batch size, one line per model and fold.
"""
from __future__ import annotations

import dataclasses
import os
import statistics

import tensorflow as tf
import tf_keras as keras

from tfcompress import models
from tfcompress.benchmarks import SuiteResult, time_fn
from tfcompress.folding import ImageTimer, arithmetic_intensity, flops, fold_model
from tfcompress.models import with_policy

COLUMNS = ("Model", "Trial", "Fold", "Batch Size", "Mode", "Throughput", "FLOPs/sec")


@dataclasses.dataclass(frozen=True)
class Sizes:
    """What the suite measures: full (the issue's) or quick (a smoke run for tests)."""

    model: str
    input_shape: tuple[int, int, int]
    num_classes: int
    folds: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    min_images: int
    precisions: tuple[str, ...]  # Keras dtype policies the models run under (`with_policy`)
    matmul: int  # size of the square matmul whose FLOPs/sec is the reference for each precision


# NoScope's coral/night CNN (convs=2, filters=16, dense=128) on 50x50 RGB frames, 2 classes.
FULL = Sizes("noscope", (50, 50, 3), 2, (1, 2, 3, 4), (16, 64, 256, 1024), 1024,
             ("float32", "bfloat16"), 4096)
QUICK = Sizes("noscope", (8, 8, 3), 2, (1, 2), (2, 3, 4), 8, ("float32", "bfloat16"), 64)


def _model(sizes: Sizes, fold: int) -> keras.Model:
    if fold == 1:
        return models.build(sizes.model, sizes.input_shape, sizes.num_classes)
    return fold_model(sizes.model, fold, sizes.input_shape, sizes.num_classes)


# How each timer feeds the models (`ImageTimer`'s layouts), as the CSV's Model column names it.
LAYOUT_NAMES = {"folded": "model only", "images": "end to end"}
PLOTS = {"folded": "fold_throughput.png", "images": "fold_throughput_end_to_end.png"}
BATCH_AXIS = {"folded": "batch size (model inputs; a folded input holds f images)",
              "images": "batch size (images)"}


def model_label(model: str, precision: str, layout: str) -> str:
    """The CSV's Model column: the model's name, its precision and how it was fed."""
    return f"{model} [{precision}, {LAYOUT_NAMES[layout]}]"


def fold_rows(sizes: Sizes, repeats: int, result: SuiteResult) -> None:
    """Time each layout, precision, fold and batch size; add rows, speed-up and intensity ratios.

    Trials are interleaved (round r times every layout, precision, fold and
    batch size once), so that load from other processes falls on all of them
    alike.
    """
    largest = max(sizes.batch_sizes)
    float32 = {fold: _model(sizes, fold) for fold in sizes.folds}
    flops_per_image = {fold: flops(model, 1) / fold for fold, model in float32.items()}
    for fold, model in float32.items():
        _add_costs(model, fold, largest, flops_per_image[fold], result)
    timers = {}
    for precision in sizes.precisions:
        for fold in sizes.folds:
            model = float32[fold]
            if precision != "float32":
                model = with_policy(model, precision)
            for layout in LAYOUT_NAMES:
                for batch_size in sizes.batch_sizes:
                    timer = ImageTimer(model, batch_size, fold, sizes.min_images, layout)
                    timer.warm_up()
                    timers[layout, precision, fold, batch_size] = timer
    for trial in range(repeats):
        for (layout, precision, fold, batch_size), timer in timers.items():
            images_per_sec = timer.images / timer.trial()
            result.rows.append(dict(zip(COLUMNS, (
                model_label(sizes.model, precision, layout), trial, fold, batch_size, _mode(fold),
                images_per_sec, flops_per_image[fold] * images_per_sec))))
    for precision in sizes.precisions:
        peak = matmul_flops_per_sec(sizes.matmul, precision, repeats)
        result.notes.append(f"{precision}: a {sizes.matmul}x{sizes.matmul} matmul runs at "
                            f"{peak / 1e9:.0f} GFLOP/s here")
        for layout, how in LAYOUT_NAMES.items():
            label = model_label(sizes.model, precision, layout)
            medians = {fold: _median(result.rows, label, fold, largest) for fold in sizes.folds}
            for fold in sizes.folds[1:]:
                target = ">= 1.5" if fold == 4 and layout == "folded" else ""
                result.add_ratio(f"throughput f={fold} / original, {precision}, {how}, "
                                 f"batch {largest}, median of {repeats}",
                                 medians[fold] / medians[1], target)
            if layout == "folded":
                # The seed compares equal batch sizes, i.e. f times more images per folded call;
                # where the suite has it, also compare equal images per call.
                for fold in sizes.folds[1:]:
                    if largest % fold == 0 and largest // fold in sizes.batch_sizes:
                        result.add_ratio(f"throughput f={fold} at {largest // fold} inputs / "
                                         f"original at {largest}, {precision}, {how} "
                                         f"({largest} images per call each)",
                                         _median(result.rows, label, fold, largest // fold)
                                         / medians[1])
                for fold in sizes.folds:
                    result.add_ratio(f"{_mode(fold)} f={fold} FLOPs/sec / matmul FLOPs/sec, "
                                     f"{precision}, batch {largest}",
                                     flops_per_image[fold] * medians[fold] / peak)


def _median(rows: list[dict], label: str, fold: int, batch_size: int) -> float:
    """Median throughput of the rows of model `label` at `fold` and `batch_size`.

    Rows may be the suite's own or read back from its CSV (every value a string).
    """
    return statistics.median(float(r["Throughput"]) for r in rows if r["Model"] == label
                             and int(r["Fold"]) == fold and int(r["Batch Size"]) == batch_size)


def matmul_flops_per_sec(size: int, dtype: str, repeats: int) -> float:
    """FLOPs per second of a `size` x `size` matmul in `dtype`: what the device can reach."""
    a = tf.cast(tf.random.stateless_normal([size, size], seed=[0, 0]), dtype)
    # Only a corner comes back: a reduction over the product would add a pass over its memory.
    product = tf.function(lambda a: tf.matmul(a, a)[:1, :1], autograph=False)
    return 2 * size ** 3 / time_fn(lambda: product(a), repeats)


def _add_costs(model: keras.Model, fold: int, largest: int, flops_per_image: float,
               result: SuiteResult) -> None:
    """Arithmetic intensity of `model` at the largest batch (a ratio) and per layer (a note)."""
    costs = arithmetic_intensity(model, max(1, largest // fold))
    result.add_ratio(f"arithmetic intensity (FLOPs/byte), {_mode(fold)} f={fold}, "
                     f"batch {largest}", costs[-1].intensity)
    result.notes.append(f"f={fold}: {flops_per_image:.4g} FLOPs/image; per-layer "
                        "intensity " + ", ".join(f"{c.name} {c.intensity:.1f}" for c in costs[:-1]))


def _mode(fold: int) -> str:
    return "Original" if fold == 1 else "Folded"


def plot_throughput(rows: list[dict], png_path: str, layout: str = "folded") -> str | None:
    """Median throughput vs batch size, one line per precision and fold, of `layout`'s rows."""
    from tfcompress.reports.figures import throughput_vs_batch

    rows = [r for r in rows if r["Model"].endswith(f", {LAYOUT_NAMES[layout]}]")]
    if not rows:
        raise ValueError(f"plot_throughput: no rows timed {LAYOUT_NAMES[layout]} to plot")
    curves: dict[str, dict[str, float]] = {}
    for model, fold in dict.fromkeys((r["Model"], int(r["Fold"])) for r in rows):
        label = f"{model}, " + ("original" if fold == 1 else f"folded f={fold}")
        batch_sizes = sorted({int(r["Batch Size"]) for r in rows if int(r["Fold"]) == fold})
        curves[label] = {str(b): _median(rows, model, fold, b) for b in batch_sizes}
    os.makedirs(os.path.dirname(os.path.abspath(png_path)), exist_ok=True)
    return throughput_vs_batch(curves, png_path, BATCH_AXIS[layout])


def run(quick: bool = False, repeats: int = 5) -> SuiteResult:
    """Run the suite; the full run also draws `PLOTS` (throughput vs batch size per fold)."""
    result = SuiteResult()
    fold_rows(QUICK if quick else FULL, repeats, result)
    if not quick:
        for layout, name in PLOTS.items():
            result.plots[name] = lambda path, layout=layout: plot_throughput(result.rows, path, layout)
    return result
