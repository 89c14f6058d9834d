"""tfcompress.folding.experiment, `bin/benchmark.py --suite=fold_accuracy` (the README's table)
and configs/fold_digits.flags, which must hold the same recipe."""
import csv
import dataclasses

import pytest

from flagfiles import run
from tfcompress import benchmarks
from tfcompress.folding import experiment
from tfcompress.folding.student import FoldConfig

# Parses a flagfile with bin/fold.py's own flag definitions; prints every flag as name=value.
FOLD_FLAGS = """
import runpy, sys
from absl import flags
runpy.run_path("bin/fold.py", run_name="flag_definitions")
flags.FLAGS(["fold.py", "--flagfile=" + sys.argv[1], "--teacher_run_dir=unused"])
print(repr(flags.FLAGS.flag_values_dict()))
"""


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_digits_flagfile_holds_the_f4_recipe_of_the_experiment():
    result = run("-c", FOLD_FLAGS, "configs/fold_digits.flags")
    assert result.returncode == 0, result.stderr[-3000:]
    values = eval(result.stdout.strip().splitlines()[-1])
    recipe = experiment.student_config(4, 0, "runs")
    for field in dataclasses.fields(FoldConfig):
        if field.name not in ("teacher_run_dir", "run_dir", "teacher", "verbose"):
            assert values[field.name] == getattr(recipe, field.name), field.name
    teacher = recipe.teacher
    assert (values["model"], values["dataset"], values["teacher_epochs"], values["teacher_lr"]) == \
        (teacher.model, teacher.dataset, teacher.epochs, teacher.lr)
    assert teacher.optimizer == "adam" and teacher.batch_size == values["batch_size"]


def test_quick_fold_accuracy_suite_writes_rows_gaps_and_table(tmp_path):
    benchmarks.run_suites(["fold_accuracy"], str(tmp_path), repeats=1, quick=True)
    rows = read_csv(tmp_path / "fold_accuracy.csv")
    assert [r["fold"] for r in rows] == ["2"]
    row = rows[0]
    assert 0 <= float(row["student_accuracy_mean"]) <= 1 and row["seeds"] == "1"
    assert float(row["gap_mean"]) == pytest.approx(
        100 * (float(row["student_accuracy_mean"]) - float(row["teacher_accuracy_mean"])))
    ratios = read_csv(tmp_path / "fold_accuracy_ratios.csv")
    assert [r["target"] for r in ratios] == [">= -2", ">= -2"]
    table = (tmp_path / "fold_accuracy.md").read_text().splitlines()
    assert table[0].startswith("| fold f |") and table[2].startswith("| 2 | 23 |")


def test_compare_and_fold_config_reject_bad_settings(tmp_path):
    with pytest.raises(ValueError, match="seeds must be an int >= 1, got 0"):
        experiment.compare((2,), seeds=0, runs_dir=str(tmp_path))
    with pytest.raises(ValueError, match="fold must be an int >= 1, got 0"):
        experiment.compare((0,), seeds=1, runs_dir=str(tmp_path))
    with pytest.raises(ValueError, match="--lr_schedule must be one of constant, step, cosine; "
                                         "got 'plateau'"):
        FoldConfig(teacher_run_dir=str(tmp_path / "t"), lr_schedule="plateau").validate()
