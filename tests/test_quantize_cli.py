"""bin/prune.py --quantize=qat: pruning, pruning-preserving QAT, int8 TFLite file, bad value."""
import gzip
import json

import pytest

from flagfiles import run


def run_bin(*args):
    return run("bin/prune.py", *args, timeout=600)


@pytest.mark.slow  # about 17 s; quantize_model itself is in test_quantize.py
def test_prune_then_qat_writes_an_int8_file_that_keeps_the_zeros(tmp_path):
    run = tmp_path / "qat"
    result = run_bin("--flagfile=configs/prune_smoke.flags", f"--run_dir={run}", "--quantize=qat",
                     "--qat_epochs=1")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run / "summary.json").read_text())
    path = run / "model_int8.tflite"
    raw = path.read_bytes()
    assert summary["quantize"] == "qat" and summary["tflite_int8_bytes"] == len(raw)
    assert summary["tflite_int8_gzip_bytes"] == len(gzip.compress(raw, 9))
    assert 0.0 <= summary["tflite_int8_accuracy"] <= 1.0
    assert "int8 TFLite (qat):" in result.stdout and summary["tflite_gzip_ratio"] > 4
    # Zeros kept by QAT compress: the gzipped int8 file is smaller than one byte per non-zero
    # plus a small index, far below the 1 byte per parameter of a dense int8 file.
    assert summary["tflite_int8_gzip_bytes"] < 2 * summary["nonzeros"] + 8000 < summary["params"]


def test_bad_quantize_value_is_named(tmp_path):
    result = run_bin("--flagfile=configs/prune_smoke.flags", f"--run_dir={tmp_path}", "--quantize=int4")
    assert result.returncode != 0 and "int4" in result.stderr
