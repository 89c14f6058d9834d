"""What the reproduction suites share: where their data and runs live, and the compress-rate curve.

The suites on real data (`mnist_*`, `ucr_*`) read `data_dir` as
`tools/get_data.sh` fills it (`<data_dir>/mnist/`, `<data_dir>/ucr/`) and keep
their runs in `runs/reproduce/<suite>/`, so an interrupted suite resumes its
finished and half-finished runs instead of starting over (`quick` runs go to a
temporary folder). A missing data set is one clear error naming the fetch command.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import statistics
import tempfile
from collections.abc import Iterator

from tfcompress import data as tfc_data
from tfcompress import training

RUNS_DIR = "runs/reproduce"
FETCH = {"mnist": "make mnist (tools/get_data.sh mnist)", "ucr": "make ucr (tools/get_data.sh ucr)"}


def require(dataset: str, data_dir: str) -> tfc_data.DatasetInfo:
    """The description of `dataset` in `data_dir`, or a FileNotFoundError saying how to fetch it."""
    try:
        return tfc_data.describe(dataset, data_dir=data_dir)
    except FileNotFoundError as error:
        kind = "ucr" if ":" in dataset else "mnist"
        raise FileNotFoundError(f"dataset {dataset!r} is not in data_dir={data_dir!r}; run `{FETCH[kind]}` "
                                f"or pass --data_dir=<folder holding it> ({error})") from None


@contextlib.contextmanager
def runs_dir(suite: str, quick: bool) -> Iterator[str]:
    """`runs/reproduce/<suite>`, kept between calls; a temporary folder for `quick` runs."""
    if quick:
        with tempfile.TemporaryDirectory(prefix=f"tfcompress_{suite}_") as folder:
            yield folder
    else:
        folder = os.path.join(RUNS_DIR, suite)
        os.makedirs(folder, exist_ok=True)
        yield folder


def compress_rate_curve(base: training.TrainConfig, rates: tuple[float, ...], seeds: int,
                        folder: str) -> list[dict]:
    """Test accuracy of `base` with standard convolutions and band-limited at each of `rates`.

    One row per setting, in the report's layout (`technique` 'dense' or
    'spectral', `setting` the compress rate, `accuracy_mean`/`accuracy_std`
    over seeds 0..seeds-1, `accuracies`), as `reports.figures.accuracy_vs_compress_rate` draws it.
    """
    settings = [("dense", 0.0, {"conv": "standard"})] + [
        ("spectral", rate, {"conv": "spectral", "compress_rate": rate}) for rate in rates]
    rows = []
    for technique, rate, change in settings:
        name = "conv" if technique == "dense" else f"r{rate:g}"
        accuracies = [training.train(training.resuming(dataclasses.replace(base, seed=seed, **change),
                                                       os.path.join(folder, name, f"seed{seed}")))
                      .history[-1]["val_accuracy"]
                      for seed in range(seeds)]
        rows.append({"technique": technique, "setting": rate, "accuracy_mean": statistics.fmean(accuracies),
                     "accuracy_std": statistics.stdev(accuracies) if seeds > 1 else 0.0, "seeds": seeds,
                     "accuracies": " ".join(f"{a:.4f}" for a in accuracies)})
    return rows
