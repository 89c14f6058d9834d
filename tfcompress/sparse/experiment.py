"""Sparse training methods side by side: one `tfcompress.training.train` run per method and seed.

`compare(base, methods, seeds, runs_dir)` trains the settings `base` once per
`--sparse` method (`none` is the dense model) and seed, and returns one row per
method: the final test accuracy's mean and standard deviation over the seeds,
the sparsity and non-zero weights of the trained model (`sparse.stats`; a
tied model counts its real weights) and, when static sparse is among the
methods, on how many seeds the method ended above or below it (a seed gives
both the same data order, initial weights and initial masks, so the
comparison is paired). `markdown(rows)` is the README's table;
`digits_mlp()` is its setting (`bin/benchmark.py --suite=sparse_accuracy`
runs it), `mnist_mlp()` the full-MNIST one (`--suite=mnist_sparse`).
"""
from __future__ import annotations

import dataclasses
import os
import statistics
from collections.abc import Sequence

from tfcompress import training
from tfcompress.sparse.stats import stats
from tfcompress.training.config import SPARSE

# Every method of `--sparse`, dense first, in the order of the README's table.
METHODS = ("none", "static", "tied", "set", "deepr", "rigl", "dsr")
LABELS = {"none": "dense", "static": "static", "tied": "tied (HashedNet)", "set": "SET",
          "deepr": "DeepR", "rigl": "RigL", "dsr": "DSR"}


def digits_mlp(quick: bool = False) -> training.TrainConfig:
    """The README's setting: the MNIST MLP on the bundled digits at their own 8x8, 90% sparse.

    784-300-100-10 becomes 64-300-100-10 (batch norm; 50,200 kernel weights);
    every layer starts 90% sparse (uniform, none kept dense, as in the DSR
    paper's MLP runs), 40 epochs of SGD momentum 0.9, lr 0.05 with cosine
    decay, batch 64 (23 steps per epoch); masks are rewired every 10 steps
    until epoch 30; DSR prunes about 250 weights (5% of the 5,020 non-zeros)
    per update, SET and RigL rewire 30% of each layer (RigL decaying it).
    `quick`: one epoch on 128 examples, rewired every step (a smoke run).
    """
    config = training.TrainConfig(
        model="mnist_mlp", dataset="digits", epochs=40, batch_size=64, optimizer="momentum",
        momentum=0.9, lr=0.05, lr_schedule="cosine", sparse_distribution="uniform",
        sparsity=0.9, keep_dense="", update_every=10, n_prune_params=250, rewire_fraction=0.3,
        stop_rewire_epoch=30, sub_kernel_granularity=True, export=False, verbose=0)
    if quick:
        config = dataclasses.replace(config, epochs=1, limit=128, update_every=1,
                                     stop_rewire_epoch=None)
    return config


def mnist_mlp(data_dir: str, quick: bool = False) -> training.TrainConfig:
    """The DSR seed's MNIST MLP (`configs/sparse_mnist_mlp.flags`) on full MNIST, on a 2-core budget.

    784-300-100-10 with batch norm, every layer 90% sparse (uniform), batch 100
    (600 steps per epoch), SGD momentum 0.9, lr 0.1 with cosine decay, weight
    decay 5e-4; 20 epochs where the seed trains 100. Masks are rewired every 100
    steps until epoch 15; DSR prunes about 600 weights per update (the seed's
    default), SET and RigL rewire 30% of each layer. `quick`: one epoch on 256
    examples, rewired every step.
    """
    config = training.TrainConfig(
        model="mnist_mlp", dataset="mnist", data_dir=data_dir, epochs=20, batch_size=100,
        optimizer="momentum", momentum=0.9, lr=0.1, lr_schedule="cosine", weight_decay=5e-4,
        sparse_distribution="uniform", sparsity=0.9, keep_dense="", update_every=100, n_prune_params=600,
        rewire_fraction=0.3, stop_rewire_epoch=15, sub_kernel_granularity=True, export=False, verbose=0)
    if quick:
        config = dataclasses.replace(config, epochs=1, limit=256, update_every=1, stop_rewire_epoch=None)
    return config


def compare(base: training.TrainConfig, methods: Sequence[str] = METHODS, seeds: int = 3,
            runs_dir: str = "runs/sparse_compare") -> list[dict]:
    """Train `base` with each of `methods` (`--sparse` values) at seeds 0..seeds-1; one row each.

    Runs go to `<runs_dir>/<method>/seed<k>`; a run already there with the same
    settings is resumed (a finished one is only read back).
    """
    unknown = [m for m in methods if m not in SPARSE]
    if unknown or not methods:
        raise ValueError(f"methods {list(methods)}: expected a non-empty subset of {SPARSE}")
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    rows, per_seed = [], {}
    for method in methods:
        accuracies, totals = [], []
        for seed in range(seeds):
            run_dir = os.path.join(runs_dir, method, f"seed{seed}")
            result = training.train(training.resuming(dataclasses.replace(base, sparse=method, seed=seed),
                                                      run_dir))
            accuracies.append(result.history[-1]["val_accuracy"])
            totals.append(stats(result.model)["total"])
        per_seed[method] = accuracies
        rows.append({
            "method": LABELS[method], "sparse": method,
            "sparsity": statistics.fmean(t["sparsity"] for t in totals),
            "nonzeros": statistics.fmean(t["nonzeros"] for t in totals),
            "accuracy_mean": statistics.fmean(accuracies),
            "accuracy_std": statistics.stdev(accuracies) if seeds > 1 else 0.0,
            "seeds": seeds, "accuracies": " ".join(f"{a:.4f}" for a in accuracies)})
    if "static" in per_seed:
        for row in rows:
            pairs = list(zip(per_seed[row["sparse"]], per_seed["static"]))
            row["seeds_above_static"] = sum(a > b for a, b in pairs)
            row["seeds_below_static"] = sum(a < b for a, b in pairs)
    return rows


def markdown(rows: Sequence[dict]) -> str:
    """The rows of `compare` as a Markdown table (accuracy in %, mean ± std over the seeds;
    seeds above / below static sparse when it was compared)."""
    paired = all("seeds_above_static" in r for r in rows)
    lines = ["| method | sparsity | non-zero weights | accuracy (mean ± std) | seeds |"
             + (" seeds above / below static |" if paired else ""),
             "|---|---|---|---|---|" + ("---|" if paired else "")]
    for r in rows:
        lines.append(f"| {r['method']} | {100 * r['sparsity']:.1f}% | {r['nonzeros']:,.0f} | "
                     f"{100 * r['accuracy_mean']:.2f}% ± {100 * r['accuracy_std']:.2f} | "
                     f"{r['seeds']} |")
        if paired:
            lines[-1] += (" – |" if r["sparse"] == "static" else
                          f" {r['seeds_above_static']} / {r['seeds_below_static']} |")
    return "\n".join(lines) + "\n"
