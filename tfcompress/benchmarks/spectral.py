"""Spectral suite: the products' ops vs tf.einsum, MAC time vs rate, spectral vs spatial layers,
a ResNet-18 training step's time and memory vs rate.

Measured in one process, forward + backward throughout (the cost of a
training step), on whatever device TensorFlow picks:

(a) ``op_vs_tf`` / ``planar_op_vs_tf``: spectral_mul (complex spectra, the fft
    transform's) and spectral_mul_planar (planar channels-last spectra, what
    the direct and separable transforms of 2-D layers use), compiled op vs the
    ``tf.einsum`` path, at the shapes of ResNet-18's 3x3 convolutions on CIFAR
    (batch 32, all K kept).
(b) ``mac_vs_rate`` / ``planar_mac_vs_rate``: each product's time at the K
    kept for r = 0.5 and 0.75 against r = 0 (the "auto" implementation), the
    three timed in turn.
(c) ``conv1d_long``: SpectralConv1D vs keras Conv1D for long kernels
    (length 1024, kernel 64, 64 -> 64 channels, batch 32), r = 0 and 0.5.
(d) ``conv2d_3x3``: SpectralConv2D vs keras Conv2D, 3x3 'same' kernels at the
    ResNet-18 CIFAR shapes, r = 0, 0.5 and 0.75, the four layers timed in turn.
(e) from the same timings: the whole layer's time at r = 0.5 and 0.75 against
    r = 0.
(f) ``training_time``: a ResNet-18 CIFAR training step (batch 128), spectral at
    r = 0, 0.5 and 0.75 vs Conv2D, timed in turn (see spectral_training).
(g) ``training_memory``: that step's peak memory at each rate and with Conv2D,
    each in its own process (see spectral_training for the method); also the
    part the spectral layers add above the Conv2D network's, against r = 0's.
(h) ``fcn_training_time``: the paper's 1-D model, an FCN training step on
    UCR-sized series (length 150, kernels 8/5/3, batch 16), spectral at r = 0,
    0.5 and 0.75 vs Conv1D, timed in turn.
Ratios are "baseline seconds / measured seconds" (> 1: faster than the
baseline) except for (b) and (e), time fractions of r = 0, and (g), memory
fractions of r = 0. The figure ``spectral_resource.png`` plots (f) and (g).
"""
import dataclasses

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfcompress.benchmarks import SuiteResult, device_name, time_alternately
from tfcompress.benchmarks import spectral_training
from tfcompress.benchmarks.spectral_training import (FULL_FCN, FULL_TRAINING, QUICK_FCN,
                                                     QUICK_TRAINING, FcnSizes, TrainingSizes)
from tfcompress.spectral.fft_conv import make_plan
from tfcompress.spectral.layers import SpectralConv1D, SpectralConv2D
from tfcompress.spectral.op import op_loaded
from tfcompress.spectral.op_benchmark import PRODUCTS, benchmark_op, op_step

# (spatial size, channels) of ResNet-18's 3x3 convolutions in its four CIFAR stages.
RESNET18_CIFAR = ((32, 64), (16, 128), (8, 256), (4, 512))
RATE_TARGETS = {0.5: "<= 0.6", 0.75: "<= 0.35"}  # (b): the product alone
LAYER_RATE_TARGETS = {0.5: "<= 0.65", 0.75: "<= 0.45"}  # (e): the whole layer
VS_SPATIAL_TARGET = ">= 1.0 (floor 0.7)"  # (d), (f) and (h) at r = 0.5
MEMORY_TARGET = "<= 0.7"  # (g) at r = 0.5
# CSV case names of (a) and (b) per product.
_CASES = {"spectral_mul": {"op_vs_tf": "op_vs_tf", "mac_vs_rate": "mac_vs_rate"},
          "spectral_mul_planar": {"op_vs_tf": "planar_op_vs_tf",
                                  "mac_vs_rate": "planar_mac_vs_rate"}}
