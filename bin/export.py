#!/usr/bin/env python3
"""Export a trained model: `bin/export.py --run_dir=runs/demo --format=tflite --quantize=int8`.

A SavedModel (`--format=saved_model`, `--portable` for stock TensorFlow) or a TFLite file
(`--format=tflite`, always portable) with `--quantize` none, dynamic, float16 or int8. int8
calibrates on the run's own training inputs (or those of `--dataset` for `--model`).

Sparse serving (README "Sparse serving"): `--block_sparsity=0.9` first prunes every Dense kernel
to 90% zeros in 1x4 blocks (`tfcompress.serving.block_prune`, one-shot), the layout TFLite's
sparse kernel serves faster than dense; `--sparse` says whether sparse weights are stored. For
TFLite the output says how many FULLY_CONNECTED weights serve sparse.
"""
import os
import sys

from absl import flags

from tfcompress import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("run_dir", None, "Run directory written by bin/train.py or bin/prune.py.")
flags.DEFINE_string("model", None, "Instead of --run_dir: a saved Keras model (.keras, .h5 or "
                    "Keras SavedModel directory).")
flags.DEFINE_enum("format", "saved_model", ["saved_model", "tflite"], "What to write.")
flags.DEFINE_enum("quantize", "none", ["none", "dynamic", "float16", "int8"],
                  "TFLite quantization (int8: full-integer, calibrated on training inputs).")
flags.DEFINE_string("output", None, "Output path (default: <run_dir>/saved_model[_portable] or "
                    "<run_dir>/model[_<quantize>].tflite).")
flags.DEFINE_alias("out", "output")
flags.DEFINE_bool("portable", False, "SavedModel: trace custom-op layers on their pure-TF path so "
                  "stock TensorFlow loads it without tfcompress.")
flags.DEFINE_enum("sparse", "auto", ["auto", "on", "off"], "TFLite: store sparse weights "
                  "(EXPERIMENTAL_SPARSITY); auto: when the kernels are at least half zeros.")
flags.DEFINE_float("block_sparsity", None, "TFLite: first prune each Dense kernel to this "
                   "sparsity in 1x4 blocks (one-shot, no fine-tuning), so that it serves faster.")
flags.DEFINE_string("dataset", None, "With --model: dataset whose training inputs calibrate int8.")
flags.DEFINE_string("data_dir", None, "With --dataset: its data_dir.")
flags.DEFINE_integer("image_size", None, "With --dataset: resize images to this size.")
flags.mark_flags_as_mutual_exclusive(["run_dir", "model"], required=True)


def main(argv):
    """Load the run's (or file's) model and write it as the flags say."""
    del argv
    import tf_keras as keras

    from tfcompress import data, export, serving, training
    quantize = None if FLAGS.quantize == "none" else FLAGS.quantize
    sparse = {"auto": None, "on": True, "off": False}[FLAGS.sparse]
    if FLAGS.format != "tflite" and (sparse is not None or FLAGS.block_sparsity is not None):
        sys.exit("error: --sparse and --block_sparsity apply to --format=tflite only")
    try:
        if FLAGS.run_dir:
            model, inputs = export.load_run(FLAGS.run_dir)
            base = FLAGS.run_dir
        else:
            if not os.path.exists(FLAGS.model):
                raise FileNotFoundError(f"--model {FLAGS.model!r} not found")
            model = keras.models.load_model(FLAGS.model)
            inputs = None if FLAGS.dataset is None else data.load(
                FLAGS.dataset, "train", data_dir=FLAGS.data_dir, image_size=FLAGS.image_size,
                shuffle=False).map(lambda x, y: x)
            base = os.path.dirname(os.path.abspath(FLAGS.model))
    except (FileNotFoundError, training.CheckpointError) as error:
        sys.exit(f"error: {error}")
    if FLAGS.format == "tflite":
        default = os.path.join(base, f"model{'_' + quantize if quantize else ''}.tflite")
    else:
        default = os.path.join(base, "saved_model_portable" if FLAGS.portable else "saved_model")
    try:
        if FLAGS.block_sparsity is not None:
            model = serving.block_prune(model, FLAGS.block_sparsity)
        path = export.save(model, FLAGS.output or default, format=FLAGS.format, quantize=quantize,
                           representative_data=inputs if quantize == "int8" else None,
                           portable=FLAGS.portable, sparse=sparse)
    except ValueError as error:
        sys.exit(f"error: {error}")
    print(f"wrote {FLAGS.format} {path} ({os.path.getsize(path) if os.path.isfile(path) else 'dir'}"
          f"{' bytes' if os.path.isfile(path) else ''})")
    if FLAGS.format == "tflite":
        with open(path, "rb") as f:
            counts = serving.fully_connected_weights(f.read())
        print("FULLY_CONNECTED weights: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))


if __name__ == "__main__":
    cli.run(main)
