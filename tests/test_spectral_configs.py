"""configs/spectral_*.flags: the full-size files are valid bin/train.py settings; the smoke one runs."""
import csv
import glob
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FULL = ["configs/spectral_resnet18_cifar10.flags", "configs/spectral_densenet_cifar100.flags"]

# Parses a flagfile with bin/train.py's own flag definitions and validates the settings
# the way its main() does, without training (CIFAR is not on this machine).
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
print(config.model, config.dataset, config.conv, config.compress_rate, config.epochs,
      config.optimizer, config.momentum, config.lr, config.lr_schedule, config.weight_decay)
"""


def run(*args, timeout=300):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_full_size_flagfiles_are_the_papers_settings():
    expected = {FULL[0]: "resnet18 cifar10 spectral 0.5 350 momentum 0.9 0.01 plateau 0.0005",
                FULL[1]: "densenet_bc cifar100 spectral 0.5 350 momentum 0.9 0.01 plateau 0.0001"}
    for path, settings in expected.items():
        result = run("-c", VALIDATE, path)
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.split("\n")[-2] == settings


def test_smoke_flagfile_trains_a_band_limited_resnet(tmp_path):
    result = run("bin/train.py", "--flagfile=configs/spectral_smoke.flags",
                 f"--run_dir={tmp_path}", "--verbose=0")
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "metrics.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 2  # two epochs
    assert os.path.exists(tmp_path / "saved_model" / "saved_model.pb")
    assert "--conv=spectral" in (tmp_path / "flags.txt").read_text()
    assert glob.glob(str(tmp_path / "checkpoints" / "*"))
