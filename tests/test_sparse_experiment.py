"""tfcompress.sparse.experiment and `bin/benchmark.py --suite=sparse_accuracy` (the README's table)."""
import csv
import dataclasses
import statistics

import pytest

from tfcompress import benchmarks, training
from tfcompress.sparse import experiment


def test_compare_trains_each_method_and_seed_and_reads_finished_runs_back(tmp_path):
    base = experiment.digits_mlp(quick=True)
    rows = experiment.compare(base, methods=("none", "static", "dsr"), seeds=2,
                              runs_dir=str(tmp_path))
    assert [row["method"] for row in rows] == ["dense", "static", "DSR"]
    dense, static, dsr = rows
    assert dense["sparsity"] == 0.0 and dense["nonzeros"] == 64 * 300 + 300 * 100 + 100 * 10
    # Every layer 90% sparse; DSR moves weights between layers but keeps the total.
    assert static["nonzeros"] == dsr["nonzeros"] == 1920 + 3000 + 100
    for row in rows:
        accuracies = [float(a) for a in row["accuracies"].split()]
        assert len(accuracies) == row["seeds"] == 2
        assert row["accuracy_mean"] == pytest.approx(statistics.fmean(accuracies), abs=1e-4)
        assert row["accuracy_std"] == pytest.approx(statistics.stdev(accuracies), abs=1e-4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dsr", "none", "static"]
    # Paired by seed against static: on each seed above, below or level with it.
    pairs = list(zip(dsr["accuracies"].split(), static["accuracies"].split()))
    assert dsr["seeds_above_static"] == sum(float(a) > float(b) for a, b in pairs)
    assert dsr["seeds_below_static"] == sum(float(a) < float(b) for a, b in pairs)
    assert static["seeds_above_static"] == static["seeds_below_static"] == 0

    again = experiment.compare(base, methods=("dsr",), seeds=2, runs_dir=str(tmp_path))
    assert again == [{k: v for k, v in dsr.items() if "static" not in k}]
    table = experiment.markdown(rows).splitlines()
    assert table[0] == ("| method | sparsity | non-zero weights | accuracy (mean ± std) | seeds "
                        "| seeds above / below static |")
    assert table[3].startswith("| static | 90.0% | 5,020 | ") and table[3].endswith(" | 2 | – |")
    assert table[4].endswith(f" | 2 | {dsr['seeds_above_static']} / {dsr['seeds_below_static']} |")
    assert experiment.markdown(again).splitlines()[0].endswith("| seeds |")


def test_compare_rejects_unknown_methods_and_seeds(tmp_path):
    base = experiment.digits_mlp(quick=True)
    with pytest.raises(ValueError, match=r"\['dsr', 'magic'\]: expected a non-empty subset"):
        experiment.compare(base, methods=("dsr", "magic"), runs_dir=str(tmp_path))
    with pytest.raises(ValueError, match="seeds must be >= 1, got 0"):
        experiment.compare(base, seeds=0, runs_dir=str(tmp_path))
    assert not list(tmp_path.iterdir())


def test_changed_settings_do_not_reuse_a_run(tmp_path):
    base = experiment.digits_mlp(quick=True)
    experiment.compare(base, methods=("static",), seeds=1, runs_dir=str(tmp_path))
    with pytest.raises(training.RunDirError, match="differ from the run's: --lr=0.1 "):
        experiment.compare(dataclasses.replace(base, lr=0.1), methods=("static",), seeds=1,
                           runs_dir=str(tmp_path))


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_quick_sparse_accuracy_suite_writes_rows_claims_and_table(tmp_path):
    benchmarks.run_suites(["sparse_accuracy"], str(tmp_path), repeats=1, quick=True)
    rows = read_csv(tmp_path / "sparse_accuracy.csv")
    assert [row["sparse"] for row in rows] == list(experiment.METHODS)
    ratios = read_csv(tmp_path / "sparse_accuracy_ratios.csv")
    assert [(r["ratio"].split(" accuracy")[0], r["target"]) for r in ratios] == [
        ("DSR - dense", ">= -1.5"), ("RigL - dense", ">= -1.5"),
        ("DSR - static", "> 0"), ("RigL - static", "> 0")]
    by_label = {row["method"]: float(row["accuracy_mean"]) for row in rows}
    assert float(ratios[0]["value"]) == pytest.approx(100 * (by_label["DSR"] - by_label["dense"]))
    table = (tmp_path / "sparse_accuracy.md").read_text().splitlines()
    assert [line.split(" | ")[0] for line in table[2:]] == [
        f"| {experiment.LABELS[m]}" for m in experiment.METHODS]


@pytest.mark.slow
def test_readme_claim_dsr_and_rigl_near_dense_and_above_static():
    """The README's table (about 6 minutes on 2 cores): 10 seeds of every method."""
    rows = benchmarks.get_suite("sparse_accuracy")(False, 10).rows
    accuracy = {row["sparse"]: row["accuracy_mean"] for row in rows}
    for method in ("dsr", "rigl"):
        assert accuracy["none"] - accuracy[method] <= 0.015, rows
        assert accuracy[method] > accuracy["static"], rows
