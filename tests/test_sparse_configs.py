"""configs/sparse_*.flags: the paper-size files are valid settings, and each runs at smoke size."""
import csv

import pytest

from flagfiles import run, settings

FIELDS = ("model", "model_args", "dataset", "epochs", "batch_size", "lr", "weight_decay", "sparse",
          "sparsity", "update_every", "n_prune_params")
PAPER = {
    "configs/sparse_wrn28_2_cifar10.flags":
        "wrn {'depth': 28, 'widen_factor': 2} cifar10 200 100 0.1 0.0005 dsr 0.9 100 20000",
    "configs/sparse_resnet50_imagenet.flags":
        "resnet50 {} imagenet2012 100 256 0.1 0.0001 dsr 0.8 1000 200000",
    "configs/sparse_mnist_mlp.flags": "mnist_mlp {} mnist 100 100 0.1 0.0005 dsr 0.9 100 600",
}
# Each full-size file on the bundled digits: a few steps, masks rewired every step.
SMOKE = {
    "configs/sparse_wrn28_2_cifar10.flags": ["--image_size=32", "--channels=3", "--limit=64"],
    "configs/sparse_resnet50_imagenet.flags": ["--image_size=32", "--channels=3", "--limit=32",
                                               "--batch_size=16"],
    "configs/sparse_mnist_mlp.flags": ["--image_size=28", "--limit=200"],
}


@pytest.mark.parametrize("path", sorted(PAPER))
def test_paper_flagfiles_hold_the_papers_settings(path):
    assert settings(path, *FIELDS) == PAPER[path]


@pytest.mark.parametrize("path", sorted(SMOKE))
def test_paper_flagfiles_run_at_smoke_size(path, tmp_path):
    result = run("bin/train.py", f"--flagfile={path}", "--dataset=digits", *SMOKE[path],
                 "--epochs=1", "--update_every=1", "--noaugment", "--noexport", "--verbose=0",
                 f"--run_dir={tmp_path}", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and float(rows[0]["sparsity"]) > 0.5
