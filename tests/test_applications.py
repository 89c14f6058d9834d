"""keras.applications models through every technique, each result exported and served elsewhere.

MobileNetV2 and ResNet50 (weights=None, 32x32x3, 10 classes) go through
spectral.convert, sparsify + RigL, prune_low_magnitude + strip, fold_model +
FoldDistiller and hebbian.convert; each result is written with
`export.save(portable=True)` and served by a fresh process that never imports
tfcompress. Both are `slow` (`make test-slow`); the default suite puts
MobileNetV2 through each technique in its own test file.
"""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import tf_keras as keras

from tfcompress import export, folding, hebbian, pruning, sparse, spectral

SERVE = """
import sys
import numpy as np
import tensorflow as tf
x = np.load(sys.argv[1])
for path in sys.argv[2:]:
    serve = tf.saved_model.load(path).signatures["serving_default"]
    np.save(path + ".npy", serve(inputs=tf.constant(x))["outputs"].numpy())
assert "tfcompress" not in sys.modules
"""

APPLICATIONS = {
    "MobileNetV2": dict(alpha=0.35),
    "ResNet50": {},
}


def _application(name):
    keras.utils.set_random_seed(0)
    # Logits, as FoldDistiller wants of its teacher (the other techniques do not mind).
    return getattr(keras.applications, name)(input_shape=(32, 32, 3), weights=None, classes=10,
                                             classifier_activation=None, **APPLICATIONS[name])


def _fit(model, x, y, callbacks=()):
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=list(callbacks))
    return model


def _techniques(model, x, y):
    """Each technique's result on `model` (which none of them may change), by name."""
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convolutions the techniques skip are named in warnings
        converted = spectral.convert(model)
        assert np.max(np.abs(converted(x) - model(x))) <= 1e-4 * np.max(np.abs(model(x)))
        results["spectral"] = converted

        masked = sparse.sparsify(model, sparsity=0.8, keep_dense=())
        nonzeros = sparse.stats(masked)["total"]["nonzeros"]
        rigl = sparse.DynamicSparsity(sparse.RigL(0.3), update_every=1)
        _fit(masked, x, y, [rigl])
        assert int(rigl.updates.numpy()) == 2
        assert sparse.stats(masked)["total"]["nonzeros"] == nonzeros
        results["rigl"] = sparse.strip(masked)

        pruned = pruning.prune_low_magnitude(model, 0.5, begin_step=0, end_step=2, frequency=1)
        _fit(pruned, x, y, pruning.callbacks())
        stripped = pruning.strip(pruned)
        assert min(pruning.sparsity(stripped).values()) >= 0.49
        results["pruned"] = stripped

        student = folding.fold_model(model, 2)
        distiller = folding.FoldDistiller(student, model)
        distiller.compile(optimizer=keras.optimizers.Adam(1e-3))
        distiller.fit(x, y, batch_size=4, epochs=1, verbose=0)
        results["folded"] = student

        results["hebbian"] = _fit(hebbian.convert(model, accumulate_every=1, rewire_every=1), x, y,
                                  [hebbian.HebbianRewiring()])
    return results


@pytest.mark.slow  # about 1 min (MobileNetV2) and 2 min (ResNet50); `make test-slow`
@pytest.mark.parametrize("name", ["MobileNetV2", "ResNet50"])
def test_application_through_every_technique_and_served_without_tfcompress(name, tmp_path):
    model = _application(name)
    weights = [w.copy() for w in model.get_weights()]
    rng = np.random.default_rng(0)
    x = rng.random((8, 32, 32, 3), np.float32)
    y = rng.integers(0, 10, 8)
    results = _techniques(model, x, y)
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)

    inputs = {"folded": folding.fold_inputs(x, 2).numpy()}
    paths = {}
    for technique, result in results.items():
        paths[technique] = export.save(result, str(tmp_path / technique), portable=True)
    # One process per input shape; neither imports tfcompress.
    env = {k: v for k, v in os.environ.items() if k != "TFCOMPRESS_OP_LIBRARY"}
    for shape_inputs, group in ((x, [p for t, p in paths.items() if t != "folded"]),
                                (inputs["folded"], [paths["folded"]])):
        np.save(tmp_path / "x.npy", shape_inputs)
        served = subprocess.run([sys.executable, "-c", SERVE, str(tmp_path / "x.npy"), *group],
                                capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
        assert served.returncode == 0, served.stderr[-3000:]
    for technique, result in results.items():
        expected = result(inputs.get(technique, x), training=False).numpy()
        got = np.load(paths[technique] + ".npy")
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
