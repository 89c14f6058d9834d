"""Check configs/*.flags without training: parse them with bin/train.py's own flag definitions."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Parses a flagfile with bin/train.py's flags and validates the settings the way its main()
# does, then prints the requested fields (the full-size datasets are not on this machine).
VALIDATE = """
import dataclasses, runpy, sys
from absl import flags
runpy.run_path("bin/train.py", run_name="flag_definitions")
from tfcompress.training import config as cfg
FLAGS = flags.FLAGS
FLAGS(["train.py", "--flagfile=" + sys.argv[1]])
names = {f.name for f in dataclasses.fields(cfg.TrainConfig)} - {"model_args"}
config = cfg.TrainConfig(model_args=cfg.parse_model_args(FLAGS.model_args),
                         **{name: FLAGS[name].value for name in names}).validate()
print(" ".join(str(getattr(config, name)) for name in sys.argv[2:]))
"""


# The head of a script that, for each flagfile in sys.argv[1:], parses it with bin/train.py's flags,
# validates it as main() does and builds the run's model as `tfcompress.training` would, the
# datasets mocked (the full-size sets are not on this machine). The loop body goes on after it with
# `path`, `config`, `info` and `model`, and fills `built[path]`; `built_by(body, paths)` runs it.
BUILD_EACH = """
import dataclasses, json, math, runpy, sys, tempfile
from absl import flags
runpy.run_path("bin/train.py", run_name="flag_definitions")
import numpy as np
import tensorflow_datasets as tfds
import tf_keras as keras
from tfcompress.training import config as cfg, loop
FLAGS = flags.FLAGS
names = {f.name for f in dataclasses.fields(cfg.TrainConfig)} - {"model_args"}
built = {}
for path in sys.argv[1:]:
    FLAGS.unparse_flags()
    FLAGS(["train.py", "--flagfile=" + path, "--data_dir=" + tempfile.mkdtemp()])
    config = cfg.TrainConfig(model_args=cfg.parse_model_args(FLAGS.model_args),
                             **{name: FLAGS[name].value for name in names}).validate()
    with tfds.testing.mock_data(num_examples=4):
        info = loop.describe_data(config)
        model = loop.build_model(config, info)
"""


def built_by(body, paths):
    """What the loop `body` (indented by 4, after BUILD_EACH) records in `built`, by flagfile path."""
    result = run("-c", BUILD_EACH + body + "print(json.dumps(built))\n", *paths, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(*args, timeout=300):
    """Run python with `args` in the repository root; return the CompletedProcess."""
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def settings(path, *fields):
    """The validated values of `fields` in flagfile `path`, space-separated."""
    result = run("-c", VALIDATE, path, *fields)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.split("\n")[-2]
