"""Per-run metrics: CSV, TensorBoard events and learning-curve figures."""
from __future__ import annotations

import csv
import os

import tf_keras as keras

METRICS_CSV = "metrics.csv"


def metric_callbacks(run_dir: str, resume_epoch: int = 0) -> list[keras.callbacks.Callback]:
    """CSVLogger (appending after a resume, rows past the checkpoint dropped) and TensorBoard."""
    path = os.path.join(run_dir, METRICS_CSV)
    if resume_epoch:
        truncate_metrics(path, resume_epoch)
    return [keras.callbacks.CSVLogger(path, append=resume_epoch > 0),
            keras.callbacks.TensorBoard(os.path.join(run_dir, "tensorboard"), write_graph=False)]


def read_metrics(path: str) -> list[dict]:
    """Rows of a metrics CSV as dicts of floats."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"metrics file {path!r} does not exist")
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]


def truncate_metrics(path: str, epochs_done: int) -> None:
    """Keep only the rows of the first `epochs_done` epochs (rows a killed run wrote past its checkpoint)."""
    if not os.path.exists(path):
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    header, body = rows[0], rows[1:]
    kept = [row for row in body if row and int(float(row[0])) < epochs_done]
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([header] + kept)


def plot_learning_curves(metrics_path: str, png_path: str, title: str = "") -> str:
    """Plot loss and accuracy per epoch (train and validation) from a metrics CSV to a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(metrics_path)
    if not rows:
        raise ValueError(f"metrics file {metrics_path!r} has no rows to plot")
    epochs = [row["epoch"] + 1 for row in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("", "-"), ("val_", "--")):
            key = prefix + metric
            if key in rows[0]:
                ax.plot(epochs, [row[key] for row in rows], style, marker="o", label=key)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return png_path
