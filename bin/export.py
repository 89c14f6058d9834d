#!/usr/bin/env python3
"""Export a trained run as a SavedModel: `bin/export.py --run_dir=runs/demo --portable`."""
import os
import sys

from absl import flags

from tfcompress import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("run_dir", None, "Run directory written by bin/train.py.", required=True)
flags.DEFINE_string("out", None, "SavedModel directory (default: <run_dir>/saved_model[_portable]).")
flags.DEFINE_bool("portable", False, "Trace custom-op layers on their pure-TF path so stock "
                  "TensorFlow loads the SavedModel without tfcompress.")


def main(argv):
    """Rebuild the run's model, restore its last good checkpoint and save it."""
    del argv
    from tfcompress import export, training
    out = FLAGS.out or os.path.join(FLAGS.run_dir, "saved_model_portable" if FLAGS.portable else "saved_model")
    try:
        model, _ = training.load_run(FLAGS.run_dir)
    except (FileNotFoundError, training.CheckpointError) as error:
        sys.exit(f"error: {error}")
    print(f"wrote SavedModel {export.save(model, out, portable=FLAGS.portable)}")


if __name__ == "__main__":
    cli.run(main)
