"""bin/benchmark.py --suite=spectral --quick, its cases, and the benchmark helpers."""
import csv
import math
import os
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfcompress import benchmarks
from tfcompress.benchmarks import spectral, spectral_training
from tfcompress.models import resnet18
from tfcompress.spectral import SpectralConv2D

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VARIANTS = {None, 0.0, 0.5, 0.75}  # Conv2D and the spectral rates of (f) and (g)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow  # about 1.5 min on 2 busy cores: (g) starts four processes
def test_quick_spectral_suite_writes_csv(tmp_path):
    result = subprocess.run(
        [sys.executable, "bin/benchmark.py", "--suite=spectral", "--quick", "--repeats=1",
         f"--out_dir={tmp_path}"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_csv(tmp_path / "spectral.csv")
    assert list(rows[0])[:9] == ["case", "shape", "variant", "compress_rate", "seconds", "repeats",
                                 "device", "cpu_model", "isa"]
    cases = {row["case"] for row in rows}
    assert cases == {"op_vs_tf", "mac_vs_rate", "planar_op_vs_tf", "planar_mac_vs_rate",
                     "conv1d_long", "conv2d_3x3", "training_step", "training_memory",
                     "fcn_training_step"}
    assert all(float(row["seconds"]) > 0 for row in rows if row["case"] != "training_memory")
    assert all(row["cpu_model"] and "cpu=" in row["isa"] for row in rows)
    # Steps of milliseconds are timed at least SHORT_REPEATS times, training steps as asked.
    assert {(row["case"], int(row["repeats"])) for row in rows} == {
        (case, 1 if case.startswith("training_") else spectral.SHORT_REPEATS) for case in cases}
    # (b) times the kept K: 0.5 and 0.75 of the coefficients fewer than r = 0.
    for case in ("mac_vs_rate", "planar_mac_vs_rate"):
        ks = [int(row["shape"].split("x")[-1]) for row in rows if row["case"] == case][:3]
        assert ks[0] > ks[1] > ks[2]
    # (g): one process per variant, each with memory of its own above its idle state.
    memory = [row for row in rows if row["case"] == "training_memory"]
    assert len({row["pid"] for row in memory}) == 4
    assert all(float(row["peak_rss_mib"]) > 0 and float(row["peak_tensor_mib"]) > 0
               for row in memory)
    ratios = read_csv(tmp_path / "spectral_ratios.csv")
    assert list(ratios[0]) == ["ratio", "value", "target", "cpu_model", "isa"]
    names = " ".join(r["ratio"] for r in ratios)
    for label in ("(a) spectral_mul fwd", "(a) spectral_mul_planar fwd", "(b) spectral_mul[",
                  "(b) spectral_mul_planar[", "(c) SpectralConv1D", "(d) SpectralConv2D",
                  "(e) SpectralConv2D",
                  "(f) ResNet-18 training step", "(g) ResNet-18 training step",
                  "(h) FCN training step"):
        assert label in names and label in result.stdout
    with open(tmp_path / "spectral_resource.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_layer_cases_time_every_rate_against_conv2d():
    result = benchmarks.SuiteResult()
    spectral.conv2d_3x3(spectral.QUICK, 1, result)
    shapes = [f"N=2 {s}x{s}x{c}" for s, c in spectral.QUICK.resnet_layers]
    for shape in shapes:
        seconds = {(row["variant"], row["compress_rate"]): row["seconds"]
                   for row in result.rows if row["shape"] == shape}
        assert sorted(rate for _, rate in seconds) == [0.0, 0.0, 0.5, 0.75]
        assert all(s > 0 for s in seconds.values())
        spectral_seconds = {rate: s for (variant, rate), s in seconds.items()
                            if variant.startswith("SpectralConv2D")}
        ratios = {r["ratio"]: r for r in result.ratios if r["ratio"].endswith(shape)}
        # (e) comes from the same interleaved timings as (d).
        for rate, target in spectral.LAYER_RATE_TARGETS.items():
            (e,) = [r for name, r in ratios.items()
                    if name.startswith("(e)") and f"r={rate} " in name]
            assert e["value"] == pytest.approx(spectral_seconds[rate] / spectral_seconds[0.0])
            assert e["target"] == target
        (d,) = [r for name, r in ratios.items() if name.startswith("(d)") and "r=0.5," in name]
        assert d["value"] == pytest.approx(seconds[("Conv2D", 0.0)] / spectral_seconds[0.5])
        assert d["target"] == spectral.VS_SPATIAL_TARGET


class _NanForward(keras.layers.Layer):
    """y = x * w + NaN: a forward output that is NaN, gradients that are not."""

    def build(self, input_shape):
        self.w = self.add_weight("w", shape=(), initializer="ones")

    def call(self, x):
        return x * self.w + tf.math.log(-1.0)


def test_layer_steps_compute_the_forward_pass():
    """The timed step returns the loss, so Grappler cannot drop the layer's forward pass (the
    linear loss's gradients do not need it): a NaN forward output shows in the result."""
    x = np.ones((2, 4, 4, 3), np.float32)
    assert np.isnan(float(spectral._train_step(_NanForward(), x)()))


def test_full_training_model_is_resnet18():
    sizes = spectral_training.FULL_TRAINING
    model = spectral_training.training_model(sizes, None)
    expected = resnet18((sizes.image, sizes.image, 3), 10)
    assert model.count_params() == expected.count_params()
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 11_173_962
    assert [type(layer).__name__ for layer in model.layers] == [
        type(layer).__name__ for layer in expected.layers]


def test_training_variants_start_from_the_same_weights():
    sizes = spectral_training.QUICK_TRAINING
    x = np.random.default_rng(1).standard_normal((2, sizes.image, sizes.image, 3), np.float32)
    conv = spectral_training.training_model(sizes, None)
    for rate in (0.0, 0.5):
        model = spectral_training.training_model(sizes, rate)
        convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
        assert not convs
        assert {layer.compress_rate for layer in model.layers
                if isinstance(layer, SpectralConv2D)} == {rate}
        for a, b in zip(conv.get_weights(), model.get_weights()):
            np.testing.assert_array_equal(a, b)
    # At r = 0 the spectral copy computes Conv2D's function.
    np.testing.assert_allclose(spectral_training.training_model(sizes, 0.0)(x), conv(x),
                               rtol=1e-4, atol=1e-4)


def test_training_step_time_times_each_variant():
    seconds = spectral_training.step_time(spectral_training.QUICK_TRAINING, 1)
    assert set(seconds) == VARIANTS and all(s > 0 for s in seconds.values())


def test_fcn_case_times_conv1d_and_each_rate_of_the_papers_1d_model():
    full = spectral_training.fcn_model(spectral_training.FULL_FCN, 0.5)
    assert full.input_shape == (None, 150, 1) and full.output_shape == (None, 2)
    assert [layer.kernel_size for layer in full.layers
            if type(layer).__name__ == "SpectralConv1D"] == [(8,), (5,), (3,)]
    result = benchmarks.SuiteResult()
    spectral.fcn_training_time(spectral.QUICK, 1, result)
    rows = [row for row in result.rows if row["case"] == "fcn_training_step"]
    assert {(row["variant"].split("[")[0], row["compress_rate"]) for row in rows} == {
        ("Conv1D", 0.0), ("SpectralConv1D", 0.0), ("SpectralConv1D", 0.5), ("SpectralConv1D", 0.75)}
    assert all(row["seconds"] > 0 and row["repeats"] == 1 for row in rows)
    (h,) = [r for r in result.ratios if r["ratio"].startswith("(h)") and "r=0.5," in r["ratio"]]
    assert h["target"] == spectral.VS_SPATIAL_TARGET


@pytest.mark.slow  # four processes that each load TensorFlow: about 1 min on 2 busy cores
def test_step_memory_measures_each_variant_in_its_own_process():
    memory = spectral_training.step_memory(spectral_training.QUICK_TRAINING)
    assert set(memory) == VARIANTS
    pids = {measured["pid"] for measured in memory.values()}
    assert len(pids) == 4 and os.getpid() not in pids
    assert all(m["peak_rss_mib"] > 0 and m["peak_tensor_mib"] > 0 for m in memory.values())
    # Fewer kept coefficients, smaller spectra kept for backward.
    assert memory[0.75]["peak_tensor_mib"] < memory[0.0]["peak_tensor_mib"]


def test_plot_resource_and_memory_fraction(tmp_path):
    seconds = {None: 1.0, 0.0: 3.0, 0.5: 2.0, 0.75: 1.5}
    memory = {rate: {"peak_tensor_mib": mib, "peak_rss_mib": 2 * mib}
              for rate, mib in {None: 10.0, 0.0: 40.0, 0.5: 20.0, 0.75: 10.0}.items()}
    assert spectral_training.memory_fraction(memory, 0.5, "peak_tensor_mib") == 0.5
    # The spectral layers add 30 MiB above Conv2D's 10 at r=0, 10 at r=0.5, nothing at 0.75.
    assert spectral_training.spectral_part_fraction(memory, 0.5, "peak_tensor_mib") == 1 / 3
    assert spectral_training.spectral_part_fraction(memory, 0.75, "peak_tensor_mib") == 0.0
    path = tmp_path / "figure.png"
    spectral_training.plot_resource(seconds, memory, str(path))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    memory[0.0]["peak_tensor_mib"] = 0.0  # no allocator statistics
    assert math.isnan(spectral_training.memory_fraction(memory, 0.5, "peak_tensor_mib"))
    assert math.isnan(spectral_training.spectral_part_fraction(memory, 0.5, "peak_tensor_mib"))


def test_every_csv_records_the_machine(tmp_path, monkeypatch):
    suite = types.ModuleType("fake_suite")

    def run(quick, repeats):
        result = benchmarks.SuiteResult(rows=[{"case": "x", "seconds": 1.0}])
        result.add_ratio("x", 2.0)
        return result

    suite.run = run
    monkeypatch.setitem(sys.modules, "fake_suite", suite)
    monkeypatch.setitem(benchmarks.SUITES, "fake", "fake_suite")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    benchmarks.run_suites(["fake"], str(tmp_path))
    machine = benchmarks.machine()
    assert "ONEDNN_MAX_CPU_ISA=AVX2" in machine["isa"] and machine["cpu_model"]
    for name in ("fake.csv", "fake_ratios.csv"):
        (row,) = read_csv(tmp_path / name)
        assert (row["cpu_model"], row["isa"]) == (machine["cpu_model"], machine["isa"])


def test_machine_reads_the_cpu_flags():
    with open("/proc/cpuinfo") as f:
        flags = next(line for line in f if line.startswith("flags")).split()
    isa = benchmarks.machine()["isa"]
    assert ("avx512f" in isa) == ("avx512f" in flags)
    assert ("avx2" in isa) == ("avx2" in flags)
    assert ("amx" in isa) == ("amx_tile" in flags)


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
