"""bin/prune.py and tfcompress.pruning.experiment: smoke run, outputs, table, errors before work."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tfcompress import training
from tfcompress.pruning import experiment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRUNE = os.path.join(ROOT, "bin", "prune.py")


def run_bin(*args):
    return subprocess.run([sys.executable, PRUNE, *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)


def test_smoke_flagfile_writes_every_output_and_the_table(tmp_path):
    run = tmp_path / "smoke"
    result = run_bin("--flagfile=configs/prune_smoke.flags", f"--run_dir={run}")
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("config.json", "metrics.csv", "weights_before_after.png", "layer_sparsity.png",
                 "weights_csr.npz", "csr_report.csv", "saved_model/saved_model.pb", "summary.json"):
        assert (run / name).exists(), name
    summary = json.loads((run / "summary.json").read_text())
    with np.load(run / "weights_csr.npz") as stored:
        nonzeros = sum(int(np.count_nonzero(stored[k])) for k in stored.files
                       if k.endswith(".values") or k.endswith(".dense"))
    assert summary["nonzeros"] == nonzeros and summary["compression"] > 1
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["group"] == "dense" and float(rows[1]["q"]) == 0.5
    table = run_bin(f"--table={run}")
    assert table.returncode == 0, table.stderr[-2000:]
    assert f"| threshold | lenet_300_100 | {summary['nonzeros']:,}/{summary['params']:,} |" in table.stdout


def test_bad_flag_fails_before_any_work(tmp_path):
    result = run_bin("--method=tfmot", "--target_sparsity=1.5", f"--run_dir={tmp_path / 'run'}")
    assert result.returncode != 0
    assert "final_sparsity must be a number in [0, 1), got 1.5" in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("kwargs,match", [
    (dict(method="tfmot", begin_step=500, end_step=100), "begin_step \\(500\\) must be < end_step"),
    (dict(method="tfmot", end_step=1000, epochs=1), "--epochs=1 gives 23 steps"),
    (dict(groups="fc:fc1,conv7"), "names layers \\['conv7'\\]"),
    (dict(groups=""), "no layer groups"),
    (dict(method="magic"), "--method must be one of"),
    (dict(method="tfmot", layers="fc1,conv9", end_step=10, epochs=1),
     "--layers names \\['conv9'\\], which model 'lenet_300_100' does not have"),
    (dict(finetune_schedule="plateau"), "--finetune_schedule must be one of constant, step, cosine; got 'plateau'"),
    (dict(checkpoint="/nonexistent/run"), "is not a run directory"),
    (dict(method="tfmot", block_size=-4, end_step=10, epochs=1), "block_size must be an int >= 1, got -4"),
    (dict(method="tfmot", block_size=2.5, end_step=10, epochs=1), "block_size must be an int >= 1, got 2.5"),
    (dict(block_size=4), "--block_size=4 applies to --method=tfmot only, not --method=threshold"),
])
def test_bad_settings_raise_before_work(kwargs, match):
    settings = {**dict(groups="fc:fc1", model="lenet_300_100"), **kwargs}
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        experiment.PruneConfig(**settings).validate()


def test_checkpoint_of_another_model_is_refused(tmp_path):
    run = str(tmp_path / "dense")
    training.train(training.TrainConfig(model="lenet_300_100", image_size=16, limit=64, epochs=1,
                                        run_dir=run, export=False, verbose=0))
    config = experiment.PruneConfig(model="lenet5", image_size=16, groups="fc:fc1", checkpoint=run)
    with pytest.raises(ValueError, match="it has --model='lenet_300_100', this run --model='lenet5'"):
        config.validate()
    with pytest.raises(ValueError, match="--image_size=16, this run --image_size=28"):
        experiment.PruneConfig(groups="fc:fc1", checkpoint=run).validate()
    assert experiment.PruneConfig(image_size=16, groups="fc:fc1", checkpoint=run).validate()


@pytest.mark.slow  # end to end (~20 s); make test-slow
def test_block_size_prunes_dense_kernels_in_whole_blocks_that_tflite_serves_sparse(tmp_path):
    from tfcompress import serving
    from tfcompress.pruning import csr
    run = tmp_path / "block"
    result = run_bin("--flagfile=configs/prune_smoke.flags", "--method=tfmot", "--block_size=4",
                     "--end_step=8", "--frequency=2", "--epochs=3", f"--run_dir={run}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "FULLY_CONNECTED weights 3 sparse, 0 densified, 0 dense" in result.stdout
    assert json.loads((run / "config.json").read_text())["block_size"] == 4
    kernels = {name: value for name, value in csr.from_csr(str(run / "weights_csr.npz")).items()
               if name.endswith("kernel:0")}
    assert len(kernels) == 3  # fc1 256x300, fc2 300x100, logits 100x10: 4 divides the inputs
    for name, kernel in kernels.items():
        assert np.mean(kernel == 0) == pytest.approx(0.9, abs=0.01), name
        blocks = kernel.reshape(-1, 4, kernel.shape[1]) != 0  # 4 inputs of one unit
        assert np.all(blocks.all(1) | ~blocks.any(1)), name  # all kept or all pruned
    flatbuffer = (run / "model.tflite").read_bytes()
    assert serving.fully_connected_weights(flatbuffer) == {"sparse": 3, "densified": 0, "dense": 0}
    summary = json.loads((run / "summary.json").read_text())
    assert summary["block_size"] == 4 and summary["tflite_float"]["latency_us"] > 0
    assert "| tfmot, 1x4 blocks | lenet_300_100 |" in experiment.table([str(run)])


def test_bad_block_size_fails_before_any_work(tmp_path):
    result = run_bin("--method=tfmot", "--block_size=0", f"--run_dir={tmp_path / 'run'}")
    assert result.returncode != 0
    assert "block_size must be an int >= 1, got 0" in result.stderr
    assert not (tmp_path / "run").exists()
