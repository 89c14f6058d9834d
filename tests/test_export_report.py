"""bin/report.py's TFLite columns: file sizes raw and gzipped, int8 accuracy in the Interpreter,
batch-1 latency against dense, and the size-vs-accuracy figure."""
import csv
import math
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow  # about 25 s; TFLite export itself is in test_export_tflite.py
def test_report_has_tflite_columns_and_figure(tmp_path):
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bin", "report.py"), f"--runs_dir={tmp_path / 'runs'}",
         f"--out_dir={tmp_path / 'reports'}", "--name=tiny", "--model=lenet_300_100",
         "--image_size=16", "--epochs=2", "--limit=256", "--batch_size=32",
         "--techniques=dense,threshold,folded"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "reports" / "tiny"
    with open(out / "summary.csv") as f:
        rows = {row["label"]: row for row in csv.DictReader(f)}
    dense, pruned, folded = rows["dense"], rows["threshold"], rows["folded_f2"]
    for row in (dense, pruned, folded):
        assert 0 < float(row["int8_gzip_bytes"]) < float(row["int8_bytes"]) < float(row["tflite_bytes"])
        assert float(row["int8_latency_us"]) > 0 and float(row["latency_us"]) > 0
    assert float(dense["int8_size_ratio"]) > 3  # float32 -> int8 alone
    assert float(pruned["int8_size_ratio"]) > float(dense["int8_size_ratio"])
    assert float(dense["int8_speedup"]) == 1.0
    assert abs(float(dense["int8_accuracy"]) - float(dense["accuracy_mean"])) <= 0.05
    assert math.isnan(float(folded["int8_accuracy"]))  # folded inputs: sizes and latency only
    table = (out / "summary.md").read_text()
    assert "TFLite int8 bytes (gz)" in table and "int8 accuracy (Interpreter)" in table
    assert (out / "tflite_size_vs_accuracy.png").stat().st_size > 1000
    assert 'src="tflite_size_vs_accuracy.png"' in (out / "index.html").read_text()
