"""tfcompress.folding: folding layout, folded models, profiler FLOPs, distillation, the fold suite."""
import math

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfcompress import benchmarks, folding, models
from tfcompress.benchmarks import fold as fold_suite
from tfcompress.training.strategy import split_cpu

try:  # two logical CPUs for MirroredStrategy, if TensorFlow has not started yet
    split_cpu(2)
except RuntimeError:
    pass


def _reference_fold(x, f):
    """Folded inputs built image by image: slot i of group g holds image g*f+i (or zeros)."""
    n, h, w, c = x.shape
    groups = math.ceil(n / f)
    out = np.zeros((groups, h, w, f * c), x.dtype)
    for image in range(n):
        g, i = divmod(image, f)
        out[g, :, :, i * c:(i + 1) * c] = x[image]
    return out


@pytest.mark.parametrize("fold", [1, 2, 3, 4])
@pytest.mark.parametrize("n", [1, 2, 5, 8, 9])
def test_fold_unfold_round_trip_with_padding(fold, n):
    x = np.random.default_rng(n).standard_normal((n, 4, 5, 3)).astype(np.float32)
    folded = folding.fold_inputs(x, fold).numpy()
    np.testing.assert_array_equal(folded, _reference_fold(x, fold))
    # An output laid out like the seed's: logits of slot i at [i*K, (i+1)*K).
    logits = np.random.default_rng(0).standard_normal((n, 7)).astype(np.float32)
    packed = _reference_fold(logits[:, None, None, :], fold)[:, 0, 0, :]
    np.testing.assert_array_equal(folding.unfold_outputs(packed, fold, n).numpy(), logits)
    assert folding.unfold_outputs(packed, fold).shape == (packed.shape[0] * fold, 7)


def test_folding_inside_tf_function_with_unknown_batch():
    fn = tf.function(lambda x: folding.unfold_outputs(
        tf.reshape(folding.fold_inputs(x, 3), [-1, 3 * 2]), 3, tf.shape(x)[0]),
        input_signature=[tf.TensorSpec([None, 1, 1, 2])])
    x = np.arange(14, dtype=np.float32).reshape(7, 1, 1, 2)
    np.testing.assert_array_equal(fn(x).numpy(), x.reshape(7, 2))
    assert fn.get_concrete_function().output_shapes.as_list() == [None, 2]


def test_fold_model_calls_builder_with_folded_shape_and_width():
    calls = []

    def builder(input_shape, num_classes, width):
        calls.append((input_shape, num_classes, width))
        return models.build("noscope", input_shape, num_classes, width=width)

    model = folding.fold_model(builder, 4, (12, 10, 3), 2)
    assert calls == [((12, 10, 12), 8, 2.0)]
    assert model.input_shape == (None, 12, 10, 12) and model.output_shape == (None, 8)
    by_name = folding.fold_model("noscope", 3, (12, 10, 3), 2, width_multiplier=1.0)
    assert by_name.output_shape == (None, 6)
    assert by_name.get_layer("conv1").filters == 16  # width 1.0: the unfolded widths
    assert folding.fold_model("noscope", 3, (12, 10, 3), 2).get_layer("conv1").filters == \
        round(16 * math.sqrt(3))
    logits = folding.folded_call(model, np.zeros((5, 12, 10, 3), np.float32), 4)
    assert logits.shape == (5, 2)


def _tiny_model():
    inputs = keras.Input((6, 5, 2))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="dense")(x), name="tiny")


@pytest.mark.parametrize("batch", [1, 3])
def test_profiler_flops_match_a_hand_count(batch):
    positions, kernel, cin, cout, units = 6 * 5, 3 * 3, 2, 4, 10
    conv = 2 * batch * positions * cout * kernel * cin + batch * positions * cout  # MACs x2 + bias
    dense = 2 * batch * positions * cout * units + batch * units
    model = _tiny_model()
    assert folding.flops(model, batch) == conv + dense
    costs = {c.name: c for c in folding.arithmetic_intensity(model, batch)}
    assert set(costs) == {"conv", "dense", "total"}  # ReLU and Flatten have no FLOPs
    conv_bytes = 4 * (batch * positions * cin + batch * positions * cout + kernel * cin * cout + cout)
    assert costs["conv"].flops == conv and costs["conv"].bytes == conv_bytes
    assert costs["total"].intensity == pytest.approx(
        (conv + dense) / (conv_bytes + costs["dense"].bytes))


