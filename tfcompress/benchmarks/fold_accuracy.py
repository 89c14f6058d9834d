"""Fold accuracy suite: the README's table of folded students (accuracy, not time).

Trains `tfcompress.folding.experiment.compare`: a NoScope teacher on the
bundled digits per seed and, from each, students folding f = 2, 3, 4 images
(`repeats` seeds; `quick`: one epoch on 128 examples, f = 2 only). Rows: one
per fold (`fold_accuracy.csv`); the Markdown table goes to `fold_accuracy.md`.
Ratios: student minus teacher accuracy in points, mean over the seeds and the
worst seed (target >= -2).
"""
from __future__ import annotations

import tempfile

from tfcompress.benchmarks import SuiteResult
from tfcompress.folding import experiment


def run(quick: bool = False, repeats: int = 3) -> SuiteResult:
    """Distil every fold at `repeats` seeds; rows, accuracy gaps and the Markdown table."""
    with tempfile.TemporaryDirectory(prefix="tfcompress_fold_accuracy_") as runs_dir:
        rows = experiment.compare((2,) if quick else (2, 3, 4), seeds=repeats, runs_dir=runs_dir,
                                  quick=quick)
    return summarise(rows, "NoScope on the digits (8x8x1)", "fold_accuracy.md")


def summarise(rows: list[dict], where: str, table_file: str) -> SuiteResult:
    """The suite result of `experiment.compare`'s rows: each fold's accuracy gaps and the table."""
    result = SuiteResult(rows=rows)
    seeds = rows[0]["seeds"]
    for row in rows:
        for key, what in (("gap_mean", f"mean of {seeds} seeds"), ("gap_worst", "worst seed")):
            result.add_ratio(f"f={row['fold']} student - teacher accuracy (points, {what})",
                             row[key], ">= -2")
    table = experiment.markdown(rows)
    result.notes.append(f"{where}, {seeds} seed(s):\n{table}")
    result.add_text(table_file, table)
    return result
