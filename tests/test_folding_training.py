"""Folded students distilled from their teachers: digits, cv2-written video frames, bin/fold.py."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import tf_keras as keras

from tfcompress import data, folding, models
from tfcompress.folding import experiment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _teacher(train, test, input_shape, num_classes, epochs):
    keras.utils.set_random_seed(0)
    teacher = models.build("noscope", input_shape, num_classes)
    teacher.compile(keras.optimizers.Adam(3e-3),
                    keras.losses.SparseCategoricalCrossentropy(from_logits=True), ["accuracy"])
    teacher.fit(train, epochs=epochs, verbose=0)
    return teacher, teacher.evaluate(test, verbose=0, return_dict=True)["accuracy"]


def _student_accuracy(teacher, train, test, fold, epochs, curriculum):
    keras.utils.set_random_seed(0)
    shape, classes = teacher.input_shape[1:], teacher.output_shape[-1]
    distiller = folding.FoldDistiller(folding.fold_model("noscope", fold, shape, classes), teacher,
                                      temperature=4.0, alpha=0.1)
    steps = epochs * len(train)
    distiller.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(3e-3, steps)),
                      metrics=["accuracy"])
    distiller.fit(train, epochs=epochs, verbose=0, callbacks=[folding.FoldCurriculum(curriculum)])
    return distiller.evaluate(test, verbose=0, return_dict=True)["accuracy"]


@pytest.fixture(scope="module")
def digits_teacher():
    train = data.load("digits", "train", batch_size=64, seed=0).cache()
    test = data.load("digits", "test", batch_size=360).cache()
    teacher, accuracy = _teacher(train, test, (8, 8, 1), 10, epochs=15)
    augmented = data.load("digits", "train", batch_size=64, seed=0, augment=True)
    return teacher, accuracy, augmented, test


def test_f2_student_on_digits_is_within_two_points_of_its_teacher(digits_teacher):
    teacher, teacher_accuracy, train, test = digits_teacher
    assert teacher_accuracy > 0.95
    student = _student_accuracy(teacher, train, test, 2, epochs=60, curriculum=10)
    assert student >= teacher_accuracy - 0.02, (student, teacher_accuracy)


@pytest.mark.slow
def test_folded_students_on_digits_full(tmp_path):
    rows = experiment.compare((2, 3, 4), seeds=1, runs_dir=str(tmp_path))
    for row in rows:
        assert row["gap_worst"] >= -2.0, row


FRAMES, HEIGHT, WIDTH = 40, 16, 16


def _write_clip(tmp_path):
    """Frames whose label is the side of a bright square (left 0, right 1), jittered by frame."""
    rng = np.random.default_rng(0)
    video, labels = tmp_path / "clip.avi", []
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (WIDTH, HEIGHT))
    for index in range(FRAMES):
        label = index % 2
        frame = (rng.random((HEIGHT, WIDTH, 3)) * 60).astype(np.uint8)
        top, left = rng.integers(0, 8), rng.integers(0, 4) + 8 * label
        frame[top:top + 6, left:left + 4] = 255
        writer.write(frame)
        labels.append(f"{index},{label}")
    writer.release()
    (tmp_path / "clip.csv").write_text("\n".join(["frame,label", *labels]) + "\n")
    return f"video:{video}"


def test_f2_student_on_video_frames_matches_its_teacher(tmp_path):
    name = _write_clip(tmp_path)
    info = data.describe(name)
    assert info.input_shape == (HEIGHT, WIDTH, 3) and info.num_classes == 2
    train = data.load(name, "train", batch_size=8, seed=0).cache()
    test = data.load(name, "test", batch_size=8).cache()
    teacher, teacher_accuracy = _teacher(train, test, info.input_shape, 2, epochs=30)
    assert teacher_accuracy == 1.0
    assert _student_accuracy(teacher, train, test, 2, epochs=30, curriculum=5) >= 0.98


@pytest.mark.slow
def test_bin_fold_trains_a_missing_teacher_then_the_student(tmp_path):
    teacher_dir, student_dir = tmp_path / "teacher", tmp_path / "student"
    result = subprocess.run(
        [sys.executable, "bin/fold.py", "--flagfile=configs/fold_smoke.flags",
         f"--teacher_run_dir={teacher_dir}", f"--run_dir={student_dir}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "folded student accuracy" in result.stdout
    assert (teacher_dir / "config.json").exists()
    summary = json.loads((student_dir / "summary.json").read_text())
    assert summary["fold"] == 2 and 0 <= summary["student_accuracy"] <= 1
    student = keras.models.load_model(student_dir / "student.keras")
    assert student.input_shape == (None, 8, 8, 2) and student.output_shape == (None, 20)


def test_bin_fold_rejects_bad_fold_before_any_work(tmp_path):
    result = subprocess.run(
        [sys.executable, "bin/fold.py", "--flagfile=configs/fold_smoke.flags", "--fold=0",
         f"--teacher_run_dir={tmp_path / 'teacher'}", f"--run_dir={tmp_path / 'student'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "fold must be an int >= 1, got 0" in result.stderr
    assert not (tmp_path / "teacher").exists()
