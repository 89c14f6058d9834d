"""configs/spectral_*.flags: the full-size files are valid bin/train.py settings; the smoke one runs."""
import csv
import glob
import os

from flagfiles import run, settings

FULL = ["configs/spectral_resnet18_cifar10.flags", "configs/spectral_densenet_cifar100.flags"]
FIELDS = ("model", "dataset", "conv", "compress_rate", "epochs", "optimizer", "momentum", "lr",
          "lr_schedule", "weight_decay")


def test_full_size_flagfiles_are_the_papers_settings():
    expected = {FULL[0]: "resnet18 cifar10 spectral 0.5 350 momentum 0.9 0.01 plateau 0.0005",
                FULL[1]: "densenet_bc cifar100 spectral 0.5 350 momentum 0.9 0.01 plateau 0.0001"}
    for path, values in expected.items():
        assert settings(path, *FIELDS) == values


def test_smoke_flagfile_trains_a_band_limited_resnet(tmp_path):
    result = run("bin/train.py", "--flagfile=configs/spectral_smoke.flags",
                 f"--run_dir={tmp_path}", "--verbose=0")
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "metrics.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 2  # two epochs
    assert os.path.exists(tmp_path / "saved_model" / "saved_model.pb")
    assert "--conv=spectral" in (tmp_path / "flags.txt").read_text()
    assert glob.glob(str(tmp_path / "checkpoints" / "*"))
