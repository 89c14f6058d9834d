"""The reproduction suites (`bin/benchmark.py --suite=mnist_*,ucr_fcn`) at quick size on data the tests write.

Real MNIST and UCR runs take minutes to half an hour each; here each suite runs
one epoch on small IDX / .ts files in the official layouts, and the test checks
what a user reads: the Markdown table, the CSV rows, the ratios with targets.
"""
import csv
import os

import numpy as np
import pytest

from idx_files import write_set
from tfcompress import benchmarks


def _write_ucr(folder, name, length=24, counts=(12, 8)):
    """A two-class univariate `.ts` pair: class 1 is a rising ramp plus noise, class 2 a falling one."""
    rng = np.random.default_rng(0)
    for split, count in zip(("TRAIN", "TEST"), counts):
        labels = np.arange(count) % 2 + 1
        lines = [f"@problemName {name}", "@timeStamps false", "@missing false", "@univariate true",
                 "@equalLength true", f"@seriesLength {length}", "@classLabel true 1 2", "@data"]
        for label in labels:
            ramp = np.linspace(-1, 1, length) * (1 if label == 1 else -1) + rng.normal(0, 0.1, length)
            lines.append(",".join(f"{v:.4f}" for v in ramp) + f":{label}")
        (folder / name).mkdir(parents=True, exist_ok=True)
        (folder / name / f"{name}_{split}.ts").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("real_data")
    write_set(folder / "mnist", counts=(256, 128))
    for name in ("GunPoint", "ItalyPowerDemand"):
        _write_ucr(folder / "ucr", name)
    return folder


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def _run(suites, data_dir, out):
    results = benchmarks.run_suites(suites, str(out), repeats=1, quick=True, data_dir=str(data_dir))
    for name, result in results.items():
        assert any(note.startswith("wall time") for note in result.notes), name
        assert all(r["target"] or "rate" in r["ratio"] or "90%" in r["ratio"] for r in result.ratios), name
    return results


@pytest.mark.slow
def test_spectral_fold_and_fcn_suites_write_their_tables(data_dir, tmp_path):
    _run(["mnist_spectral", "mnist_fold", "ucr_fcn"], data_dir, tmp_path)
    spectral = (tmp_path / "mnist_spectral.md").read_text()
    assert "| Conv2D | 0% |" in spectral and "| band-limited | 50% |" in spectral
    assert [r["technique"] for r in _rows(tmp_path / "mnist_spectral.csv")] == ["dense", "spectral", "spectral"]
    assert os.path.getsize(tmp_path / "mnist_spectral.png") > 0
    assert "| 2 |" in (tmp_path / "mnist_fold.md").read_text()
    fcn = (tmp_path / "ucr_fcn.md").read_text()
    assert "| GunPoint | 12 / 8 / 24 | 100.0% |" in fcn
    ratios = {r["ratio"]: r for r in _rows(tmp_path / "ucr_fcn_ratios.csv")}
    assert ratios["GunPoint FCN rate 0 - published accuracy (points)"]["target"] == ">= -2"
    assert os.path.getsize(tmp_path / "ucr_fcn.png") > 0


@pytest.mark.slow
def test_pruning_and_sparse_suites_write_their_tables(data_dir, tmp_path):
    _run(["mnist_pruning", "mnist_sparse"], data_dir, tmp_path)
    pruning = (tmp_path / "mnist_pruning.md").read_text()
    for model in ("lenet_300_100", "lenet5"):
        for method in ("tfmot", "threshold"):
            assert f"| {model} | {method} |" in pruning
    assert "98.36%" in pruning and "99.23%" in pruning  # Han et al.'s figures beside ours
    assert "nn-compression seed" in (tmp_path / "mnist_pruning_layers.md").read_text()
    methods = [r["method"] for r in _rows(tmp_path / "mnist_sparse.csv")]
    assert methods == ["dense", "static", "tied (HashedNet)", "SET", "DeepR", "RigL", "DSR"]


@pytest.mark.parametrize("suite, fetch", [("mnist_sparse", "make mnist"), ("ucr_fcn", "make ucr")])
def test_missing_data_names_the_fetch_command(tmp_path, suite, fetch):
    with pytest.raises(FileNotFoundError, match=rf"is not in data_dir=.*{tmp_path}.*run `{fetch}"):
        benchmarks.run_suites([suite], str(tmp_path / "out"), quick=True, data_dir=str(tmp_path))
