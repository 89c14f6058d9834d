"""The DSR seed's MNIST MLP at 90% sparsity on full MNIST: dense, static, tied, SET, DeepR, RigL and DSR.

`tfcompress.sparse.experiment.compare` on `experiment.mnist_mlp()`, `repeats`
seeds per method (at least 3 for the README's table), paired: a seed gives
every method the same data order, initial weights and initial masks. Rows: one
per method; the Markdown table goes to `mnist_sparse.md`. Ratios in accuracy
points, mean over the seeds: DSR against static (target >= 0) and against
dense (target >= -1), RigL the same. `quick`: one epoch on 256 examples.
"""
from __future__ import annotations

from tfcompress.benchmarks import DATA_DIR, SuiteResult
from tfcompress.benchmarks.real_data import require, runs_dir
from tfcompress.benchmarks.sparse_accuracy import summarise
from tfcompress.sparse import experiment

# (method, baseline, target of method minus baseline in accuracy points)
CLAIMS = (("dsr", "static", ">= 0"), ("dsr", "none", ">= -1"), ("rigl", "static", ">= 0"),
          ("rigl", "none", ">= -1"))


def run(quick: bool = False, repeats: int = 3, data_dir: str = DATA_DIR) -> SuiteResult:
    """Train every method at `repeats` seeds; rows, accuracy differences and the Markdown table."""
    require("mnist", data_dir)
    base = experiment.mnist_mlp(data_dir, quick)
    with runs_dir("mnist_sparse", quick) as folder:
        rows = experiment.compare(base, seeds=repeats, runs_dir=folder)
    return summarise(rows, CLAIMS, f"{base.model} on MNIST", base, "mnist_sparse.md")
