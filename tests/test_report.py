"""bin/report.py and tfcompress.reports: every technique side by side, reused runs, costs."""
import csv
import os
import subprocess
import sys

import numpy as np
import pytest
import tf_keras as keras

from cluster import ROOT
from tfcompress.reports import costs
from tfcompress.reports.compare import ReportConfig

REPORT = os.path.join(ROOT, "bin", "report.py")
# TFLite measures are tested in test_export_report.py.
TINY = ["--image_size=16", "--epochs=1", "--limit=128", "--batch_size=32", "--notflite"]


def _report(tmp_path, *flags):
    return subprocess.run([sys.executable, REPORT, f"--runs_dir={tmp_path / 'runs'}",
                           f"--out_dir={tmp_path / 'reports'}", "--name=tiny", *TINY, *flags],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_report_of_three_techniques_then_reuse(tmp_path):
    """The report's path at a third of the cost of every technique (that one is in the slow suite)."""
    first = _report(tmp_path, "--techniques=dense,dsr,folded")
    assert first.returncode == 0, first.stderr[-3000:]
    out = tmp_path / "reports" / "tiny"
    with open(out / "summary.csv") as f:
        rows = {row["label"]: row for row in csv.DictReader(f)}
    assert set(rows) == {"dense", "dsr_s0.8", "dsr_s0.9", "folded_f2"}
    assert float(rows["dsr_s0.9"]["nonzeros"]) < 0.2 * float(rows["dense"]["params"])
    assert float(rows["folded_f2"]["params"]) > float(rows["dense"]["params"])
    assert (out / "summary.md").read_text().count("\n") == 2 + 3  # one headline row per technique
    page = (out / "index.html").read_text()
    for figure in ("accuracy_vs_sparsity.png", "dsr_layer_sparsity.png", "fold_throughput.png"):
        assert (out / figure).stat().st_size > 1000, figure
        assert f'src="{figure}"' in page, figure

    again = _report(tmp_path, "--techniques=dense,dsr")
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("reused") == 3  # dense, dsr_s0.8, dsr_s0.9: from their outcome.json


@pytest.mark.slow
def test_report_of_every_technique_then_reuse(tmp_path):
    first = _report(tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    out = tmp_path / "reports" / "tiny"
    with open(out / "summary.csv") as f:
        rows = {row["label"]: row for row in csv.DictReader(f)}
    assert set(rows) == {"dense", "spectral_r0", "spectral_r0.5", "spectral_r0.9", "dsr_s0.8",
                         "dsr_s0.9", "rigl_s0.8", "rigl_s0.9", "tfmot_s0.8", "tfmot_s0.9",
                         "tfmot_block4_s0.9", "threshold", "folded_f2", "hebbian"}
    dense = rows["dense"]
    assert float(dense["nonzeros"]) > 0.99 * float(dense["params"])
    for label in ("dsr_s0.9", "rigl_s0.9", "tfmot_s0.9", "tfmot_block4_s0.9"):
        assert float(rows[label]["nonzeros"]) < 0.2 * float(dense["params"]), label
        assert float(rows[label]["csr_bytes"]) < float(dense["dense_bytes"]), label
        assert float(rows[label]["inference_flops"]) < 0.6 * float(dense["inference_flops"]), label
    assert float(rows["folded_f2"]["params"]) > float(dense["params"])
    table = (out / "summary.md").read_text()
    assert table.count("\n") == 2 + 9  # heading, rule, one headline row per technique
    assert "| tfmot_block4_s0.9 |" in table
    assert "spectral_r0.5" in table and "spectral_r0.9" not in table
    page = (out / "index.html").read_text()
    for figure in ("accuracy_vs_compress_rate.png", "accuracy_vs_sparsity.png",
                   "dsr_layer_sparsity.png", "threshold_weight_histograms.png",
                   "fold_throughput.png"):
        assert (out / figure).stat().st_size > 1000, figure
        assert f'src="{figure}"' in page, figure

    again = _report(tmp_path, "--techniques=dense,dsr")
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("reused") == 3  # dense, dsr_s0.8, dsr_s0.9: from their outcome.json
    assert "training lenet5" not in again.stdout


def test_a_bad_flag_fails_before_any_work(tmp_path):
    result = _report(tmp_path, "--seeds=0")
    assert result.returncode != 0 and "--seeds" in result.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("setting,message", [
    (dict(techniques=("dense", "pruning")), "--techniques"), (dict(seeds=0), "--seeds"),
    (dict(sparsity=1.0), "--sparsity"), (dict(compress_rate=-0.1), "--compress_rate"),
])
def test_bad_settings_are_named(setting, message):
    # bin/report.py shows this message as its usage error (the test above).
    with pytest.raises(ValueError, match=message):
        ReportConfig(**setting).validate()


def test_variants_sweep_the_budget_and_add_the_headline_settings():
    config = ReportConfig(techniques=("spectral", "folded"), compress_rate=0.3, budget="smoke")
    labels = [v.label for v in config.variants()]
    assert labels == ["dense", "spectral_r0", "spectral_r0.3", "spectral_r0.5", "spectral_r0.9",
                      "folded_f2"]
    block = ReportConfig(techniques=("tfmot", "tfmot_block4", "threshold"), sparsity=0.85)
    assert [v.label for v in block.variants()] == [  # 1x4 blocks: the headline sparsity only
        "dense", "tfmot_s0.8", "tfmot_s0.85", "tfmot_s0.9", "tfmot_block4_s0.85", "threshold"]
    assert [v.label for v in block.variants() if block.headline(v)] == [
        "dense", "tfmot_s0.85", "tfmot_block4_s0.85", "threshold"]


def test_inference_flops_count_only_non_zero_weights():
    model = keras.Sequential([keras.layers.Dense(10, input_shape=(20,), name="fc")])
    assert costs.inference_flops(model) == 2 * 20 * 10 + 10  # MatMul + BiasAdd
    kernel = model.layers[0].kernel
    kernel.assign(np.where(np.arange(200).reshape(20, 10) % 2, kernel.numpy(), 0))
    assert costs.inference_flops(model) == 20 * 10 + 10
    assert costs.inference_flops(model, fold=2) == (20 * 10 + 10) // 2


def test_spectral_layers_use_their_own_flop_count():
    from tfcompress.spectral.layers import SpectralConv2D
    layer = SpectralConv2D(4, 3, padding="same", compress_rate=0.5, name="spec")
    model = keras.Sequential([keras.Input((8, 8, 2)), layer])
    assert costs.inference_flops(model) == layer.flops((1, 8, 8, 2))


def test_saved_tflite_files_of_every_run_are_timed_together(tmp_path):
    from tfcompress.reports import compare, tflite
    from tfcompress.reports.variants import BUDGETS, Context, Variant
    context = Context(base=None, budget=BUDGETS["smoke"], runs_dir=str(tmp_path), info=None)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
    calibration = np.random.default_rng(0).random((16, 8), dtype=np.float32)
    saved, old = Variant("dense"), Variant("threshold")
    os.makedirs(context.run_dir(saved, 0))
    measured = tflite.measures(model, calibration, save_dir=context.run_dir(saved, 0))
    assert np.isnan(measured["latency_us"]) and measured["tflite_bytes"] > 0  # timed later
    assert sorted(os.listdir(context.run_dir(saved, 0))) == sorted(tflite.FILES)
    outcomes = {saved: [measured], old: [{"latency_us": 7.0, "int8_latency_us": 3.0}]}
    compare._time_tflite_files(context, outcomes)
    assert 0 < outcomes[saved][0]["latency_us"] < 1e5 and 0 < outcomes[saved][0]["int8_latency_us"] < 1e5
    assert outcomes[old][0] == {"latency_us": 7.0, "int8_latency_us": 3.0}  # no files: kept
