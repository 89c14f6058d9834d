"""1-D band-limited convolution on real UCR sets: FCN (Wang et al. 2017) at compress rates 0, 50 and 75%.

FCN (`fcn1d`: Conv1D 128@8, 256@5, 128@3 with batch norm, global average
pooling) on GunPoint and ItalyPowerDemand, the UCR sets of aeon's wheel that
Wang et al.'s table reports (`make ucr` puts them in `data/ucr/`). Rate 0 is the
model with `Conv1D` (the band-limited layer at rate 0 computes the same
function, which the tests check); 50% and 75% use `SpectralConv1D`. Training:
300 epochs of Adam 1e-3 with cosine decay, batch 16 (Wang et al. train 2,000
epochs with plateau decay on the training loss). Outputs: `ucr_fcn.md`
(accuracy beside the published FCN accuracy) and `ucr_fcn.png`. Ratios: our
rate-0 accuracy minus the published one, in points (target >= -2), and each
rate's change from rate 0. `quick`: one epoch, one set.
"""
from __future__ import annotations

import dataclasses
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)

from tfcompress import training  # noqa: E402
from tfcompress.benchmarks import DATA_DIR, SuiteResult  # noqa: E402
from tfcompress.benchmarks.real_data import compress_rate_curve, require, runs_dir  # noqa: E402

# Wang, Yan & Oates 2017, Table 1: FCN test error -> accuracy.
PUBLISHED = {"GunPoint": 1.000, "ItalyPowerDemand": 0.970}
RATES = (0.5, 0.75)


def fcn(name: str, data_dir: str, quick: bool = False) -> training.TrainConfig:
    """The training settings of FCN on `ucr:<name>` under `data_dir/ucr`."""
    config = training.TrainConfig(model="fcn1d", dataset=f"ucr:{name}", data_dir=os.path.join(data_dir, "ucr"),
                                  epochs=300, batch_size=16, optimizer="adam", lr=1e-3, lr_schedule="cosine",
                                  export=False, verbose=0)
    return dataclasses.replace(config, epochs=1) if quick else config


def _plot(curves: dict[str, list[dict]], path: str) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, rows in curves.items():
        ax.plot([100 * r["setting"] for r in rows], [r["accuracy_mean"] for r in rows], marker="o", label=name)
        ax.axhline(PUBLISHED[name], linestyle=":", color=ax.lines[-1].get_color(), label=f"{name}, published FCN")
    ax.set_xlabel("compress rate (% of the spectrum dropped)")
    ax.set_ylabel("test accuracy")
    ax.set_title("FCN with band-limited Conv1D on UCR sets")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(quick: bool = False, repeats: int = 1, data_dir: str = DATA_DIR) -> SuiteResult:
    """Train FCN at each rate on each set; the table, the figure and the ratios."""
    result = SuiteResult()
    curves = {}
    lines = ["| set | train / test / length | published FCN | rate 0 (Conv1D) | rate 50% | rate 75% | seeds |",
             "|---|---|---|---|---|---|---|"]
    names = list(PUBLISHED)[:1] if quick else list(PUBLISHED)
    with runs_dir("ucr_fcn", quick) as folder:
        for name in names:
            info = require(f"ucr:{name}", os.path.join(data_dir, "ucr"))
            rows = compress_rate_curve(fcn(name, data_dir, quick), RATES, repeats, os.path.join(folder, name))
            rows[0]["technique"] = "conv1d"
            curves[name] = rows
            for row in rows:
                result.rows.append({"set": name, **row})
            base = rows[0]["accuracy_mean"]
            result.add_ratio(f"{name} FCN rate 0 - published accuracy (points)", 100 * (base - PUBLISHED[name]),
                             ">= -2")
            for row in rows[1:]:
                result.add_ratio(f"{name} FCN rate {row['setting']:.0%} - rate 0 accuracy (points)",
                                 100 * (row["accuracy_mean"] - base))
            cells = [f"{100 * r['accuracy_mean']:.2f}%" + (f" ± {100 * r['accuracy_std']:.2f}" if repeats > 1 else "")
                     for r in rows]
            lines.append(f"| {name} | {info.num_train} / {info.num_test} / {info.input_shape[0]} | "
                         f"{100 * PUBLISHED[name]:.1f}% | " + " | ".join(cells) + f" | {repeats} |")
    table = "\n".join(lines) + "\n"
    result.notes.append(f"FCN on UCR sets:\n{table}")
    result.add_text("ucr_fcn.md", table)
    result.plots["ucr_fcn.png"] = lambda path: _plot(curves, path)
    return result
