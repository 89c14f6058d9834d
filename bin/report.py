#!/usr/bin/env python3
"""Compare tfcompress's techniques on one model and dataset: `bin/report.py --budget=smoke`.

Trains (or reuses, from runs/<name>/) one run per technique, setting and seed,
then writes reports/<name>/: summary.csv, seeds.csv, summary.md, figures and
index.html (open it from disk).
"""
import dataclasses

from absl import app, flags

from tfcompress import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "lenet5", "Model name (see tfcompress.models.names()).")
flags.DEFINE_string("model_args", "", "Extra model arguments, key=value,...")
flags.DEFINE_string("dataset", "digits", "digits (bundled), mnist, cifar10, cifar100, "
                    "imagenet2012 (tfds, in --data_dir), ucr:<Name>, video:<file>.")
flags.DEFINE_string("data_dir", None, "tfds data_dir, UCR archive root or video directory.")
flags.DEFINE_string("labels", None, "Labels CSV for video:<file> datasets.")
flags.DEFINE_integer("image_size", None, "Resize images to this size (digits: 28 or 32).")
flags.DEFINE_integer("channels", None, "Repeat grey images to this many channels.")
flags.DEFINE_list("techniques", "dense,spectral,dsr,rigl,tfmot,tfmot_block4,threshold,folded,hebbian",
                  "Techniques to compare, from dense, spectral, static, set, deepr, dsr, rigl, "
                  "tfmot, tfmot_block4 (tfmot with Dense kernels in the 1x4 blocks TFLite serves "
                  "faster, at --sparsity only), threshold, folded, hebbian (pruning and folding "
                  "also train dense).")
flags.DEFINE_enum("budget", "smoke", ["smoke", "full"], "smoke: minutes on 2 cores (5 epochs, "
                  "all examples, 3 rates, 2 sparsities, f=2); full: 20 epochs, all data, rates "
                  "0..90%, sparsities 50..95%, f=2,3,4.")
flags.DEFINE_integer("seeds", 1, "Seeds per variant (accuracy mean and std over them).")
flags.DEFINE_integer("epochs", None, "Override the budget's epochs (e.g. 200 for CIFAR).")
flags.DEFINE_integer("limit", None, "Override the budget's examples per split.")
flags.DEFINE_integer("batch_size", 64, "Batch size of every run.")
flags.DEFINE_float("lr", 0.05, "Learning rate (SGD momentum 0.9, cosine decay).")
flags.DEFINE_float("compress_rate", 0.5, "Spectral compress rate shown in the table.")
flags.DEFINE_float("sparsity", 0.9, "Sparsity of the sparse methods (static, set, deepr, dsr, "
                   "rigl, tfmot, tfmot_block4) shown in the table.")
flags.DEFINE_string("keep_dense", "first,last", "Layers the masked sparse methods leave dense "
                    "(first, last and/or names; empty: none).")
flags.DEFINE_string("name", None, "Report name (default <model>_<dataset>_<budget>).")
flags.DEFINE_string("runs_dir", "runs", "Where the runs go (runs/<name>/<variant>/seed<k>).")
flags.DEFINE_string("out_dir", "reports", "Where the report goes (reports/<name>/).")
flags.DEFINE_boolean("tflite", True, "Measure every variant's TFLite files too: float32 and int8 "
                     "sizes, int8 accuracy in the Interpreter, batch-1 latency (a few s each).")


def main(argv):
    """Validate every flag, then run or reuse every variant and write the report."""
    del argv
    from tfcompress.reports.compare import ReportConfig, run
    from tfcompress.training import parse_model_args
    names = {f.name for f in dataclasses.fields(ReportConfig)} - {"model_args", "techniques"}
    try:
        config = ReportConfig(model_args=parse_model_args(FLAGS.model_args),
                              techniques=tuple(FLAGS.techniques),
                              **{n: FLAGS[n].value for n in names}).validate()
    except (ValueError, FileNotFoundError) as error:
        raise app.UsageError(str(error))
    run(config)


if __name__ == "__main__":
    cli.run(main)
