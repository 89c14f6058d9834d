"""Folded students against their teachers (bundled digits or MNIST): the README's accuracy tables.

`compare(folds, seeds, runs_dir, recipe=DIGITS)` trains, for each seed, one
unfolded NoScope teacher (`teacher_config`, through `tfcompress.training.train`)
and one folded student per fold distilled from it (`student_config`, through
`train_student`, the code of `bin/fold.py`), and returns one row per fold with
the students' test accuracy against their own teachers', and the students'
accuracy when served in bfloat16 (`tfcompress.models.with_policy`, as the
fold suite times them). `markdown(rows)` is the README's table;
`bin/benchmark.py --suite=fold_accuracy` runs it.
"""
from __future__ import annotations

import dataclasses
import os
import statistics
from collections.abc import Sequence

import tensorflow as tf
import tf_keras as keras

from tfcompress import data as tfc_data
from tfcompress.folding.fold import check_fold, folded_call
from tfcompress.folding.student import FoldConfig, train_student
from tfcompress.models import with_policy
from tfcompress.training import TrainConfig


@dataclasses.dataclass(frozen=True)
class Recipe:
    """The data and budgets of a fold experiment: `DIGITS` (the default) or `mnist(data_dir)`."""

    dataset: str = "digits"
    data_dir: str | None = None
    teacher_epochs: int = 15
    student_epochs: int = 150
    curriculum: int = 20
    batch_size: int = 64


DIGITS = Recipe()


def mnist(data_dir: str) -> Recipe:
    """Full MNIST (28x28x1, 60,000 images): teacher 5 epochs, students 15 with a 3-epoch curriculum."""
    return Recipe("mnist", data_dir, teacher_epochs=5, student_epochs=15, curriculum=3)


def teacher_config(seed: int, quick: bool = False, recipe: Recipe = DIGITS) -> TrainConfig:
    """The teacher: NoScope's coral CNN on the recipe's data (the digits at their own 8x8x1), Adam 3e-3.

    `quick`: one epoch on 128 examples (a smoke run).
    """
    config = TrainConfig(model="noscope", dataset=recipe.dataset, data_dir=recipe.data_dir,
                         epochs=recipe.teacher_epochs, batch_size=recipe.batch_size, optimizer="adam", lr=3e-3,
                         seed=seed, export=False, verbose=0)
    return dataclasses.replace(config, epochs=1, limit=128) if quick else config


def student_config(fold: int, seed: int, runs_dir: str, quick: bool = False, recipe: Recipe = DIGITS) -> FoldConfig:
    """The student of `fold`: the recipe's epochs (150 on the digits) on augmented data, Adam 3e-3, cosine decay.

    Batches of 64 images (64 / fold folded inputs), temperature 4, alpha 0.1,
    the distinct images per input rising from 1 to `fold` over the recipe's
    curriculum (20 epochs on the digits, `FoldCurriculum`). The teacher of the
    seed is `<runs_dir>/teacher/seed<k>`, trained there by `teacher_config`
    when absent. `quick`: one epoch, teacher and student on 128 examples.
    """
    config = FoldConfig(
        teacher_run_dir=os.path.join(runs_dir, "teacher", f"seed{seed}"),
        run_dir=os.path.join(runs_dir, f"f{fold}", f"seed{seed}"), fold=check_fold(fold),
        epochs=recipe.student_epochs, curriculum=recipe.curriculum, batch_size=recipe.batch_size, lr=3e-3,
        lr_schedule="cosine", augment=True, seed=seed, verbose=0, teacher=teacher_config(seed, quick, recipe))
    return dataclasses.replace(config, epochs=1, curriculum=1) if quick else config


def folded_accuracy(student: keras.Model, fold: int, dataset: tf.data.Dataset) -> float:
    """Accuracy of folded `student` on the unfolded `(images, labels)` batches of `dataset`."""
    correct = total = 0
    for x, y in dataset:
        predicted = tf.argmax(folded_call(student, x, fold), axis=-1, output_type=tf.int32)
        correct += int(tf.reduce_sum(tf.cast(predicted == tf.reshape(y, [-1]), tf.int32)))
        total += int(tf.size(y))
    return correct / total


def compare(folds: Sequence[int] = (2, 3, 4), seeds: int = 3, runs_dir: str = "runs/fold_compare",
            quick: bool = False, recipe: Recipe = DIGITS) -> list[dict]:
    """Distil a student of each fold from the teacher of each seed 0..seeds-1; one row per fold.

    A row holds the students' accuracy (mean, std, every seed), their teachers'
    mean, the student-minus-teacher gap in accuracy points (mean and the worst
    seed: each student is compared with its own teacher), and the students'
    mean accuracy served in bfloat16.
    """
    if not folds:
        raise ValueError("folds must name at least one fold")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be an int >= 1, got {seeds!r}")
    teacher = teacher_config(0, quick, recipe)
    test_set = tfc_data.load(teacher.dataset, "test", data_dir=teacher.data_dir, batch_size=512,
                             limit=teacher.limit)
    rows = []
    for fold in folds:
        results = [train_student(student_config(fold, seed, runs_dir, quick, recipe))
                   for seed in range(seeds)]
        students = [r.student_accuracy for r in results]
        gaps = [100 * (r.student_accuracy - r.teacher_accuracy) for r in results]
        bfloat16 = [folded_accuracy(with_policy(r.student, "bfloat16"), fold, test_set)
                    for r in results]
        rows.append({
            "fold": fold, "width": results[0].student.get_layer("conv1").filters,
            "parameters": results[0].student.count_params(),
            "teacher_accuracy_mean": statistics.fmean(r.teacher_accuracy for r in results),
            "student_accuracy_mean": statistics.fmean(students),
            "student_accuracy_std": statistics.stdev(students) if seeds > 1 else 0.0,
            "gap_mean": statistics.fmean(gaps), "gap_worst": min(gaps),
            "bfloat16_accuracy_mean": statistics.fmean(bfloat16), "seeds": seeds,
            "accuracies": " ".join(f"{a:.4f}" for a in students)})
    return rows


def markdown(rows: Sequence[dict]) -> str:
    """The rows of `compare` as a Markdown table (accuracy in %, gaps in points)."""
    lines = ["| fold f | first conv filters | parameters | teacher accuracy (mean) | "
             "student accuracy (mean ± std) | student - teacher (mean, worst seed) | "
             "student served in bfloat16 (mean) | seeds |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        student = f"{100 * r['student_accuracy_mean']:.2f}% ± {100 * r['student_accuracy_std']:.2f}"
        lines.append(f"| {r['fold']} | {r['width']} | {r['parameters']:,} | "
                     f"{100 * r['teacher_accuracy_mean']:.2f}% | {student} | "
                     f"{r['gap_mean']:+.2f}, {r['gap_worst']:+.2f} | "
                     f"{100 * r['bfloat16_accuracy_mean']:.2f}% | {r['seeds']} |")
    return "\n".join(lines) + "\n"
