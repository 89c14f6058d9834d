"""FoldedCNN students f = 2, 3, 4 on full MNIST against their unfolded teacher.

`tfcompress.folding.experiment.compare` with the `experiment.mnist` recipe: per
seed a NoScope teacher (5 epochs) and a student per fold distilled from it (15
epochs, a 3-epoch curriculum), `repeats` seeds. Rows: one per fold; the
Markdown table goes to `mnist_fold.md`. Ratios: student minus teacher accuracy
in points, mean over the seeds and the worst seed (target >= -2). `quick`:
one epoch on 128 examples, f = 2 only.
"""
from __future__ import annotations

from tfcompress.benchmarks import DATA_DIR, SuiteResult
from tfcompress.benchmarks.fold_accuracy import summarise
from tfcompress.benchmarks.real_data import require, runs_dir
from tfcompress.folding import experiment


def run(quick: bool = False, repeats: int = 1, data_dir: str = DATA_DIR) -> SuiteResult:
    """Distil every fold at `repeats` seeds; rows, accuracy gaps and the Markdown table."""
    require("mnist", data_dir)
    with runs_dir("mnist_fold", quick) as folder:
        rows = experiment.compare((2,) if quick else (2, 3, 4), seeds=repeats, runs_dir=folder, quick=quick,
                                  recipe=experiment.mnist(data_dir))
    return summarise(rows, "NoScope on MNIST (28x28x1)", "mnist_fold.md")