def test_folding_raises_arithmetic_intensity_at_equal_flops_per_image():
    shape = (20, 20, 3)
    original = models.build("noscope", shape, 2)
    folded = folding.fold_model("noscope", 4, shape, 2)
    per_image = folding.flops(original), folding.flops(folded) / 4
    assert per_image[1] == pytest.approx(per_image[0], rel=0.25)
    assert (folding.arithmetic_intensity(folded, 16)[-1].intensity
            > folding.arithmetic_intensity(original, 64)[-1].intensity)


@pytest.mark.parametrize("fold", [0, -1, 1.5, True, "2"])
def test_bad_fold_is_rejected(fold):
    with pytest.raises(ValueError, match="fold must be an int >= 1"):
        folding.fold_model("noscope", fold, (8, 8, 1), 10)
    with pytest.raises(ValueError, match="fold must be an int >= 1"):
        folding.fold_inputs(np.zeros((2, 8, 8, 1)), fold)


@pytest.mark.parametrize("student_shape, classes, message", [
    ((10, 8, 2), 20, "spatial size"),
    ((8, 8, 3), 30, "not a multiple"),
    ((8, 8, 4), 30, "different numbers of classes"),
])
def test_distiller_rejects_students_that_do_not_fold_the_teacher(student_shape, classes, message):
    teacher = models.build("noscope", (8, 8, 2), 10)
    student = models.build("noscope", student_shape, classes)
    with pytest.raises(ValueError, match=message):
        folding.FoldDistiller(student, teacher)


@pytest.mark.parametrize("kwargs", [{"temperature": 0.0}, {"alpha": 1.5}])
def test_distiller_rejects_bad_settings(kwargs):
    teacher = models.build("noscope", (8, 8, 1), 10)
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        folding.FoldDistiller(folding.fold_model("noscope", 2, (8, 8, 1), 10), teacher, **kwargs)


def test_distiller_loss_decreases_under_mirrored_strategy():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 96).astype(np.int32)
    x = (0.3 * rng.random((96, 8, 8, 1)) + y[:, None, None, None]).astype(np.float32)
    keras.utils.set_random_seed(0)
    teacher = models.build("noscope", (8, 8, 1), 2)
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    strategy = tf.distribute.MirroredStrategy(devices)
    with strategy.scope():
        distiller = folding.FoldDistiller(folding.fold_model("noscope", 3, (8, 8, 1), 2), teacher,
                                          temperature=2.0, alpha=0.5)
        distiller.compile(optimizer=keras.optimizers.Adam(3e-3), metrics=["accuracy"])
    history = distiller.fit(x, y, batch_size=32, epochs=6, verbose=0,
                            callbacks=[folding.FoldCurriculum(2)])
    losses = history.history["loss"]
    assert losses[-1] < 0.8 * losses[0], losses
    assert history.history["accuracy"][-1] > 0.9, history.history["accuracy"]
    assert int(distiller.distinct.numpy()) == 3
    assert distiller.predict(x[:7], verbose=0).shape == (7, 2)


def test_curriculum_repeats_images_within_each_group():
    teacher = models.build("noscope", (8, 8, 1), 2)
    distiller = folding.FoldDistiller(folding.fold_model("noscope", 3, (8, 8, 1), 2), teacher)
    distiller.distinct.assign(2)
    values = tf.range(8)
    x, y, _ = distiller._curriculum(values, values, values)
    np.testing.assert_array_equal(x.numpy(), [0, 1, 0, 3, 4, 3, 6, 7])


