"""configs/spectral_*.flags: each full-size file, parsed by bin/train.py's own flags, builds the
paper's band-limited network and training (on mocked tfds data); the smoke one runs."""
import csv
import glob
import os

import pytest

from flagfiles import built_by, run

# After flagfiles.BUILD_EACH: the band-limited network and training the run builds, run on one batch.
BUILD = """
    from tfcompress.spectral import SpectralConv2D
    from tfcompress.training import optim
    convs = [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, SpectralConv2D))]
    spectral = [layer for layer in convs if isinstance(layer, SpectralConv2D)]
    x = np.random.default_rng(0).standard_normal((2, *model.input_shape[1:])).astype("float32")
    y = model(x, training=False).numpy()
    plateau = [c for c in optim.schedule_callbacks(config)
               if isinstance(c, keras.callbacks.ReduceLROnPlateau)]
    built[path] = {
        "model": model.name, "input": list(model.input_shape[1:]), "classes": model.output_shape[-1],
        "params": sum(int(w.shape.num_elements()) for w in model.trainable_weights),
        "convs": len(convs), "spectral": len(spectral),
        "rates": [float(layer.compress_rate_reached) for layer in spectral],
        "fft_sizes": sorted({layer.fft_size for layer in spectral}),
        "l2": sorted({float(layer.kernel_regularizer.l2) for layer in convs if layer.kernel_regularizer}),
        "unregularised": sum(layer.kernel_regularizer is None for layer in convs),
        "optimizer": type(model.optimizer).__name__, "momentum": model.optimizer.get_config().get("momentum"),
        "lr": float(model.optimizer.get_config()["learning_rate"]),
        "plateau": [(c.monitor, float(c.factor)) for c in plateau],
        "output_shape": list(y.shape), "finite": bool(np.isfinite(y).all())}
"""
FULL = ("configs/spectral_resnet18_cifar10.flags", "configs/spectral_densenet_cifar100.flags")
# Dziedzic et al. (ICML 2019): ResNet-18 on CIFAR-10 and DenseNet-BC-100 (k = 12) on CIFAR-100, every
# convolution band-limited (here 50% of the spectrum dropped), SGD momentum 0.9 from lr 0.01, lowered
# x0.1 on plateaus of the validation loss.
EXPECTED = {
    FULL[0]: dict(model="resnet18", classes=10, convs=1 + 16 + 3, weight_decay=5e-4),  # stem, blocks, shortcuts
    FULL[1]: dict(model="densenet_bc", classes=100, convs=1 + 2 * 48 + 2, weight_decay=1e-4),  # + transitions
}


@pytest.fixture(scope="module")
def built():
    return built_by(BUILD, FULL)


@pytest.mark.slow  # builds the full-size networks (~15 s); make test-slow
@pytest.mark.parametrize("path", FULL)
def test_full_size_flagfiles_build_the_papers_band_limited_network(built, path):
    got, want = built[path], EXPECTED[path]
    assert (got["model"], got["input"], got["classes"]) == (want["model"], [32, 32, 3], want["classes"])
    assert got["convs"] == got["spectral"] == want["convs"]  # every convolution band-limited
    assert got["fft_sizes"] == ["linear"]  # the paper's grid
    assert got["rates"] == [pytest.approx(0.5, abs=0.05)] * want["convs"]  # half the spectrum dropped
    # PyTorch-style weight decay wd on every convolution: an L2 penalty wd / 2.
    assert got["unregularised"] == 0 and got["l2"] == [pytest.approx(want["weight_decay"] / 2)]
    assert (got["optimizer"], got["momentum"], got["lr"]) == ("SGD", pytest.approx(0.9), pytest.approx(0.01))
    assert got["plateau"] == [["val_loss", pytest.approx(0.1)]]
    assert got["output_shape"] == [2, want["classes"]] and got["finite"]


@pytest.mark.slow  # builds the full-size networks (~15 s); make test-slow
def test_full_size_networks_have_the_papers_sizes(built):
    assert built[FULL[0]]["params"] == 11_173_962  # ResNet-18 for CIFAR-10 (kuangliu/pytorch-cifar)
    assert 0.75e6 < built[FULL[1]]["params"] < 0.85e6  # DenseNet-BC-100, k = 12: 0.8M


@pytest.mark.slow  # the band-limited end-to-end run of the default suite is test_spectral_accuracy
def test_smoke_flagfile_trains_a_band_limited_resnet(tmp_path):
    result = run("bin/train.py", "--flagfile=configs/spectral_smoke.flags",
                 f"--run_dir={tmp_path}", "--verbose=0")
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "metrics.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 2  # two epochs
    assert os.path.exists(tmp_path / "saved_model" / "saved_model.pb")
    assert "--conv=spectral" in (tmp_path / "flags.txt").read_text()
    assert glob.glob(str(tmp_path / "checkpoints" / "*"))
