"""The report's figures (matplotlib PNG), each from the aggregated rows or per-seed outcomes."""
from __future__ import annotations

import os
import shutil

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)

from tfcompress.reports.variants import HEADLINE_SPARSITY, SPARSE_SETTING  # noqa: E402

SPARSE_METHODS = (*SPARSE_SETTING, *HEADLINE_SPARSITY, "threshold")


def _save(fig, path: str) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _accuracy_plot(rows: list[dict], series: dict[str, list[dict]], x_key: str, x_label: str,
                   title: str, path: str) -> str:
    """Accuracy (mean, std over seeds) of each series against 100 * `x_key`, dense as a line."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, points in series.items():
        points = sorted(points, key=lambda r: r[x_key])
        ax.errorbar([100 * r[x_key] for r in points], [r["accuracy_mean"] for r in points],
                    yerr=[r["accuracy_std"] for r in points], marker="o", capsize=3, label=label)
    for row in rows:
        if row["technique"] == "dense":
            ax.axhline(row["accuracy_mean"], color="grey", linestyle="--", label="dense")
    ax.set_xlabel(x_label)
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def _by_technique(rows: list[dict], techniques) -> dict[str, list[dict]]:
    found = {t: [r for r in rows if r["technique"] == t] for t in techniques}
    return {t: points for t, points in found.items() if points}


def accuracy_vs_compress_rate(rows: list[dict], path: str) -> str | None:
    """Band-limited convolution: accuracy (mean, std over seeds) against compress rate in %."""
    series = _by_technique(rows, ("spectral",))
    if not series:
        return None
    return _accuracy_plot(rows, series, "setting", "compress rate (% of the spectrum dropped)",
                          "Band-limited convolution: accuracy vs compression", path)


def accuracy_vs_sparsity(rows: list[dict], path: str) -> str | None:
    """Each sparse method's accuracy against the sparsity it reached (all weights of the model)."""
    series = _by_technique(rows, SPARSE_METHODS)
    if not series:
        return None
    return _accuracy_plot(rows, series, "sparsity", "sparsity (% of all parameters that are zero)",
                          "Sparse methods: accuracy vs sparsity", path)


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


def throughput_vs_batch(curves: dict[str, dict[str, float]], path: str,
                        xlabel: str = "batch size (images)") -> str | None:
    """Images/s against batch size, one line per fold (`{"f=1": {"16": 1234.5, ...}, ...}`)."""
    if len(curves) < 2:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, curve in curves.items():
        batches = sorted(curve, key=int)
        ax.plot([int(b) for b in batches], [curve[b] for b in batches], marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("images / s (CPU)")
    ax.set_title("FoldedCNN inference throughput")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def size_vs_accuracy(rows: list[dict], path: str) -> str | None:
    """int8 TFLite file size (gzipped, log scale) against int8 Interpreter accuracy, one point
    per variant, the dense float32 file as a reference; None when no row has TFLite measures."""
    points = [r for r in rows if r.get("int8_gzip_bytes") == r.get("int8_gzip_bytes")  # not NaN
              and r.get("int8_accuracy") == r.get("int8_accuracy") and "int8_gzip_bytes" in r]
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for row in points:
        ax.scatter(row["int8_gzip_bytes"] / 1024, row["int8_accuracy"])
        ax.annotate(row["label"], (row["int8_gzip_bytes"] / 1024, row["int8_accuracy"]), fontsize=7)
    for row in rows:
        if row["technique"] == "dense" and row.get("tflite_gzip_bytes") == row.get("tflite_gzip_bytes"):
            ax.scatter(row["tflite_gzip_bytes"] / 1024, row["accuracy_mean"], marker="x", color="k",
                       label="dense float32 TFLite")
    ax.set_xscale("log")
    ax.set_xlabel("TFLite file, gzipped (KiB)")
    ax.set_ylabel("int8 accuracy in tf.lite.Interpreter")
    ax.set_title("Deployed size vs accuracy (int8 TFLite)")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)