def test_fold_suite_quick_rows_ratios_and_plot(tmp_path):
    result = fold_suite.run(quick=True, repeats=2)
    path = benchmarks.write_csv(result.rows, str(tmp_path / "fold.csv"))
    with open(path) as f:
        assert f.readline().strip() == "Model,Trial,Fold,Batch Size,Mode,Throughput,FLOPs/sec"
    sizes = fold_suite.QUICK
    labels = [f"noscope [{precision}, {how}]" for precision in ("float32", "bfloat16")
              for how in ("model only", "end to end")]
    # 2 precisions x 2 layouts, 2 trials
    assert len(result.rows) == 4 * len(sizes.folds) * len(sizes.batch_sizes) * 2
    assert {(r["Model"], r["Fold"], r["Mode"]) for r in result.rows} == {
        (model, fold, mode) for model in labels for fold, mode in ((1, "Original"), (2, "Folded"))}
    folded = folding.fold_model("noscope", 2, sizes.input_shape, sizes.num_classes)
    for model in labels:
        row = next(r for r in result.rows if r["Fold"] == 2 and r["Model"] == model)
        assert row["FLOPs/sec"] == pytest.approx(folding.flops(folded) / 2 * row["Throughput"])
    names = [r["ratio"] for r in result.ratios]
    for precision in ("float32", "bfloat16"):
        for how in ("model only", "end to end"):
            assert any(f"throughput f=2 / original, {precision}, {how}" in n for n in names)
    # f=2 at 2 folded inputs against the original at 4 images: 4 images per call each
    assert any("throughput f=2 at 2 inputs / original at 4, bfloat16, model only" in n
               for n in names)
    fractions = [r["value"] for r in result.ratios if "/ matmul FLOPs/sec" in r["ratio"]]
    # At these tiny sizes a 64x64 matmul is call overhead, so only the count and sign are pinned.
    assert len(fractions) == 4 and all(0 < v < math.inf for v in fractions)
    for layout in ("folded", "images"):
        png = fold_suite.plot_throughput(result.rows, str(tmp_path / f"{layout}.png"), layout)
        assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no rows timed end to end"):
        fold_suite.plot_throughput(result.rows[:1], str(tmp_path / "x.png"), "images")


def test_throughput_rows_count_images_not_folded_inputs():
    model = folding.fold_model("noscope", 2, (8, 8, 3), 2)
    rows = folding.throughput(model, [3, 4], trials=2, warmup=1, fold=2, min_images=8)
    assert [(r["batch_size"], r["trial"]) for r in rows] == [(3, 0), (3, 1), (4, 0), (4, 1)]
    for r in rows:
        assert r["images_per_sec"] == pytest.approx(r["batch_size"] * math.ceil(8 / r["batch_size"])
                                                    / r["seconds"])


def test_throughput_of_folded_inputs_counts_fold_images_per_input():
    model = folding.fold_model("noscope", 2, (8, 8, 3), 2)
    rows = folding.throughput(model, [3], trials=1, warmup=1, fold=2, min_images=8, layout="folded")
    # a batch is 3 folded inputs = 6 images; 2 batches reach 8 images
    assert rows[0]["images_per_sec"] == pytest.approx(12 / rows[0]["seconds"])
    with pytest.raises(ValueError, match=r"layout must be one of \('images', 'folded'\), got 'nchw'"):
        folding.ImageTimer(model, 3, 2, layout="nchw")


def test_folded_call_casts_images_to_a_bfloat16_model_before_folding():
    model = folding.fold_model("noscope", 2, (8, 8, 3), 2)
    copy = models.with_policy(model, "bfloat16")
    x = np.random.default_rng(0).random((5, 8, 8, 3), np.float32)
    logits = folding.folded_call(copy, x, 2)
    assert logits.dtype == tf.bfloat16 and logits.shape == (5, 2)
    np.testing.assert_allclose(logits.numpy().astype(np.float32),
                               folding.folded_call(model, x, 2).numpy(), rtol=0.05, atol=0.02)
