"""Han et al. 2015 on full MNIST: LeNet-300-100 and LeNet-5, pruned by tfmot and by std-threshold pruning.

Per model: one dense baseline (`training.train`), then the two pruning runs of
`bin/prune.py` (`tfcompress.pruning.experiment.run`) from that same baseline:
- tfmot: cubic schedule from 0 to 92% sparsity, SGD momentum 0.9, lr 0.02
  decaying to zero (cosine); LeNet-300-100: every layer, sparsity reached at
  epoch 10 of 30; LeNet-5: every layer but the first convolution (500 weights,
  which Han et al. prune least: 92% would leave 2 of each filter's 25
  weights), reached at epoch 15 of 40;
- threshold: |w| < q*std(w) per layer, q from 1.0 in steps of 0.1 (at most 20
  steps per group), fine-tuning after each step (2 epochs; 1 for LeNet-5), a
  step kept while accuracy stays within 0.3 point of the dense model
  (`max_drop=0.003`), LeNet-5's second convolution first, then its fully
  connected layers (its first convolution stays dense); then the whole pruned
  model is retrained for 10 epochs with the lr decaying to zero, as Han et al.
  retrain (`final_epochs`).
Accuracy is on the 10,000 test images (one image is 0.01 point); as in Han et
al., the threshold pruner's accept/reject decisions read that same split.

Tables: `mnist_pruning.md` (ours beside Han et al.'s Table 1) and
`mnist_pruning_layers.md` (LeNet-5 per layer beside the nn-compression seed's
~6x overall, ~10x fully connected, 1.5-2.5x convolutions). Ratios: compression
(target >= 12x) and accuracy change in points (target >= -0.1) per run.
`quick`: one epoch on 256 examples, for the tests.
"""
from __future__ import annotations

import dataclasses
import json
import os

from tfcompress import training
from tfcompress.benchmarks import DATA_DIR, SuiteResult
from tfcompress.benchmarks.real_data import require, runs_dir
from tfcompress.pruning import experiment

# Han et al. 2015, Table 1: (dense accuracy, pruned accuracy, compression).
PUBLISHED = {"lenet_300_100": (0.9836, 0.9841, 12), "lenet5": (0.9920, 0.9923, 12)}
# threshold: layer groups in pruning order; LeNet-5's first convolution stays dense, as for tfmot below.
GROUPS = {"lenet_300_100": "fc:fc1,fc2,logits", "lenet5": "conv:conv2;fc:fc1,logits"}
BASELINE_EPOCHS = {"lenet_300_100": 20, "lenet5": 15}
FINETUNE_EPOCHS = {"lenet_300_100": 2, "lenet5": 1}  # per threshold step
# tfmot: (layers pruned, "" for all; epoch where the final sparsity is reached; epochs in all)
TFMOT = {"lenet_300_100": ("", 10, 30), "lenet5": ("conv2,fc1,logits", 15, 40)}
STEPS_PER_EPOCH = 469  # 60,000 images in batches of 128
# The nn-compression seed's LeNet-5 (compression per kind of layer, overall).
SEED_LENET5 = "about 1.5-2.5x on the convolutions, about 10x on the fully connected layers, about 6x overall"


def baseline(model: str, data_dir: str, quick: bool) -> training.TrainConfig:
    """The dense model: SGD momentum 0.9, lr 0.05 with cosine decay, batch 128, weight decay 1e-4."""
    config = training.TrainConfig(model=model, dataset="mnist", data_dir=data_dir, epochs=BASELINE_EPOCHS[model],
                                  batch_size=128, optimizer="momentum", lr=0.05, lr_schedule="cosine",
                                  weight_decay=1e-4, export=False, verbose=0)
    return dataclasses.replace(config, epochs=1, limit=256) if quick else config


