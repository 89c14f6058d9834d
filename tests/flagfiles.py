"""Check configs/*.flags without training: parse them with bin/train.py's own flag definitions."""
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


def run(*args, timeout=300):
    """Run python with `args` in the repository root; return the CompletedProcess."""
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def settings(path, *fields):
    """The validated values of `fields` in flagfile `path`, space-separated."""
    result = run("-c", VALIDATE, path, *fields)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.split("\n")[-2]
