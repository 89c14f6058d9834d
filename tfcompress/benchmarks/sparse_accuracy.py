"""Sparse accuracy suite: the README's table of sparse training methods (accuracy, not time).

Trains `tfcompress.sparse.experiment.digits_mlp()` (the MNIST MLP on the
bundled digits, 90% sparse) once per method (dense, static, tied, SET, DeepR,
RigL, DSR) and seed, `repeats` seeds each (`quick`: one epoch on 128
examples). Rows: one per method (`sparse_accuracy.csv`, every seed's accuracy
included); the Markdown table goes to `sparse_accuracy.md`. Ratios (in
accuracy points, mean over the seeds): DSR and RigL against dense (target
>= -1.5) and against static sparse at the same budget (target > 0).
"""
from __future__ import annotations

import tempfile

from tfcompress.benchmarks import SuiteResult
from tfcompress.sparse import experiment

# (method, baseline, target of method minus baseline in accuracy points)
CLAIMS = (("dsr", "none", ">= -1.5"), ("rigl", "none", ">= -1.5"),
          ("dsr", "static", "> 0"), ("rigl", "static", "> 0"))


def run(quick: bool = False, repeats: int = 5) -> SuiteResult:
    """Train every method at `repeats` seeds; rows, accuracy differences and the Markdown table."""
    base = experiment.digits_mlp(quick)
    with tempfile.TemporaryDirectory(prefix="tfcompress_sparse_accuracy_") as runs_dir:
        rows = experiment.compare(base, seeds=repeats, runs_dir=runs_dir)
    return summarise(rows, CLAIMS, f"{base.model} on {base.dataset}", base, "sparse_accuracy.md")


def summarise(rows: list[dict], claims, where: str, base, table_file: str) -> SuiteResult:
    """The suite result of `experiment.compare`'s rows: the accuracy gap of each claim, the table."""
    result = SuiteResult(rows=rows)
    by_method = {row["sparse"]: row for row in rows}
    seeds = rows[0]["seeds"]
    for method, baseline, target in claims:
        gap = by_method[method]["accuracy_mean"] - by_method[baseline]["accuracy_mean"]
        result.add_ratio(f"{experiment.LABELS[method]} - {experiment.LABELS[baseline]} accuracy "
                         f"(points, mean of {seeds} seeds)", 100 * gap, target)
    table = experiment.markdown(rows)
    result.notes.append(f"{where}, {base.epochs} epochs, sparsity {base.sparsity}, {seeds} seed(s):\n{table}")
    result.add_text(table_file, table)
    return result
