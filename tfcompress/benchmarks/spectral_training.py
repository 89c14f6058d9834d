"""(f), (g) and (h) of the spectral suite: training steps against compress rate.

The model is ResNet-18 for CIFAR (`tfcompress.models.small_resnet` with
blocks (2, 2, 2, 2) and 64 filters is `resnet18`'s network; quick runs shrink
it), with Conv2D, and its copy made by
`tfcompress.spectral.convert(model, compress_rate=r)` for each rate (every
Conv2D spectral, the 1x1 projections included), compiled with SGD + momentum
and trained by ``model.train_on_batch`` on one fixed random batch.

(f) ``step_time``: the variants built in one process and timed in turn, repeat
    by repeat (`time_alternately`); ratios are Conv2D's step time / the
    spectral step time (> 1: faster than Conv2D).
(g) ``step_memory``: each variant in a process of its own (this module run as a
    script), so that no variant's memory is counted in another's; two steps in
    each. Two measures, in MiB:
    ``peak_tensor_mib``: TensorFlow's allocator statistics
    (``tf.config.experimental.get_memory_info``) during the second step: peak
    bytes in use above those in use right before it (weights, optimizer slots),
    i.e. what one training step allocates: activations kept for backward,
    gradients, transforms. The ratio targets are judged on this one.
    ``peak_rss_mib``: the process's peak resident memory (VmHWM, reset to the
    current RSS by ``echo 5 > /proc/self/clear_refs``, Linux >= 4.0) over both
    steps, above its RSS once the model is built. It includes what the first
    step adds besides tensors: the traced and optimised graph, oneDNN's caches.
    RSS cannot be measured after a warm-up step instead: TensorFlow's oneDNN CPU
    allocator keeps the pool it grew (RSS stays near the first step's peak).
    At tiny sizes the allocator's statistics can miss the step's tensors (they
    read 0 with 16x16 inputs here), hence the quick sizes' 32x32 inputs.
    On a GPU ``peak_tensor_mib`` is the GPU's and ``peak_rss_mib`` the host's.
(h) ``fcn_step_time``: the paper's 1-D model, FCN (`tfcompress.models.fcn1d`:
    kernels 8, 5 and 3, 128-256-128 filters) on UCR-sized series (GunPoint:
    length 150, 2 classes), batch 16, with Conv1D and spectral at each rate,
    compiled and timed as in (f).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
from typing import Callable

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfcompress.benchmarks import device_name, time_alternately
from tfcompress.models import fcn1d, small_resnet
from tfcompress.spectral import convert

RATES = (0.0, 0.5, 0.75)


@dataclasses.dataclass(frozen=True)
class TrainingSizes:
    """The training step's batch, image side (square, 3 channels) and ResNet stages."""

    batch: int
    image: int
    blocks: tuple[int, ...]  # basic blocks per stage
    filters: int  # channels of the first stage, doubled at each next one


FULL_TRAINING = TrainingSizes(batch=128, image=32, blocks=(2, 2, 2, 2), filters=64)  # ResNet-18
# Traced in seconds; tensors big enough (image 32) for the allocator's statistics to see them.
QUICK_TRAINING = TrainingSizes(batch=8, image=32, blocks=(1,), filters=16)


@dataclasses.dataclass(frozen=True)
class FcnSizes:
    """(h) The FCN training step's batch, series length and classes (univariate series)."""

    batch: int
    length: int
    classes: int


FULL_FCN = FcnSizes(batch=16, length=150, classes=2)  # GunPoint's length and classes
QUICK_FCN = FcnSizes(batch=2, length=24, classes=2)


def variant_name(rate: float | None) -> str:
    """'Conv2D' for rate None, else 'r=<rate>' (SpectralConv2D)."""
    return "Conv2D" if rate is None else f"r={rate:g}"


def _variant(build: Callable[[], keras.Model], rate: float | None) -> keras.Model:
    """The model ``build`` makes (seeded: every variant starts from the same weights), as is
    for rate None, else its spectral copy at ``rate``; compiled with SGD + momentum."""
    keras.utils.set_random_seed(0)
    model = build()
    if rate is not None:
        model = convert(model, compress_rate=rate)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def training_model(sizes: TrainingSizes, rate: float | None) -> keras.Model:
    """Compiled ResNet: Conv2D for rate None, else spectral at ``rate``; same initial weights."""
    return _variant(lambda: small_resnet((sizes.image, sizes.image, 3), 10, blocks=sizes.blocks,
                                         filters=sizes.filters), rate)


def fcn_model(sizes: FcnSizes, rate: float | None) -> keras.Model:
    """Compiled FCN: Conv1D for rate None, else spectral at ``rate``; same initial weights."""
    return _variant(lambda: fcn1d((sizes.length, 1), sizes.classes), rate)


