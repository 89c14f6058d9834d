"""bin/train.py and tfcompress.training: flags, run directory, resume, export, strategies."""
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from cluster import ROOT, TRAIN, train_on_two_workers, variables_of
import tfcompress
from tfcompress import sparse, training
from tfcompress.training import TrainConfig

SMOKE = dict(model="lenet5", dataset="digits", image_size=16, limit=192, epochs=2, batch_size=64,
             lr=0.05, verbose=0)


def run_bin(*args, env=None, timeout=300):
    """Run a binary of bin/ in a fresh process; return the CompletedProcess."""
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("field,value,flag", [
    ("optimizer", "rmsprop", "--optimizer"), ("epochs", 0, "--epochs"), ("lr", -1.0, "--lr"),
    ("compress_rate", 1.0, "--compress_rate"), ("preserve_energy", 0.0, "--preserve_energy"),
    ("data_dir", "/nonexistent/dir", "--data_dir"), ("strategy", "tpu", "--strategy"),
    ("hebbian_k2", 1.5, "--hebbian_k1/--hebbian_k2"), ("hebbian_k1", 0.5, "--hebbian_k1/--hebbian_k2"),
    ("hebbian_rewire_every", 5, "--hebbian_rewire_every"), ("fft_size", "circular", "--fft_size"),
])
def test_bad_settings_name_the_flag(field, value, flag):
    with pytest.raises((ValueError, FileNotFoundError), match=flag):
        TrainConfig(**{field: value}).validate()


def test_hebbian_flags_reach_every_hebbian_layer():
    config = TrainConfig(**SMOKE, conv="hebbian", hebbian_k1=0.2, hebbian_k2=0.4,
                         hebbian_accumulate_every=5, hebbian_rewire_every=15)
    model = training.build_model(config, training.loop.describe_data(config))
    layers = [layer for layer in model.layers if type(layer).__name__ == "HebbianSparseConv2D"]
    assert len(layers) == 2
    assert {(l.k1, l.k2, l.accumulate_every, l.rewire_every) for l in layers} == {(0.2, 0.4, 5, 15)}


def test_runs_written_before_a_rename_load_under_the_new_name():
    old = json.loads(TrainConfig().to_json())
    old["hebbian_update_every"] = old.pop("hebbian_accumulate_every") + 5
    assert TrainConfig.from_json(json.dumps(old)).hebbian_accumulate_every == 25
    config = tfcompress.HebbianSparseConv2D(4, 3, accumulate_every=3).get_config()
    config["update_every"] = config.pop("accumulate_every")
    assert tfcompress.HebbianSparseConv2D.from_config(config).accumulate_every == 3
    hashed = sparse.HashedDense(4, density=0.25).get_config()
    hashed["compression"] = hashed.pop("density")
    assert sparse.HashedDense.from_config(hashed).density == 0.25


def test_fft_size_reaches_the_spectral_layers_and_older_spectral_runs_read_linear(tmp_path):
    from tfcompress.spectral import plan
    assert training.config.FFT_SIZES == plan.FFT_SIZES
    config = TrainConfig(**SMOKE, conv="spectral", compress_rate=0.5, fft_size="linear")
    model = training.build_model(config, training.loop.describe_data(config))
    spectral = [layer for layer in model.layers if hasattr(layer, "fft_size")]
    assert spectral and {layer.fft_size for layer in spectral} == {"linear"}
    old = json.loads(TrainConfig(conv="spectral").to_json())
    del old["fft_size"]  # a run written before --fft_size: trained on the linear grid
    assert TrainConfig.from_json(json.dumps(old)).fft_size == "linear"
    assert TrainConfig.from_json(TrainConfig(conv="spectral").to_json()).fft_size == "minimal"
    # Resuming such a run on the default grid would change its function: refused, named.
    run_dir = tmp_path / "old_run"
    run_dir.mkdir()
    old = json.loads(TrainConfig(**SMOKE, conv="spectral", run_dir=str(run_dir)).to_json())
    del old["fft_size"]
    (run_dir / "config.json").write_text(json.dumps(old))
    with pytest.raises(training.RunDirError, match=r"--fft_size='minimal' \(run has 'linear'\)"):
        training.train(TrainConfig(**SMOKE, conv="spectral", run_dir=str(run_dir), resume=True))


def test_bad_flag_fails_before_training(tmp_path):
    result = run_bin(TRAIN, "--flagfile=configs/train_smoke.flags", "--compress_rate=1.5",
                     "--conv=spectral", f"--run_dir={tmp_path / 'run'}")
    assert result.returncode != 0
    assert "--compress_rate must be in [0, 1), got 1.5" in result.stderr + result.stdout
    assert not (tmp_path / "run").exists()


