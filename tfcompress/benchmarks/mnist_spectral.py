"""Band-limited LeNet-5 on full MNIST: test accuracy against compress rate (the paper's curve).

LeNet-5 with `SpectralConv2D` in place of both convolutions, trained from
scratch at compress rates 0, 25, 50, 75 and 90%, beside the same model with
`Conv2D` (the reference line; at rate 0 the spectral layer computes the same
function). Training: 5 epochs, batch 128, SGD momentum 0.9, lr 0.05 with cosine
decay, weight decay 1e-4; `repeats` seeds per setting. Outputs:
`mnist_spectral.md` and `mnist_spectral.png` (accuracy vs compress rate).
Ratios: accuracy at 50% and at 90% minus Conv2D's, in points (the paper keeps
accuracy at about 50%). `quick`: one epoch on 256 examples, rates 0 and 50%.
"""
from __future__ import annotations

import dataclasses

from tfcompress import training
from tfcompress.benchmarks import DATA_DIR, SuiteResult
from tfcompress.benchmarks.real_data import compress_rate_curve, require, runs_dir
from tfcompress.reports import figures

RATES = (0.0, 0.25, 0.5, 0.75, 0.9)


def lenet5(data_dir: str, quick: bool = False) -> training.TrainConfig:
    """The training settings of every point of the curve."""
    config = training.TrainConfig(model="lenet5", dataset="mnist", data_dir=data_dir, epochs=5, batch_size=128,
                                  optimizer="momentum", lr=0.05, lr_schedule="cosine", weight_decay=1e-4,
                                  export=False, verbose=0)
    return dataclasses.replace(config, epochs=1, limit=256) if quick else config


def markdown(rows: list[dict], reference: str) -> str:
    """Rows of `compress_rate_curve` as a table: accuracy and its change from the standard convolution."""
    dense = rows[0]["accuracy_mean"]
    lines = ["| convolution | compress rate | accuracy (mean ± std) | change vs " + reference + " (points) | seeds |",
             "|---|---|---|---|---|"]
    for r in rows:
        name = reference if r["technique"] == "dense" else "band-limited"
        lines.append(f"| {name} | {100 * r['setting']:.0f}% | {100 * r['accuracy_mean']:.2f}% ± "
                     f"{100 * r['accuracy_std']:.2f} | {100 * (r['accuracy_mean'] - dense):+.2f} | {r['seeds']} |")
    return "\n".join(lines) + "\n"


def run(quick: bool = False, repeats: int = 1, data_dir: str = DATA_DIR) -> SuiteResult:
    """Train the Conv2D model and the band-limited ones; the table, the figure and the ratios."""
    require("mnist", data_dir)
    with runs_dir("mnist_spectral", quick) as folder:
        rows = compress_rate_curve(lenet5(data_dir, quick), (0.0, 0.5) if quick else RATES, repeats, folder)
    result = SuiteResult(rows=rows)
    by_rate = {r["setting"]: r["accuracy_mean"] for r in rows if r["technique"] == "spectral"}
    for rate in (0.5, 0.9):
        if rate in by_rate:
            result.add_ratio(f"LeNet-5 at compress rate {rate:.0%} - Conv2D accuracy (points)",
                             100 * (by_rate[rate] - rows[0]["accuracy_mean"]), ">= -2" if rate == 0.5 else "")
    table = markdown(rows, "Conv2D")
    result.notes.append(f"LeNet-5 on MNIST, {repeats} seed(s):\n{table}")
    result.add_text("mnist_spectral.md", table)
    result.plots["mnist_spectral.png"] = lambda path: figures.accuracy_vs_compress_rate(rows, path)
    return result