# A training step takes seconds on a small CPU: (f) times at most this many repeats.
TRAINING_REPEATS = 5
# (a)-(e) and (h) time steps of milliseconds to tens of milliseconds: at least this many
# repeats each, so that their medians hold still on a noisy machine (over three runs here, one
# layer's r=0.5 / r=0 ratio spread over up to 0.07 with 5 repeats, 0.04 with 20).
SHORT_REPEATS = 20


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Problem sizes of the suite: full (the issue's) or quick (a smoke run for tests)."""

    batch: int
    resnet_layers: tuple[tuple[int, int], ...]
    conv1d: tuple[int, int, int]  # length, kernel, channels
    training: TrainingSizes  # (f) and (g)
    fcn: FcnSizes  # (h)


FULL = Sizes(batch=32, resnet_layers=RESNET18_CIFAR, conv1d=(1024, 64, 64),
             training=FULL_TRAINING, fcn=FULL_FCN)
QUICK = Sizes(batch=2, resnet_layers=((8, 4), (4, 8)), conv1d=(64, 8, 4),
              training=QUICK_TRAINING, fcn=QUICK_FCN)


def kept_coefficients(size: int, kernel: int, rate: float) -> int:
    """Number of rfft coefficients a 'same' kernel x kernel SpectralConv2D on size x size keeps."""
    return make_plan((size, size), (kernel, kernel), (1, 1), "same", rate).kept.size


def _auto_implementation() -> str:
    """What implementation="auto" runs: the compiled op when loaded, else tf.einsum."""
    return "op" if op_loaded() else "tf"


def _row(case: str, shape: str, variant: str, rate: float, repeats: int, **measured) -> dict:
    return {"case": case, "shape": shape, "variant": variant, "compress_rate": rate,
            **measured, "repeats": repeats, "device": device_name()}


def op_vs_tf(sizes: Sizes, repeats: int, result: SuiteResult) -> None:
    """(a) spectral_mul and spectral_mul_planar forward+backward: compiled op vs tf.einsum."""
    shapes = [(sizes.batch, c, c, kept_coefficients(s, 3, 0.0)) for s, c in sizes.resnet_layers]
    if not op_loaded():
        result.notes.append("(a) the compiled op library is not loaded: only tf.einsum timed; "
                            "build it (make build) to compare")
    for product in PRODUCTS:
        for row in benchmark_op(shapes, repeats, product):
            result.rows.append(_row(_CASES[product]["op_vs_tf"], row["shape"],
                                    row["implementation"], 0.0, repeats, seconds=row["seconds"]))
            if row["implementation"] == "op":
                result.add_ratio(f"(a) {product} fwd+bwd, op speed-up over tf.einsum, "
                                 f"NxCxFxK={row['shape']}", row["ratio"], ">= 1.5 on CPU")


def mac_vs_rate(sizes: Sizes, repeats: int, result: SuiteResult) -> None:
    """(b) spectral_mul and spectral_mul_planar forward+backward time at the K kept for each
    rate, against r = 0."""
    implementation = _auto_implementation()
    rates = (0.0, *RATE_TARGETS)
    for product in PRODUCTS:
        for size, channels in sizes.resnet_layers:
            shapes = [(sizes.batch, channels, channels, kept_coefficients(size, 3, r))
                      for r in rates]
            seconds = time_alternately({rate: op_step(shape, implementation, product)
                                        for rate, shape in zip(rates, shapes)}, repeats)
            for rate, shape in zip(rates, shapes):
                result.rows.append(_row(_CASES[product]["mac_vs_rate"], "x".join(map(str, shape)),
                                        implementation, rate, repeats, seconds=seconds[rate]))
            for rate, target in RATE_TARGETS.items():
                result.add_ratio(f"(b) {product}[{implementation}] fwd+bwd time, r={rate} / r=0, "
                                 f"{size}x{size}x{channels}", seconds[rate] / seconds[0.0], target)


def _train_step(layer: keras.layers.Layer, x: np.ndarray):
    """A no-argument callable: the layer's output and its input and weight gradients.

    Input and output cotangent are arguments of the tf.function, not captured
    constants, so that graph optimisation cannot fold any of the work away, and
    the loss is part of what it returns: the gradients of this linear loss do not
    need the layer's output, so without it Grappler drops the forward pass
    (Conv2D's and the spectral layer's: 10 of Conv2D's 45 ms at 32x32x64, batch 32).
    """
    inputs = tf.constant(x)
    layer.build(inputs.shape)
    cotangent = tf.random.stateless_normal(layer.compute_output_shape(inputs.shape), seed=[0, 1])

    @tf.function
    def step(inputs, cotangent):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            loss = tf.reduce_sum(layer(inputs) * cotangent)
        gradients = tape.gradient(loss, [inputs, *layer.trainable_variables])
        return loss + tf.add_n([tf.reduce_sum(g) for g in gradients])

    return lambda: step(inputs, cotangent)


def _compare_layers(case: str, label: str, shape: str, spatial: keras.layers.Layer,
                    spectral: type, rates: tuple[float, ...], x: np.ndarray, repeats: int,
                    result: SuiteResult, target: str) -> dict[float, float]:
    """Time a keras Conv layer and the spectral layers made from its config at ``rates``, in turn
    (fwd+bwd); record their speed-ups over the Conv layer and return the spectral seconds by rate.
    """
    implementation = _auto_implementation()
    spectral_name = f"{spectral.__name__}[{implementation}]"
    steps = {type(spatial).__name__: _train_step(spatial, x)}
    for rate in rates:
        layer = spectral.from_config({**spatial.get_config(), "compress_rate": rate})
        steps[rate] = _train_step(layer, x)
    seconds = time_alternately(steps, repeats)
    baseline = seconds.pop(type(spatial).__name__)
    result.rows.append(_row(case, shape, type(spatial).__name__, 0.0, repeats, seconds=baseline))
    for rate, spent in seconds.items():
        result.rows.append(_row(case, shape, spectral_name, rate, repeats, seconds=spent))
        result.add_ratio(f"{label} {spectral_name} speed-up over {type(spatial).__name__}, "
                         f"fwd+bwd, r={rate}, {shape}", baseline / spent,
                         target if rate == 0.5 else "")
    return seconds


def conv1d_long(sizes: Sizes, repeats: int, result: SuiteResult) -> None:
    """(c) long 1-D kernels: SpectralConv1D vs Conv1D."""
    length, kernel, channels = sizes.conv1d
    x = np.random.default_rng(0).standard_normal((sizes.batch, length, channels), np.float32)
    _compare_layers("conv1d_long", "(c)", f"N={sizes.batch} T={length} k={kernel} C=F={channels}",
                    keras.layers.Conv1D(channels, kernel, padding="same"), SpectralConv1D,
                    (0.0, 0.5), x, repeats, result, ">= 3")


def conv2d_3x3(sizes: Sizes, repeats: int, result: SuiteResult) -> None:
    """(d) 3x3 kernels at ResNet-18 shapes: SpectralConv2D vs Conv2D; (e) its time vs rate."""
    rng = np.random.default_rng(0)
    for size, channels in sizes.resnet_layers:
        x = rng.standard_normal((sizes.batch, size, size, channels), np.float32)
        shape = f"N={sizes.batch} {size}x{size}x{channels}"
        seconds = _compare_layers("conv2d_3x3", "(d)", shape,
                                  keras.layers.Conv2D(channels, 3, padding="same"),
                                  SpectralConv2D, (0.0, *LAYER_RATE_TARGETS), x, repeats, result,
                                  VS_SPATIAL_TARGET)
        for rate, target in LAYER_RATE_TARGETS.items():
            result.add_ratio(f"(e) SpectralConv2D[{_auto_implementation()}] fwd+bwd time, "
                             f"r={rate} / r=0, {shape}", seconds[rate] / seconds[0.0], target)


def _training_shape(sizes: TrainingSizes) -> str:
    blocks = "-".join(map(str, sizes.blocks))
    return f"N={sizes.batch} {sizes.image}x{sizes.image}x3 blocks={blocks} filters={sizes.filters}"


def _variant(rate: float | None, rank: int = 2) -> tuple[str, float]:
    """(variant, compress_rate) columns of a training row: Conv{rank}D for rate None."""
    if rate is None:
        return f"Conv{rank}D", 0.0
    return f"SpectralConv{rank}D[{_auto_implementation()}]", rate


def training_time(sizes: Sizes, repeats: int, result: SuiteResult) -> dict[float | None, float]:
    """(f) A ResNet-18 training step: SpectralConv2D at each rate vs Conv2D; seconds by rate."""
    shape = _training_shape(sizes.training)
    seconds = spectral_training.step_time(sizes.training, repeats)
    for rate, spent in seconds.items():
        result.rows.append(_row("training_step", shape, *_variant(rate), repeats, seconds=spent))
        if rate is not None:
            result.add_ratio(f"(f) ResNet-18 training step, {_variant(rate)[0]} speed-up over "
                             f"Conv2D, r={rate}, {shape}", seconds[None] / spent,
                             VS_SPATIAL_TARGET if rate == 0.5 else "")
    return seconds


def fcn_training_time(sizes: Sizes, repeats: int, result: SuiteResult) -> None:
    """(h) An FCN training step on UCR-sized series: SpectralConv1D at each rate vs Conv1D."""
    fcn = sizes.fcn
    shape = f"N={fcn.batch} T={fcn.length} kernels=8-5-3 classes={fcn.classes}"
    seconds = spectral_training.fcn_step_time(fcn, repeats)
    for rate, spent in seconds.items():
        result.rows.append(_row("fcn_training_step", shape, *_variant(rate, rank=1), repeats,
                                seconds=spent))
        if rate is not None:
            result.add_ratio(f"(h) FCN training step, {_variant(rate, rank=1)[0]} speed-up over "
                             f"Conv1D, r={rate}, {shape}", seconds[None] / spent,
                             VS_SPATIAL_TARGET if rate == 0.5 else "")


def training_memory(sizes: Sizes, result: SuiteResult) -> dict[float | None, dict]:
    """(g) The training step's peak memory above the idle process, each variant in its own
    process; the measures by rate."""
    shape = _training_shape(sizes.training)
    memory = spectral_training.step_memory(sizes.training)
    for rate, measured in memory.items():
        result.rows.append(_row("training_memory", shape, *_variant(rate), 1, **measured))
    for measure, what in (("peak_tensor_mib", "tensors"), ("peak_rss_mib", "RSS")):
        for rate in (None, 0.5, 0.75):
            result.add_ratio(f"(g) ResNet-18 training step, peak {what} above idle, "
                             f"{spectral_training.variant_name(rate)} / r=0, {shape}",
                             spectral_training.memory_fraction(memory, rate, measure),
                             MEMORY_TARGET if rate == 0.5 and what == "tensors" else "")
    for rate in (0.5, 0.75):
        result.add_ratio(f"(g) ResNet-18 training step, peak tensors that the spectral layers add "
                         f"above Conv2D's, r={rate} / r=0, {shape}",
                         spectral_training.spectral_part_fraction(memory, rate, "peak_tensor_mib"))
    return memory


def run(quick: bool = False, repeats: int = 5) -> SuiteResult:
    """Run (a)-(h) at full or quick sizes; rows, ratios and the figure for ``bin/benchmark.py``."""
    sizes = QUICK if quick else FULL
    result = SuiteResult()
    # The two repeat policies (SHORT_REPEATS, TRAINING_REPEATS), applied here and noted.
    short, long = max(repeats, SHORT_REPEATS), min(repeats, TRAINING_REPEATS)
    result.notes.append(f"(a)-(e), (h): {short} timed repeats per step (at least "
                        f"{SHORT_REPEATS}: a step takes milliseconds)")
    result.notes.append(f"(f) {long} timed repeats per training step (at most "
                        f"{TRAINING_REPEATS}: a step takes seconds on a small CPU)")
    for measure in (op_vs_tf, mac_vs_rate, conv1d_long, conv2d_3x3):
        measure(sizes, short, result)
    seconds = training_time(sizes, long, result)
    memory = training_memory(sizes, result)
    fcn_training_time(sizes, short, result)
    result.plots["spectral_resource.png"] = (
        lambda path: spectral_training.plot_resource(seconds, memory, path))
    return result
