"""`train_student(config)`: distil a FoldedCNN from a teacher run, training the teacher first if absent.

The student is the teacher's own architecture (`TrainConfig.model` and
`model_args`) folded by `fold_model`, on the teacher run's dataset. Files in
`run_dir`: metrics.csv and tensorboard/ (per epoch), student.keras (the folded
model), summary.json (fold, width, accuracies of teacher and student).
"""
from __future__ import annotations

import dataclasses
import json
import os

import tf_keras as keras

from tfcompress import data as tfc_data
from tfcompress import reports
from tfcompress.folding.distill import FoldCurriculum, FoldDistiller
from tfcompress.folding.fold import check_fold, fold_model
from tfcompress.training import TrainConfig, load_run, train
from tfcompress.training.loop import CONFIG_FILE
from tfcompress.training.optim import learning_rate

STUDENT_FILE = "student.keras"
SUMMARY_FILE = "summary.json"
# The schedules of `training.optim.learning_rate` that need no callback (not `plateau`).
LR_SCHEDULES = ("constant", "step", "cosine")


@dataclasses.dataclass
class FoldConfig:
    """Settings of one folded-student run; names match the flags of `bin/fold.py`.

    `teacher` is used only when `teacher_run_dir` holds no run yet: it is then
    trained there first with those settings.
    """

    teacher_run_dir: str
    run_dir: str = "runs/fold"
    fold: int = 2
    width_multiplier: float | None = None
    temperature: float = 4.0
    alpha: float = 0.1
    epochs: int = 20
    curriculum: int = 0
    batch_size: int = 64
    lr: float = 1e-3
    lr_schedule: str = "constant"
    augment: bool = False
    seed: int = 0
    verbose: int = 2
    teacher: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def validate(self) -> "FoldConfig":
        """Raise ValueError naming the first bad setting; return self when all are valid."""
        check_fold(self.fold)
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"--lr must be > 0, got {self.lr}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"--lr_schedule must be one of {', '.join(LR_SCHEDULES)}; "
                             f"got {self.lr_schedule!r}")
        if self.curriculum < 0:
            raise ValueError(f"--curriculum must be >= 0 epochs, got {self.curriculum}")
        if self.width_multiplier is not None and not self.width_multiplier > 0:
            raise ValueError(f"--width_multiplier must be > 0, got {self.width_multiplier}")
        if os.path.abspath(self.run_dir) == os.path.abspath(self.teacher_run_dir):
            raise ValueError(f"--run_dir and --teacher_run_dir are both {self.run_dir!r}; "
                             "the student needs its own directory")
        return self


@dataclasses.dataclass
class FoldResult:
    """The trained student, both accuracies on the test split, and per-epoch metrics."""

    student: keras.Model
    teacher_accuracy: float
    student_accuracy: float
    history: dict


def teacher_run(config: FoldConfig) -> tuple[keras.Model, TrainConfig]:
    """The teacher of `config`: loaded from its run directory, trained there first if absent."""
    if not os.path.exists(os.path.join(config.teacher_run_dir, CONFIG_FILE)):
        print(f"no teacher run in {config.teacher_run_dir!r}: training {config.teacher.model} "
              "there first", flush=True)
        train(dataclasses.replace(config.teacher, run_dir=config.teacher_run_dir,
                                  resume=False, export=False).validate())
    return load_run(config.teacher_run_dir)


def train_student(config: FoldConfig) -> FoldResult:
    """Distil a folded student from the teacher of `config`; write its files to `run_dir`."""
    config.validate()
    teacher, tconfig = teacher_run(config)
    data_args = dict(data_dir=tconfig.data_dir, image_size=tconfig.image_size,
                     labels=tconfig.labels, channels=tconfig.channels, limit=tconfig.limit,
                     batch_size=config.batch_size)
    info = tfc_data.describe(tconfig.dataset, data_dir=tconfig.data_dir,
                             image_size=tconfig.image_size, labels=tconfig.labels,
                             channels=tconfig.channels)
    keras.utils.set_random_seed(config.seed)
    student = fold_model(tconfig.model, config.fold, info.input_shape, info.num_classes,
                         config.width_multiplier, **tconfig.model_args)
    distiller = FoldDistiller(student, teacher, config.temperature, config.alpha)
    train_set = tfc_data.load(tconfig.dataset, "train", seed=config.seed, augment=config.augment,
                              **data_args)
    test_set = tfc_data.load(tconfig.dataset, "test", **data_args)
    lr = learning_rate(config.lr, config.lr_schedule, config.epochs * len(train_set))
    distiller.compile(optimizer=keras.optimizers.Adam(lr), metrics=["accuracy"])
    callbacks = reports.metric_callbacks(config.run_dir)
    if config.curriculum:
        callbacks.append(FoldCurriculum(config.curriculum))
    os.makedirs(config.run_dir, exist_ok=True)
    history = distiller.fit(train_set, epochs=config.epochs, validation_data=test_set,
                            callbacks=callbacks, verbose=config.verbose)
    teacher_accuracy = teacher.evaluate(test_set, verbose=0, return_dict=True)["accuracy"]
    student_accuracy = distiller.evaluate(test_set, verbose=0, return_dict=True)["accuracy"]
    student.save(os.path.join(config.run_dir, STUDENT_FILE))
    with open(os.path.join(config.run_dir, SUMMARY_FILE), "w") as f:
        json.dump({"teacher_run_dir": config.teacher_run_dir, "model": tconfig.model,
                   "dataset": tconfig.dataset, "fold": config.fold,
                   "width_multiplier": config.width_multiplier,
                   "teacher_accuracy": teacher_accuracy, "student_accuracy": student_accuracy},
                  f, indent=2)
    return FoldResult(student, teacher_accuracy, student_accuracy, history.history)
