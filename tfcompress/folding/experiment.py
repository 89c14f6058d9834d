"""Folded students against their teachers on the bundled digits: the README's accuracy table.

`compare(folds, seeds, runs_dir)` trains, for each seed, one unfolded NoScope
teacher (`digits_teacher`, through `tfcompress.training.train`) and one folded
student per fold distilled from it (`digits_student`, through
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


def digits_teacher(seed: int, quick: bool = False) -> TrainConfig:
    """The teacher: NoScope's coral CNN on the digits at their own 8x8x1, 15 epochs of Adam 3e-3.

    `quick`: one epoch on 128 examples (a smoke run).
    """
    config = TrainConfig(model="noscope", dataset="digits", epochs=15, batch_size=64,
                         optimizer="adam", lr=3e-3, seed=seed, export=False, verbose=0)
    return dataclasses.replace(config, epochs=1, limit=128) if quick else config


def digits_student(fold: int, seed: int, runs_dir: str, quick: bool = False) -> FoldConfig:
    """The student of `fold`: 150 epochs on augmented digits, Adam 3e-3 with cosine decay.

    Batches of 64 images (64 / fold folded inputs), temperature 4, alpha 0.1,
    the distinct images per input rising from 1 to `fold` over 20 epochs
    (`FoldCurriculum`). The teacher of the seed is `<runs_dir>/teacher/seed<k>`,
    trained there by `digits_teacher` when absent. `quick`: one epoch, teacher
    and student on 128 examples.
    """
    config = FoldConfig(
        teacher_run_dir=os.path.join(runs_dir, "teacher", f"seed{seed}"),
        run_dir=os.path.join(runs_dir, f"f{fold}", f"seed{seed}"), fold=check_fold(fold),
        epochs=150, curriculum=20, batch_size=64, lr=3e-3, lr_schedule="cosine", augment=True,
        seed=seed, verbose=0, teacher=digits_teacher(seed, quick))
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
            quick: bool = False) -> list[dict]:
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
    teacher = digits_teacher(0, quick)
    test_set = tfc_data.load(teacher.dataset, "test", batch_size=512, limit=teacher.limit)
    rows = []
    for fold in folds:
        results = [train_student(digits_student(fold, seed, runs_dir, quick))
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
