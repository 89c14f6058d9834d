"""Sparse training in runs: identical masks across replicas and workers, exact resume, bin/train flags."""
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from cluster import ROOT, TRAIN, train_on_two_workers, variables_of
from test_training import run_bin
from tfcompress import training
from tfcompress.training import TrainConfig

SMOKE = dict(model="mnist_mlp", dataset="digits", limit=256, epochs=2, batch_size=64, lr=0.05,
             verbose=0, sparse="dsr", sparse_distribution="uniform", sparsity=0.9, keep_dense="",
             update_every=2, n_prune_params=200, sub_kernel_granularity=True, export=False)

MIRRORED = """
import numpy as np, tensorflow as tf, tf_keras as keras, tfcompress, sys
sys.path.insert(0, {tests!r})
from tfcompress import sparse
from tfcompress.training.strategy import split_cpu
from sparse_helpers import data, tiny_model
split_cpu(2)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
x, y = data(128)
with strategy.scope():
    model = tiny_model(sparsity=0.7)
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
first = [l.mask.numpy() for l in sparse.masked_layers(model)]
for method in (sparse.RigL(0.3), sparse.DSR(n_prune_params=20), sparse.SET(0.3)):
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[
        sparse.DynamicSparsity(method, update_every=2)])
for layer, mask in zip(sparse.masked_layers(model), first):
    for var in (layer.mask, layer.kernel):
        a, b = strategy.experimental_local_results(var)
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(layer.mask.numpy(), mask)
    assert np.all(layer.kernel.numpy()[layer.mask.numpy() == 0] == 0)
print("REPLICAS IDENTICAL", strategy.num_replicas_in_sync)
"""


def test_masks_identical_on_two_mirrored_replicas():
    code = MIRRORED.format(tests=os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "REPLICAS IDENTICAL 2" in result.stdout


def test_multi_worker_sparse_run_has_identical_masks(tmp_path):
    run = tmp_path / "run"
    train_on_two_workers(run, "--flagfile=configs/sparse_smoke.flags", "--epochs=1", "--noexport",
                         "--sparse=rigl")
    chief = variables_of(str(run / "checkpoints"))
    other = variables_of(str(run / "checkpoints" / "_worker_1"))
    masks = [name for name in chief if "mask" in name]
    assert len(masks) == 3 and chief.keys() == other.keys()
    for name in chief:
        np.testing.assert_array_equal(chief[name], other[name], err_msg=name)
    reader = tf.train.load_checkpoint(str(run / "checkpoints"))
    assert reader.get_tensor("sparse_updates/.ATTRIBUTES/VARIABLE_VALUE") == 2  # 4 steps, every 2


def test_resume_restores_masks_and_threshold_exactly(tmp_path):
    whole = training.train(TrainConfig(**SMOKE, run_dir=str(tmp_path / "whole")))
    training.train(TrainConfig(**{**SMOKE, "epochs": 1}, run_dir=str(tmp_path / "split")))
    resumed = training.train(TrainConfig(**SMOKE, run_dir=str(tmp_path / "split"), resume=True))
    for a, b in zip(whole.model.get_weights(), resumed.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    readers = [tf.train.load_checkpoint(str(tmp_path / name / "checkpoints"))
               for name in ("whole", "split")]
    for key in ("dsr_threshold/.ATTRIBUTES/VARIABLE_VALUE", "sparse_updates/.ATTRIBUTES/VARIABLE_VALUE"):
        assert readers[0].get_tensor(key) == readers[1].get_tensor(key)
    assert readers[0].get_tensor("sparse_updates/.ATTRIBUTES/VARIABLE_VALUE") == 4
    assert whole.history[-1]["nonzeros"] == resumed.history[-1]["nonzeros"]


def test_sparse_smoke_flagfile_logs_sparsity_and_exports(tmp_path):
    run = tmp_path / "run"
    result = run_bin(TRAIN, "--flagfile=configs/sparse_smoke.flags", f"--run_dir={run}")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = training.loop.reports.read_metrics(str(run / "metrics.csv"))
    assert {"nonzeros", "sparsity"} <= set(rows[-1])
    assert rows[-1]["sparsity"] == np.float64(rows[0]["sparsity"]) and rows[0]["sparsity"] > 0.85
    assert (run / "saved_model" / "saved_model.pb").exists()
