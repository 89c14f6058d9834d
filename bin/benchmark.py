#!/usr/bin/env python3
"""Run benchmark suites: `bin/benchmark.py --suite=spectral` writes bench/results/spectral.csv.

Prints the ratios measured in this one process (never compare absolute times
across runs on these noisy machines); `--quick` is a smoke run at tiny sizes.
Every CSV records the CPU model and the instruction sets in use (columns
cpu_model, isa); suites may also write figures and tables beside them (the
spectral suite: spectral_resource.png, time and memory vs compress rate).
"""
import logging
import os

from absl import app, flags

from tfcompress import benchmarks, cli

FLAGS = flags.FLAGS
flags.DEFINE_list("suite", ["spectral"],
                  "Comma-separated suites: " + ", ".join(sorted(benchmarks.SUITES)))
flags.DEFINE_string("out_dir", "bench/results", "Directory for <suite>.csv and <suite>_ratios.csv.")
flags.DEFINE_integer("repeats", 5, "Timed repeats per measurement (the median is kept); a "
                     "suite may time steps of milliseconds more often and steps of seconds less "
                     "(each CSV row records its count).", lower_bound=1)
flags.DEFINE_string("data_dir", benchmarks.DATA_DIR, "Folder of the real data sets that the mnist_* and ucr_* "
                    "suites read (mnist/ and ucr/, as tools/get_data.sh writes them).")
flags.DEFINE_bool("quick", False, "Tiny sizes and the given repeats: a smoke run for tests.")


def main(argv):
    """Validate the suite names, run them, print the ratios."""
    del argv
    unknown = [name for name in FLAGS.suite if name not in benchmarks.SUITES]
    if unknown or not FLAGS.suite:
        raise app.UsageError(f"--suite: unknown or missing suites {unknown or FLAGS.suite}; "
                             f"expected some of {sorted(benchmarks.SUITES)}")
    # Each timed layer gets its own tf.function; TF's retracing warning is noise here.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    results = benchmarks.run_suites(FLAGS.suite, FLAGS.out_dir, FLAGS.repeats, FLAGS.quick,
                                      FLAGS.data_dir)
    for name, result in results.items():
        print(benchmarks.format_ratios(name, result))
        print(f"[{name}] wrote {os.path.join(FLAGS.out_dir, name + '.csv')} and {name}_ratios.csv")


if __name__ == "__main__":
    cli.run(main)
