"""Benchmark suites behind ``bin/benchmark.py``: a registry, a timer and a CSV writer.

A suite is a module with ``run(quick: bool, repeats: int) -> SuiteResult``,
registered in ``SUITES`` by name (modules are imported only when run, so a
suite may depend on anything); a suite on real data takes a third argument,
``data_dir``, the folder that `tools/get_data.sh` fills. ``run_suites`` writes ``<out_dir>/<suite>.csv``
(one row per measurement) and ``<out_dir>/<suite>_ratios.csv`` (the ratios
measured in this one process: these machines are noisy, so absolute times are
never compared across runs); every row of both records the CPU model and the
instruction sets in use (``machine()``).
"""
import csv
import dataclasses
import functools
import importlib
import inspect
import os
import platform
import statistics
import time
from typing import Any, Callable, Sequence

import tensorflow as tf

from tfcompress.spectral import op

SUITES: dict[str, str] = {
    "spectral": "tfcompress.benchmarks.spectral",
    "fold": "tfcompress.benchmarks.fold",
    "hebbian": "tfcompress.benchmarks.hebbian",
    "sparse": "tfcompress.benchmarks.sparse",
    "sparse_accuracy": "tfcompress.benchmarks.sparse_accuracy",
    "fold_accuracy": "tfcompress.benchmarks.fold_accuracy",
    "serving": "tfcompress.benchmarks.serving",
    # Reproductions on real data (`data_dir`, see tools/get_data.sh); each writes a Markdown table.
    "mnist_pruning": "tfcompress.benchmarks.mnist_pruning",
    "mnist_sparse": "tfcompress.benchmarks.mnist_sparse",
    "mnist_spectral": "tfcompress.benchmarks.mnist_spectral",
    "mnist_fold": "tfcompress.benchmarks.mnist_fold",
    "ucr_fcn": "tfcompress.benchmarks.ucr_fcn",
}
DATA_DIR = "data"  # where `tools/get_data.sh` puts mnist/ and ucr/


RATIO_COLUMNS = ("ratio", "value", "target")
# Caps on the instruction set: our op's dispatch, and oneDNN's (TensorFlow's Conv2D, matmul).
ISA_CAPS = ("TFCOMPRESS_MAX_CPU_ISA", "ONEDNN_MAX_CPU_ISA")
# The CPU's vector extensions recorded: name -> its flag in /proc/cpuinfo.
VECTOR_FLAGS = {"avx512f": "avx512f", "avx2": "avx2", "amx": "amx_tile"}


@dataclasses.dataclass
class SuiteResult:
    """What a suite measured: CSV rows, ratios (``name``, ``value``, ``target``) and notes."""

    rows: list[dict] = dataclasses.field(default_factory=list)
    ratios: list[dict] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    # Figures and tables to write into the output directory: file name -> function(path).
    plots: dict[str, Callable[[str], Any]] = dataclasses.field(default_factory=dict)

    def add_ratio(self, name: str, value: float, target: str = "") -> None:
        """Record ``value`` (e.g. a time ratio) under ``name`` with the target it is judged by."""
        self.ratios.append({"ratio": name, "value": value, "target": target})

    def add_text(self, file_name: str, text: str) -> None:
        """Write ``text`` (e.g. a Markdown table) to ``file_name`` in the output directory."""
        def write(path: str) -> None:
            with open(path, "w") as f:
                f.write(text)
        self.plots[file_name] = write


def get_suite(name: str, data_dir: str = DATA_DIR) -> Callable[[bool, int], SuiteResult]:
    """The ``run(quick, repeats)`` function of the suite called ``name`` (given ``data_dir`` if it reads data)."""
    if name not in SUITES:
        raise ValueError(f"unknown benchmark suite {name!r}; expected one of {sorted(SUITES)}")
    run = importlib.import_module(SUITES[name]).run
    if "data_dir" in inspect.signature(run).parameters:
        return functools.partial(run, data_dir=data_dir)
    return run


