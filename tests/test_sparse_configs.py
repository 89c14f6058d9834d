"""configs/sparse_*.flags: each paper-size file, parsed by bin/train.py's own flags, builds the
paper's sparse model and training (on mocked tfds data); each runs at smoke size."""
import csv

import pytest

from flagfiles import built_by, run

# After flagfiles.BUILD_EACH: the sparse model, optimizer and rewiring the run builds, as JSON.
BUILD = """
    from tfcompress import sparse
    from tfcompress.sparse import training as sparse_training
    steps = math.ceil(info.num_train / config.batch_size) * config.epochs
    masked = {layer.name: layer.density for layer in sparse.masked_layers(model)}
    kernels = sparse.stats(model)["layers"]
    lr = model.optimizer.get_config()["learning_rate"]
    lr = keras.optimizers.schedules.deserialize(lr) if isinstance(lr, dict) else (lambda step: lr)
    rewiring = sparse_training.dynamic_sparsity(config, 1)
    built[path] = {
        "model": model.name, "input": list(model.input_shape[1:]), "classes": model.output_shape[-1],
        "params": sum(int(w.shape.num_elements()) for w in model.trainable_weights),
        "kernels": list(kernels), "kernel_sizes": [k["size"] for k in kernels.values()],
        "dense": [name for name in kernels if name not in masked], "densities": sorted(set(masked.values())),
        "sparsity": sparse.stats(model)["total"]["sparsity"],
        "optimizer": type(model.optimizer).__name__, "momentum": model.optimizer.get_config().get("momentum"),
        "lr": [float(lr(s)) for s in (0, steps // 2, steps // 2 + 1, (3 * steps) // 4 + 1)],
        "method": type(rewiring.method).__name__, "n_prune_params": rewiring.method.n_prune_params,
        "update_every": rewiring.schedule.update_every}
"""
PAPER = ("configs/sparse_mnist_mlp.flags", "configs/sparse_wrn28_2_cifar10.flags",
         "configs/sparse_resnet50_imagenet.flags")
# What Mostafa & Wang (ICML 2019) train, as the flagfiles' comments describe it.
EXPECTED = {
    "configs/sparse_mnist_mlp.flags": dict(
        model="mnist_mlp", input=[28, 28, 1], classes=10, sparsity=0.9, dense=[], n_prune_params=600,
        update_every=100),
    "configs/sparse_wrn28_2_cifar10.flags": dict(
        model="wrn", input=[32, 32, 3], classes=10, sparsity=0.9, dense=["first", "last"],
        n_prune_params=20_000, update_every=100),
    "configs/sparse_resnet50_imagenet.flags": dict(
        model="resnet50", input=[224, 224, 3], classes=1000, sparsity=0.8, dense=["first", "last"],
        n_prune_params=200_000, update_every=1000),
}


@pytest.fixture(scope="module")
def built():
    return built_by(BUILD, PAPER)


@pytest.mark.slow  # builds the full-size networks (~15 s); make test-slow
@pytest.mark.parametrize("path", PAPER)
def test_paper_flagfiles_build_the_papers_sparse_model_and_training(built, path):
    got, want = built[path], EXPECTED[path]
    assert (got["model"], got["input"], got["classes"]) == (want["model"], want["input"], want["classes"])
    # The layers kept dense ("first"/"last": the first convolution and the classifier), every other
    # kernel masked to the same density: the paper's uniform sparsity of the sparse layers.
    dense = [{"first": got["kernels"][0], "last": got["kernels"][-1]}[d] for d in want["dense"]]
    assert got["dense"] == dense
    assert got["densities"] == [pytest.approx(1 - want["sparsity"])]
    sizes = dict(zip(got["kernels"], got["kernel_sizes"]))
    sparse_weights = sum(size for name, size in sizes.items() if name not in dense)
    nonzeros = (1 - got["sparsity"]) * sum(sizes.values())
    assert nonzeros == pytest.approx((1 - want["sparsity"]) * sparse_weights + sum(sizes[d] for d in dense),
                                     rel=1e-3)
    # DSR, re-allocating n_prune_params weights every update_every steps; SGD with momentum 0.9 from
    # lr 0.1, divided by 10 at half and three quarters of the run.
    assert (got["method"], got["n_prune_params"], got["update_every"]) == (
        "DSR", want["n_prune_params"], want["update_every"])
    assert (got["optimizer"], got["momentum"]) == ("SGD", pytest.approx(0.9))
    assert got["lr"] == pytest.approx([0.1, 0.1, 0.01, 0.001])


@pytest.mark.slow  # builds the full-size networks (~15 s); make test-slow
def test_paper_models_have_the_papers_sizes(built):
    mlp = built["configs/sparse_mnist_mlp.flags"]
    assert mlp["kernel_sizes"] == [784 * 300, 300 * 100, 100 * 10]  # 784-300-100-10
    assert 1.4e6 < built["configs/sparse_wrn28_2_cifar10.flags"]["params"] < 1.5e6  # WRN-28-2: 1.47M
    assert built["configs/sparse_resnet50_imagenet.flags"]["params"] == 25_557_032  # torchvision's


# Each full-size file on the bundled digits: a few steps, masks rewired every step.
SMOKE = {
    "configs/sparse_wrn28_2_cifar10.flags": ["--image_size=32", "--channels=3", "--limit=64"],
    "configs/sparse_resnet50_imagenet.flags": ["--image_size=32", "--channels=3", "--limit=32",
                                               "--batch_size=16"],
    "configs/sparse_mnist_mlp.flags": ["--image_size=28", "--limit=200"],
}


# 10-35 s each (`make test-slow`); the default suite runs configs/sparse_smoke.flags end to end.
@pytest.mark.slow
@pytest.mark.parametrize("path", PAPER)
def test_paper_flagfiles_run_at_smoke_size(path, tmp_path):
    result = run("bin/train.py", f"--flagfile={path}", "--dataset=digits", *SMOKE[path],
                 "--epochs=1", "--update_every=1", "--noaugment", "--noexport", "--verbose=0",
                 f"--run_dir={tmp_path}", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and float(rows[0]["sparsity"]) > 0.5
