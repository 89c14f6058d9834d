"""Crash-safe runs: SIGKILL mid-epoch, NaN losses, and a 2-worker spectral + DSR run of bin/train.py."""
import glob
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from cluster import ROOT, TRAIN, train_on_two_workers, variables_of
from tfcompress import reports, training
from tfcompress.sparse.masks import MaskedLayer
from tfcompress.spectral.layers import SpectralConv2D
from tfcompress.training import TrainConfig
from tfcompress.training.checkpoints import EpochCheckpoint
from tfcompress.training.guards import NonFiniteLossGuard

FLAGS = ["--flagfile=configs/train_smoke.flags", "--limit=512", "--batch_size=32", "--lr=0.01", "--epochs=3",
         "--noexport"]
# The killed process: bin/train.py's own settings, plus a callback that SIGKILLs the process
# after the 5th batch of the 2nd epoch, i.e. mid-epoch, after checkpoint 1 and before checkpoint 2.
KILLED = """
import importlib.util, os, signal, sys
import tf_keras as keras
from tfcompress import training
spec = importlib.util.spec_from_file_location("train_bin", {train!r})
train_bin = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train_bin)                      # defines bin/train.py's flags
train_bin.FLAGS([{train!r}, *{flags!r}])
names = {{f.name for f in train_bin.dataclasses.fields(training.TrainConfig)}} - {{"model_args"}}
config = training.TrainConfig(**{{n: train_bin.FLAGS[n].value for n in names}})

class Kill(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 1 and batch == 4:
            os.kill(os.getpid(), signal.SIGKILL)

training.train(config, callbacks=[Kill()])
"""


def _run(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow  # end to end (~20 s); make test-slow
def test_sigkill_mid_epoch_then_resume_matches_the_uninterrupted_run(tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert _run(TRAIN, *FLAGS, f"--run_dir={whole}").returncode == 0

    killed = _run("-c", KILLED.format(train=TRAIN, flags=[*FLAGS, f"--run_dir={split}"]))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert tf.train.latest_checkpoint(str(split / "checkpoints")).endswith("ckpt-1")

    resumed = _run(TRAIN, *FLAGS, f"--run_dir={split}", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stdout and "ckpt-1 (epoch 1)" in resumed.stdout
    a, b = variables_of(str(whole / "checkpoints")), variables_of(str(split / "checkpoints"))
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    rows = reports.read_metrics(str(split / "metrics.csv"))
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    assert rows == reports.read_metrics(str(whole / "metrics.csv"))


class _PoisonWeightsAtEpoch(keras.callbacks.Callback):
    """Fault injection: set the output layer's bias to NaN when epoch `epoch` begins."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            bias = self.model.trainable_weights[-1]
            bias.assign(tf.fill(bias.shape, float("nan")))


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    config = TrainConfig(model="lenet5", image_size=16, limit=128, batch_size=32, epochs=4,
                         run_dir=str(tmp_path / "run"), export=False, verbose=0)
    with pytest.raises(training.NonFiniteLossError,
                       match=r"loss became nan at step 9 \(epoch 3\).*ckpt-2"):
        training.train(config, callbacks=[_PoisonWeightsAtEpoch(2)])
    assert tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints")).endswith("ckpt-2")
    model, _ = training.load_run(config.run_dir)
    assert all(np.isfinite(w).all() for w in model.get_weights())
    rows = reports.read_metrics(str(tmp_path / "run" / "metrics.csv"))  # the bad epoch is recorded
    assert [np.isfinite(r["loss"]) for r in rows] == [True, True, False]


def test_guard_stops_fit_at_the_first_bad_batch():
    model = keras.Sequential([keras.layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((8, 2), np.float32)
    y = np.array([0, 0, 0, np.nan, 0, 0, 0, 0], np.float32)
    guard = NonFiniteLossGuard()
    model.fit(x, y, batch_size=2, epochs=3, shuffle=False, verbose=0, callbacks=[guard])
    assert guard.bad_step == 2 and model.optimizer.iterations.numpy() == 2
    with pytest.raises(training.NonFiniteLossError, match="at step 2 .*epoch 1.*none"):
        guard.raise_if_triggered(None)


def test_bin_train_reports_a_diverging_run(tmp_path):
    result = _run(TRAIN, "--flagfile=configs/train_smoke.flags", "--lr=1e38",
                  f"--run_dir={tmp_path / 'run'}")
    assert result.returncode == 1
    assert "error: loss became" in result.stderr and "Last good checkpoint: none" in result.stderr
    assert not glob.glob(str(tmp_path / "run" / "checkpoints" / "ckpt-*"))


@pytest.mark.slow  # two-worker runs of bin/train stay in test_training and test_sparse_training
def test_two_worker_spectral_dsr_run_ends_with_identical_weights_and_masks(tmp_path):
    run = tmp_path / "run"
    train_on_two_workers(run, "--flagfile=configs/train_smoke.flags", "--image_size=16",
                         "--epochs=1", "--noexport", "--conv=spectral", "--compress_rate=0.5",
                         "--sparse=dsr", "--update_every=2", "--n_prune_params=50",
                         "--initial_sparsity_conv=0.5", "--initial_sparsity_fc=0.9",
                         "--keep_dense=last")
    chief = variables_of(str(run / "checkpoints"))
    other = variables_of(str(run / "checkpoints" / "_worker_1"))
    assert chief.keys() == other.keys()
    model, _ = training.load_run(str(run))
    spectral = [layer for layer in model.layers
                if isinstance(layer, MaskedLayer) and isinstance(layer.layer, SpectralConv2D)]
    assert len(spectral) == 2 and all(0 < layer.mask.numpy().mean() < 1 for layer in spectral)
    for name in chief:
        np.testing.assert_array_equal(chief[name], other[name], err_msg=name)
    reader = tf.train.load_checkpoint(str(run / "checkpoints"))
    assert reader.get_tensor("sparse_updates/.ATTRIBUTES/VARIABLE_VALUE") == 2
    assert os.path.exists(run / "metrics.csv")


def test_every_checkpoint_unreadable_is_an_error_naming_each(tmp_path):
    config = TrainConfig(model="lenet5", image_size=16, limit=64, batch_size=32, epochs=2,
                         run_dir=str(tmp_path / "run"), export=False, verbose=0)
    training.train(config)
    for shard in glob.glob(str(tmp_path / "run" / "checkpoints" / "ckpt-*.data-*")):
        with open(shard, "r+b") as f:
            f.truncate(16)
    with pytest.raises(training.CheckpointError,
                       match=r"no checkpoint could be restored:\n.*ckpt-2: .*\n.*ckpt-1: "):
        training.load_run(config.run_dir)


def test_a_directory_that_is_not_a_run_is_named(tmp_path):
    result = _run(os.path.join(ROOT, "bin", "export.py"), f"--run_dir={tmp_path}")
    assert result.returncode == 1
    assert f"error: '{tmp_path}/config.json' not found: '{tmp_path}' is not a tfcompress run" \
        in result.stderr