def _step(model: keras.Model, batch: int, classes: int) -> Callable[[], float]:
    """A no-argument callable: one ``train_on_batch`` of ``model`` on a fixed random batch."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((batch, *model.input_shape[1:]), np.float32))
    y = tf.constant(rng.integers(0, classes, batch))
    return lambda: model.train_on_batch(x, y)


def training_step(sizes: TrainingSizes, rate: float | None) -> Callable[[], float]:
    """A ResNet training step of the variant (Conv2D for rate None, else spectral at ``rate``)."""
    return _step(training_model(sizes, rate), sizes.batch, 10)


def _time_variants(step: Callable[[float | None], Callable[[], float]],
                   repeats: int) -> dict[float | None, float]:
    """Median seconds of ``step(rate)()`` by rate (None: the Conv model), the variants timed in
    turn after 3 untimed steps each (oneDNN's convolutions keep speeding up over their first
    steps)."""
    return time_alternately({rate: step(rate) for rate in (None, *RATES)}, repeats, warmup=3)


def step_time(sizes: TrainingSizes, repeats: int) -> dict[float | None, float]:
    """(f) Median seconds of a ResNet training step by rate (None: Conv2D)."""
    return _time_variants(lambda rate: training_step(sizes, rate), repeats)


def fcn_step_time(sizes: FcnSizes, repeats: int) -> dict[float | None, float]:
    """(h) Median seconds of an FCN training step by rate (None: Conv1D)."""
    return _time_variants(lambda rate: _step(fcn_model(sizes, rate), sizes.batch, sizes.classes),
                          repeats)


def _status_kib(field: str) -> int:
    """A ``/proc/self/status`` field in KiB (VmRSS: resident now, VmHWM: peak resident)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field} field")


def _reset_peak_rss() -> int:
    """Reset this process's peak resident memory (VmHWM) to its current RSS; return that, in KiB."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_kib("VmRSS")


def peak_memory(sizes: TrainingSizes, rate: float | None) -> dict:
    """(g) In this process: a variant's peak training memory (see the module docstring)."""
    step = training_step(sizes, rate)
    idle_rss = _reset_peak_rss()
    step()  # traces, creates the optimizer's slots, grows the allocator's pool
    device = f"{device_name()}:0"
    tf.config.experimental.reset_memory_stats(device)
    tensors_before = tf.config.experimental.get_memory_info(device)["current"]
    step()
    tensors_peak = tf.config.experimental.get_memory_info(device)["peak"]
    return {"peak_tensor_mib": (tensors_peak - tensors_before) / 2 ** 20,
            "peak_rss_mib": (_status_kib("VmHWM") - idle_rss) / 1024,
            "idle_rss_mib": idle_rss / 1024, "pid": os.getpid()}


def step_memory(sizes: TrainingSizes) -> dict[float | None, dict]:
    """(g) ``peak_memory`` by rate (None: Conv2D), each measured in a new process, in turn."""
    results = {}
    for rate in (None, *RATES):
        command = [sys.executable, "-m", __name__, json.dumps(dataclasses.asdict(sizes)),
                   "none" if rate is None else str(rate)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"(g) memory of {variant_name(rate)} failed "
                               f"(exit {done.returncode}):\n{done.stderr[-3000:]}")
        results[rate] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def memory_fraction(memory: dict[float | None, dict], rate: float | None, measure: str) -> float:
    """``memory[rate][measure]`` / spectral r=0's; NaN when r=0's is 0 (no allocator statistics)."""
    return memory[rate][measure] / memory[0.0][measure] if memory[0.0][measure] else float("nan")


def spectral_part_fraction(memory: dict[float | None, dict], rate: float, measure: str) -> float:
    """What the spectral layers add to the step at ``rate``, above the Conv2D network's
    ``measure``, as a fraction of what they add at r=0 (NaN when they add nothing at r=0): the
    part of the step's memory that the compress rate can act on."""
    conv = memory[None][measure]
    at_zero = memory[0.0][measure] - conv
    return (memory[rate][measure] - conv) / at_zero if at_zero > 0 else float("nan")


def plot_resource(seconds: dict[float | None, float], memory: dict[float | None, dict],
                  path: str) -> None:
    """The figure "time and memory vs compress rate" of ``step_time`` and ``step_memory``.

    Step time relative to Conv2D's (left axis), and peak memory above the idle
    process relative to spectral r=0's (right axis), against the compress rate.
    """
    # Imported here: the memory workers import this module and need no plotting.
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = list(RATES)
    fig, time_axis = plt.subplots(figsize=(6.4, 4.2))
    time_axis.plot(rates, [seconds[r] / seconds[None] for r in rates], "o-", color="C0",
                   label="step time / Conv2D's")
    time_axis.axhline(1.0, color="C0", linestyle=":", label="Conv2D time")
    time_axis.set_xlabel("compress rate (fraction of the spectrum dropped)")
    time_axis.set_ylabel("training step time / Conv2D's", color="C0")
    memory_axis = time_axis.twinx()
    for measure, style, label in (("peak_tensor_mib", "s-", "peak tensors / r=0's"),
                                  ("peak_rss_mib", "^--", "peak RSS / r=0's")):
        memory_axis.plot(rates, [memory_fraction(memory, r, measure) for r in rates],
                         style, color="C1", label=label)
    memory_axis.axhline(memory_fraction(memory, None, "peak_tensor_mib"),
                        color="C1", linestyle=":", label="Conv2D peak tensors")
    memory_axis.set_ylabel("peak memory above idle / spectral r=0's", color="C1")
    memory_axis.set_ylim(bottom=0)
    time_axis.set_ylim(bottom=0)
    handles = [h for axis in (time_axis, memory_axis) for h in axis.get_legend_handles_labels()[0]]
    time_axis.legend(handles=handles, fontsize=8, loc="best")
    time_axis.set_title("ResNet-18 training step: time and memory vs compress rate")
    time_axis.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _main() -> None:
    """Worker of ``step_memory``: print ``peak_memory`` of one variant as a JSON line."""
    parser = argparse.ArgumentParser(description=_main.__doc__)
    parser.add_argument("sizes", type=lambda text: TrainingSizes(**json.loads(text)))
    parser.add_argument("rate", type=lambda s: None if s == "none" else float(s))
    args = parser.parse_args()
    print(json.dumps(peak_memory(args.sizes, args.rate)))


if __name__ == "__main__":
    _main()
