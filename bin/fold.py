#!/usr/bin/env python3
"""Distil a FoldedCNN from a teacher run: `bin/fold.py --flagfile=configs/fold_smoke.flags`.

The teacher is `load_run(--teacher_run_dir)`; when that directory holds no run
yet, the teacher is first trained there from --model/--dataset/... flags.
"""
import sys

from absl import app, flags

from tfcompress import cli
from tfcompress.folding.student import LR_SCHEDULES
from tfcompress.training import config as cfg

FLAGS = flags.FLAGS
flags.DEFINE_string("teacher_run_dir", None, "Run directory of the unfolded teacher (bin/train.py).")
flags.DEFINE_string("run_dir", "runs/fold", "Where the student's metrics, model and summary go.")
flags.DEFINE_integer("fold", 2, "Images folded into one input (f >= 1).")
flags.DEFINE_float("width_multiplier", None, "Width of the student relative to the teacher "
                   "(default sqrt(fold)).")
flags.DEFINE_float("temperature", 4.0, "Distillation temperature T (> 0).")
flags.DEFINE_float("alpha", 0.1, "Weight of the hard-label loss; 1 - alpha weighs the soft targets.")
flags.DEFINE_integer("epochs", 20, "Student training epochs.")
flags.DEFINE_integer("curriculum", 0, "Epochs over which the distinct images per folded input "
                     "rise from 1 to fold (0: no curriculum).")
flags.DEFINE_integer("batch_size", 64, "Batch size in (unfolded) images, student and teacher.")
flags.DEFINE_float("lr", 1e-3, "Adam learning rate of the student.")
flags.DEFINE_enum("lr_schedule", "constant", list(LR_SCHEDULES),
                  "Student learning-rate schedule: constant, step (/10 at 50% and 75%) or "
                  "cosine (to zero over all epochs).")
flags.DEFINE_bool("augment", False, "Train the student on the dataset's standard augmentation "
                  "(digits, MNIST, video: small random translations).")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_integer("verbose", 2, "Keras fit verbosity.")
# Used only to train a missing teacher.
flags.DEFINE_string("model", "noscope", "Teacher model (see tfcompress.models.names()).")
flags.DEFINE_string("model_args", "", "Teacher model arguments, key=value,...")
flags.DEFINE_string("dataset", "digits", "Teacher dataset: digits, mnist, cifar10, video:<file>, ...")
flags.DEFINE_string("data_dir", None, "tfds data_dir or video directory.")
flags.DEFINE_string("labels", None, "Labels CSV for video:<file> datasets.")
flags.DEFINE_integer("image_size", None, "Resize images to this size.")
flags.DEFINE_integer("channels", None, "Repeat grey images to this many channels.")
flags.DEFINE_integer("limit", None, "Use only the first N examples of each split (smoke runs).")
flags.DEFINE_integer("teacher_epochs", 20, "Epochs to train a missing teacher.")
flags.DEFINE_float("teacher_lr", 1e-3, "Adam learning rate of a missing teacher.")
flags.mark_flag_as_required("teacher_run_dir")


def main(argv):
    """Validate every flag, then train (teacher if missing, then) the folded student."""
    del argv
    from tfcompress.folding.student import FoldConfig, train_student
    from tfcompress.training import CheckpointError, RunDirError
    try:
        teacher = cfg.TrainConfig(
            model=FLAGS.model, model_args=cfg.parse_model_args(FLAGS.model_args),
            dataset=FLAGS.dataset, data_dir=FLAGS.data_dir, labels=FLAGS.labels,
            image_size=FLAGS.image_size, channels=FLAGS.channels, limit=FLAGS.limit,
            epochs=FLAGS.teacher_epochs, batch_size=FLAGS.batch_size, optimizer="adam",
            lr=FLAGS.teacher_lr, seed=FLAGS.seed, verbose=FLAGS.verbose).validate()
        config = FoldConfig(
            teacher_run_dir=FLAGS.teacher_run_dir, run_dir=FLAGS.run_dir, fold=FLAGS.fold,
            width_multiplier=FLAGS.width_multiplier, temperature=FLAGS.temperature,
            alpha=FLAGS.alpha, epochs=FLAGS.epochs, curriculum=FLAGS.curriculum,
            batch_size=FLAGS.batch_size, lr=FLAGS.lr, lr_schedule=FLAGS.lr_schedule,
            augment=FLAGS.augment, seed=FLAGS.seed, verbose=FLAGS.verbose,
            teacher=teacher).validate()
    except (ValueError, FileNotFoundError) as error:
        raise app.UsageError(str(error))
    try:
        result = train_student(config)
    except (ValueError, RunDirError, CheckpointError) as error:
        sys.exit(f"error: {error}")
    print(f"fold={config.fold}: teacher accuracy {result.teacher_accuracy:.4f}, "
          f"folded student accuracy {result.student_accuracy:.4f}; wrote {config.run_dir}")


if __name__ == "__main__":
    cli.run(main)