def pruning(method: str, dense: training.TrainConfig, checkpoint: str, run_dir: str,
            quick: bool) -> experiment.PruneConfig:
    """The pruning run of `method` ('tfmot' or 'threshold') from the dense run in `checkpoint`."""
    layers, ramp, epochs = TFMOT[dense.model]
    return experiment.PruneConfig(
        method=method, model=dense.model, dataset=dense.dataset, data_dir=dense.data_dir, image_size=None,
        limit=dense.limit, batch_size=dense.batch_size, checkpoint=checkpoint, target_sparsity=0.92,
        layers=layers if method == "tfmot" else "", begin_step=0,
        end_step=1 if quick else ramp * STEPS_PER_EPOCH, frequency=1 if quick else 67,
        epochs=1 if quick else epochs, groups=GROUPS[dense.model], start_q=1.0, step_q=0.1, max_drop=0.003,
        finetune_epochs=1 if quick else FINETUNE_EPOCHS[dense.model], final_epochs=1 if quick else 10,
        finetune_lr=0.02 if method == "tfmot" else 0.01,
        finetune_schedule="cosine" if method == "tfmot" else "constant", run_dir=run_dir)


def _prune(config: experiment.PruneConfig) -> dict:
    """The summary of `config`'s run, read back when a finished run with the same settings is there."""
    summary_path = os.path.join(config.run_dir, experiment.SUMMARY)
    config_path = os.path.join(config.run_dir, "config.json")
    if os.path.exists(summary_path) and os.path.exists(config_path):
        with open(config_path) as f:  # settings added since that run was written take their defaults
            if experiment.PruneConfig(**json.load(f)) == config:
                with open(summary_path) as g:
                    return json.load(g)
    return experiment.run(config)


def _layers_table(summaries: dict[str, dict]) -> str:
    lines = ["| method | " + " | ".join(summaries["threshold"]["layer_sparsity"]) + " | overall |",
             "|---|" + "---|" * (len(summaries["threshold"]["layer_sparsity"]) + 1)]
    for method, s in summaries.items():
        cells = [f"{1 / max(1 - v, 1e-9):.1f}x" for v in s["layer_sparsity"].values()]
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {s['compression']:.1f}x |")
    return "\n".join(lines) + f"\n\nThe nn-compression seed's LeNet-5: {SEED_LENET5}.\n"


def run(quick: bool = False, repeats: int = 1, data_dir: str = DATA_DIR) -> SuiteResult:
    """Train both dense models, prune each both ways; the tables and the ratios against the targets."""
    del repeats  # one seed: the runs are deterministic, and 10,000 test images resolve 0.01 point
    require("mnist", data_dir)
    result = SuiteResult()
    layers = {}
    lines = ["| model | method | our dense | our pruned | change (points) | our non-zeros | our compression | "
             "Han et al. dense | Han et al. pruned | Han et al. compression |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    with runs_dir("mnist_pruning", quick) as folder:
        for model, (han_dense, han_pruned, han_ratio) in PUBLISHED.items():
            dense = baseline(model, data_dir, quick)
            dense_dir = os.path.join(folder, model, "dense")
            training.train(training.resuming(dense, dense_dir))
            for method in experiment.METHODS:
                s = _prune(pruning(method, dense, dense_dir, os.path.join(folder, model, method), quick))
                change = 100 * (s["pruned_accuracy"] - s["dense_accuracy"])
                result.rows.append({"model": model, "method": method, **{k: v for k, v in s.items()
                                                                         if k != "layer_sparsity"}})
                result.add_ratio(f"{model} {method} compression (x)", s["compression"], ">= 12")
                result.add_ratio(f"{model} {method} accuracy change (points)", change, ">= -0.1")
                lines.append(f"| {model} | {method} | {100 * s['dense_accuracy']:.2f}% | "
                             f"{100 * s['pruned_accuracy']:.2f}% | {change:+.2f} | "
                             f"{s['nonzeros']:,}/{s['params']:,} | {s['compression']:.1f}x | "
                             f"{100 * han_dense:.2f}% | {100 * han_pruned:.2f}% | {han_ratio}x |")
                if model == "lenet5":
                    layers[method] = s
    table = "\n".join(lines) + "\n"
    result.notes.append(f"LeNet-300-100 and LeNet-5 on MNIST:\n{table}")
    result.add_text("mnist_pruning.md", table)
    result.add_text("mnist_pruning_layers.md", _layers_table(layers))
    return result