def test_smoke_flagfile_writes_a_complete_run(tmp_path):
    run = tmp_path / "run"
    result = run_bin(TRAIN, "--flagfile=configs/train_smoke.flags", f"--run_dir={run}")
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("config.json", "flags.txt", "metrics.csv", "learning_curves.png",
                 "saved_model/saved_model.pb"):
        assert (run / name).exists(), name
    assert glob.glob(str(run / "tensorboard" / "train" / "events.out.tfevents.*"))
    rows = training.loop.reports.read_metrics(str(run / "metrics.csv"))
    assert [r["epoch"] for r in rows] == [0, 1]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(rows[0])
    assert "Epoch 2/2" in result.stdout


def test_resume_reaches_the_uninterrupted_result(tmp_path):
    whole = training.train(TrainConfig(**SMOKE, run_dir=str(tmp_path / "whole"), export=False))
    training.train(TrainConfig(**{**SMOKE, "epochs": 1}, run_dir=str(tmp_path / "split"), export=False))
    resumed = training.train(TrainConfig(**SMOKE, run_dir=str(tmp_path / "split"), resume=True,
                                         export=False))
    assert [r["epoch"] for r in resumed.history] == [0, 1]
    for a, b in zip(whole.model.get_weights(), resumed.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert whole.history[-1]["loss"] == resumed.history[-1]["loss"]


def test_existing_run_dir_needs_resume_and_same_settings(tmp_path):
    config = TrainConfig(**{**SMOKE, "epochs": 1}, run_dir=str(tmp_path / "run"), export=False)
    training.train(config)
    with pytest.raises(training.RunDirError, match="--resume"):
        training.train(config)
    changed = TrainConfig(**{**SMOKE, "epochs": 1, "lr": 0.5}, run_dir=config.run_dir, resume=True)
    with pytest.raises(training.RunDirError, match="--lr=0.5"):
        training.train(changed)


def test_corrupt_checkpoint_falls_back_to_the_previous_one(tmp_path, caplog):
    run = tmp_path / "run"
    result = training.train(TrainConfig(**SMOKE, run_dir=str(run), export=False))
    newest = tf.train.latest_checkpoint(str(run / "checkpoints"))
    for shard in glob.glob(newest + ".data-*"):
        with open(shard, "r+b") as f:
            f.truncate(16)
    model, config = training.load_run(str(run))
    assert "ckpt-2 is corrupt" in caplog.text
    first = training.build_model(config, training.loop.describe_data(config))
    tf.train.Checkpoint(model=first).restore(str(run / "checkpoints" / "ckpt-1")).expect_partial()
    for restored, expected in zip(model.get_weights(), first.get_weights()):
        np.testing.assert_array_equal(restored, expected)
    assert any(not np.array_equal(a, b) for a, b in zip(model.get_weights(), result.model.get_weights()))


def test_portable_savedmodel_loads_without_tfcompress(tmp_path):
    result = training.train(TrainConfig(**{**SMOKE, "epochs": 1}, run_dir=str(tmp_path / "run")))
    x = np.random.default_rng(0).random((5, 16, 16, 1), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    expected = result.model.predict(x, verbose=0)
    code = (
        "import sys, numpy as np, tensorflow as tf\n"
        f"m = tf.saved_model.load({result.saved_model!r})\n"
        f"y = m.signatures['serving_default'](inputs=tf.constant(np.load({str(tmp_path / 'x.npy')!r})))\n"
        f"np.save({str(tmp_path / 'y.npy')!r}, y['outputs'].numpy())\n"
        "assert 'tfcompress' not in sys.modules\n")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_mirrored_strategy_on_two_cpu_replicas(tmp_path):
    run = tmp_path / "run"
    result = run_bin(TRAIN, "--flagfile=configs/train_smoke.flags", f"--run_dir={run}",
                     "--strategy=mirrored", "--cpu_replicas=2", "--epochs=1", "--noexport")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "with 2 replica(s)" in result.stdout
    assert (run / "metrics.csv").exists()


@pytest.mark.slow
def test_multi_worker_two_processes_end_with_identical_weights(tmp_path):
    run = tmp_path / "run"
    train_on_two_workers(run, "--flagfile=configs/train_smoke.flags", "--epochs=1", "--noexport")
    chief = variables_of(str(run / "checkpoints"))
    other = variables_of(str(run / "checkpoints" / "_worker_1"))
    assert chief.keys() == other.keys() and chief
    for name in chief:
        np.testing.assert_array_equal(chief[name], other[name], err_msg=name)
