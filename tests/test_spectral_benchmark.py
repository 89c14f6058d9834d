"""bin/benchmark.py --suite=spectral --quick, and the benchmark helpers."""
import csv
import os
import subprocess
import sys

import pytest

from tfcompress import benchmarks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_quick_spectral_suite_writes_csv(tmp_path):
    result = subprocess.run(
        [sys.executable, "bin/benchmark.py", "--suite=spectral", "--quick", "--repeats=1",
         f"--out_dir={tmp_path}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_csv(tmp_path / "spectral.csv")
    assert list(rows[0]) == ["case", "shape", "variant", "compress_rate", "seconds", "repeats",
                             "device"]
    cases = {row["case"] for row in rows}
    assert cases == {"op_vs_tf", "mac_vs_rate", "conv1d_long", "conv2d_3x3"}
    assert all(float(row["seconds"]) > 0 for row in rows)
    # (b) times the kept K: 0.5 and 0.75 of the coefficients fewer than r = 0.
    ks = [int(row["shape"].split("x")[-1]) for row in rows if row["case"] == "mac_vs_rate"][:3]
    assert ks[0] > ks[1] > ks[2]
    ratios = read_csv(tmp_path / "spectral_ratios.csv")
    assert list(ratios[0]) == ["ratio", "value", "target"]
    assert any(r["ratio"].startswith("(c) SpectralConv1D") for r in ratios)
    assert "(d) SpectralConv2D" in result.stdout


def test_unknown_suite_fails_before_timing(tmp_path):
    result = subprocess.run([sys.executable, "bin/benchmark.py", "--suite=spectral,nope",
                             f"--out_dir={tmp_path}"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0 and "'nope'" in result.stderr
    assert not os.listdir(tmp_path)
    with pytest.raises(ValueError, match="unknown benchmark suite 'nope'"):
        benchmarks.get_suite("nope")


def test_time_fn_is_the_median(monkeypatch):
    clock = iter([0.0, 1.0, 10.0, 13.0, 20.0, 22.0])  # calls of 1 s, 3 s and 2 s
    monkeypatch.setattr(benchmarks.time, "perf_counter", lambda: next(clock))
    calls = []
    assert benchmarks.time_fn(lambda: calls.append(1), repeats=3, warmup=2) == 2.0
    assert len(calls) == 5
    with pytest.raises(ValueError, match="repeats=0"):
        benchmarks.time_fn(lambda: None, repeats=0)


def test_write_csv_columns_in_first_seen_order(tmp_path):
    path = benchmarks.write_csv([{"a": 1, "b": 2}, {"b": 3, "c": 4}], str(tmp_path / "x" / "t.csv"))
    assert read_csv(path) == [{"a": "1", "b": "2", "c": ""}, {"a": "", "b": "3", "c": "4"}]