def device_name() -> str:
    """'GPU' when TensorFlow sees one, else 'CPU' (recorded beside every timing)."""
    return "GPU" if tf.config.list_physical_devices("GPU") else "CPU"


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields in /proc/cpuinfo ({} where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            block = f.read().split("\n\n")[0]
    except OSError:
        return {}
    fields = (line.split(":", 1) for line in block.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in fields}


def machine() -> dict[str, str]:
    """The CPU behind the numbers: ``cpu_model`` and ``isa``, columns of every benchmark CSV.

    ``isa`` names what the compiled spectral op dispatches to (``op=...``,
    'none' when the op is not loaded), the CPU's vector extensions
    (``cpu=avx512f+avx2``; amx when present) and the caps set in the
    environment (ISA_CAPS).
    """
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    parts = [f"op={op.cpu_isa() or 'none'}",
             "cpu=" + ("+".join(name for name, flag in VECTOR_FLAGS.items() if flag in flags)
                       or "none")]
    parts += [f"{cap}={os.environ[cap]}" for cap in ISA_CAPS if os.environ.get(cap)]
    return {"cpu_model": info.get("model name") or platform.processor() or platform.machine(),
            "isa": " ".join(parts)}


def _wait(result: Any) -> None:
    """Block until every tensor in ``result`` is computed (GPU work is asynchronous)."""
    for value in tf.nest.flatten(result):
        if isinstance(value, tf.Tensor):
            value.numpy()


def time_fn(fn: Callable[[], Any], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall seconds of ``fn()`` over ``repeats`` calls after ``warmup`` untimed ones.

    ``fn`` should return something small (e.g. a scalar) that depends on all
    its work; it is fetched to the host to wait for the device.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, "
                         f"warmup={warmup}")
    for _ in range(warmup):
        _wait(fn())
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        _wait(fn())
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def time_alternately(fns: dict[str, Callable[[], Any]], repeats: int,
                     warmup: int = 1) -> dict[str, float]:
    """Median seconds of each no-argument function, calling them in turn `repeats` times
    after `warmup` untimed calls each (the first traces)."""
    for fn in fns.values():
        for _ in range(warmup):
            _wait(fn())
    samples = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            samples[name].append(time_fn(fn, 1, warmup=0))
    return {name: statistics.median(seconds) for name, seconds in samples.items()}


def write_csv(rows: Sequence[dict], path: str, columns: Sequence[str] | None = None) -> str:
    """Write ``rows`` to ``path``; return the path.

    ``columns`` defaults to every key of ``rows`` in first-seen order.
    """
    columns = columns or list(dict.fromkeys(key for row in rows for key in row))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def format_ratios(suite: str, result: SuiteResult) -> str:
    """Human-readable ratios and notes of one suite, one per line."""
    lines = [f"[{suite}] {note}" for note in result.notes]
    for ratio in result.ratios:
        target = f"  (target {ratio['target']})" if ratio["target"] else ""
        lines.append(f"[{suite}] {ratio['ratio']}: {ratio['value']:.3f}{target}")
    return "\n".join(lines)


def run_suites(names: Sequence[str], out_dir: str, repeats: int = 5, quick: bool = False,
               data_dir: str = DATA_DIR) -> dict[str, SuiteResult]:
    """Run the named suites; write ``<suite>.csv`` and ``<suite>_ratios.csv`` under ``out_dir``.

    Each suite's wall time is added to its notes; every row gets ``machine()``'s columns.
    """
    if not names:
        raise ValueError("no benchmark suite named; expected some of " + ", ".join(sorted(SUITES)))
    suites = {name: get_suite(name, data_dir) for name in names}  # unknown names fail before any timing
    results = {}
    cpu = machine()
    for name, run in suites.items():
        start = time.perf_counter()
        result = run(quick, repeats)
        result.notes.append(f"wall time {time.perf_counter() - start:.0f} s")
        write_csv([{**row, **cpu} for row in result.rows], os.path.join(out_dir, f"{name}.csv"))
        write_csv([{**ratio, **cpu} for ratio in result.ratios],
                  os.path.join(out_dir, f"{name}_ratios.csv"), (*RATIO_COLUMNS, *cpu))
        for file_name, draw in result.plots.items():
            draw(os.path.join(out_dir, file_name))
            result.notes.append(f"wrote {os.path.join(out_dir, file_name)}")
        results[name] = result
    return results
