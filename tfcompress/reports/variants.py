"""One trained variant per (technique, setting, seed): how each technique is run for the report.

Every technique reuses the library's own entry points (`training.train`,
`pruning.experiment.run`, `folding.student.train_student`), in run
directories under `runs/<report>/`, so an interrupted report resumes its
training runs and a finished variant is read back from its `outcome.json`.
Pruning and folding start from the dense run of the same seed.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable

import numpy as np
import tf_keras as keras

from tfcompress import sparse, training
from tfcompress.reports import costs, tflite

OUTCOME_FILE = "outcome.json"
WALL_FILE = "wall_seconds.txt"
# Techniques with a sparsity setting: the masked methods of tfcompress.sparse, then tfmot.
MASKED = ("static", "set", "deepr", "dsr", "rigl")
SPARSE_SETTING = (*MASKED, "tfmot")
# Techniques run at the headline `--sparsity` only (not swept): tfmot in TFLite's 1x4 blocks.
HEADLINE_SPARSITY = ("tfmot_block4",)
# Pruning techniques: `bin/prune.py`'s --method and --block_size of each.
PRUNING = {"tfmot": ("tfmot", 1), "tfmot_block4": ("tfmot", 4), "threshold": ("threshold", 1)}
# Forward + backward of a training step is taken as 3x the forward FLOPs (Evci et al. 2020).
TRAIN_FLOPS_PER_FORWARD = 3


@dataclasses.dataclass(frozen=True)
class Budget:
    """Sizes of a report: epochs, data, the settings swept for the figures, timing effort."""

    epochs: int
    limit: int | None
    compress_rates: tuple[float, ...]
    sparsities: tuple[float, ...]
    folds: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    table_batch: int
    trials: int


BUDGETS = {
    "smoke": Budget(epochs=5, limit=None, compress_rates=(0.0, 0.5, 0.9), sparsities=(0.8, 0.9),
                    folds=(2,), batch_sizes=(16, 128), table_batch=128, trials=2),
    "full": Budget(epochs=20, limit=None, compress_rates=tuple(r / 10 for r in range(10)),
                   sparsities=(0.5, 0.8, 0.9, 0.95), folds=(2, 3, 4),
                   batch_sizes=(1, 16, 64, 256, 1024), table_batch=256, trials=5),
}


@dataclasses.dataclass(frozen=True)
class Variant:
    """A technique at one setting (compress rate, sparsity or fold; None for the others)."""

    technique: str
    setting: float | int | None = None

    @property
    def label(self) -> str:
        """Short name used in tables and directory names, e.g. `spectral_r0.5`, `folded_f2`."""
        if self.setting is None:
            return self.technique
        prefix = {"spectral": "r", "folded": "f"}.get(self.technique, "s")  # rate, fold, sparsity
        return f"{self.technique}_{prefix}{self.setting:g}"


@dataclasses.dataclass
class Context:
    """What every technique needs: the base training settings, budget and where runs go."""

    base: training.TrainConfig
    budget: Budget
    runs_dir: str
    info: object  # tfcompress.data.DatasetInfo of the dataset
    tflite: bool = True  # measure TFLite sizes, int8 accuracy and latency of every variant
    # The variant being run, its seed, and perf_counter() when it started.
    variant: Variant | None = None
    seed: int = 0
    started: float = 0.0

    def run_dir(self, variant: Variant, seed: int) -> str:
        """`runs/<report>/<variant label>/seed<seed>`."""
        return os.path.join(self.runs_dir, variant.label, f"seed{seed}")

    def train_size(self) -> int:
        """Training examples per epoch."""
        return min(self.info.num_train, self.budget.limit or self.info.num_train)

    def steps_per_epoch(self) -> int:
        """Training steps per epoch."""
        return math.ceil(self.train_size() / self.base.batch_size)

    def config(self, variant: Variant, seed: int, **changes) -> training.TrainConfig:
        """The base settings for `variant` and `seed`, resuming a run already in its directory."""
        return training.resuming(dataclasses.replace(self.base, seed=seed, **changes),
                                 self.run_dir(variant, seed)).validate()


def _train(context: Context, variant: Variant, seed: int, **changes) -> tuple[keras.Model, dict]:
    config = context.config(variant, seed, **changes)
    result = training.train(config)
    accuracy = result.history[-1]["val_accuracy"]
    return result.model, {"accuracy": accuracy, "epochs": config.epochs}


def _measured(context: Context, model: keras.Model, outcome: dict, fold: int = 1,
              extra_train_flops: float = 0.0, curve: bool = False) -> dict:
    """`outcome` plus the wall time, the model's costs, training FLOPs and throughput.

    The wall time is the time this variant took to train (prune, distil) when that happened
    now; when its run had already finished, the time recorded then (`WALL_FILE`).
    """
    wall_file = os.path.join(context.run_dir(context.variant, context.seed), WALL_FILE)
    if not os.path.exists(wall_file):
        with open(wall_file, "w") as f:
            f.write(f"{time.perf_counter() - context.started}\n")
    with open(wall_file) as f:
        outcome["wall_s"] = float(f.read())
    measured = costs.model_costs(model, fold)
    examples = outcome.pop("epochs") * context.train_size()
    outcome.update(dataclasses.asdict(measured))
    outcome["train_flops"] = (TRAIN_FLOPS_PER_FORWARD * measured.inference_flops * examples
                              + extra_train_flops)
    budget = context.budget
    batches = budget.batch_sizes if curve else (budget.table_batch,)
    speeds = {b: costs.images_per_second(model, b, fold, budget.trials) for b in batches}
    outcome["throughput"] = (speeds[budget.table_batch] if budget.table_batch in speeds else
                             costs.images_per_second(model, budget.table_batch, fold, budget.trials))
    if curve:
        outcome["throughput_curve"] = {str(b): v for b, v in speeds.items()}
    if context.tflite:
        outcome.update(_tflite_measures(context, model, fold))
    return outcome


def _tflite_measures(context: Context, model: keras.Model, fold: int) -> dict:
    """TFLite sizes and int8 Interpreter accuracy (not for folded models); the files are saved
    in the run directory, for `compare` to time every variant's in turn (batch-1 latency)."""
    from tfcompress import data as tfc_data
    from tfcompress.folding import fold_inputs
    base = context.base
    load = dict(data_dir=base.data_dir, image_size=base.image_size, labels=base.labels,
                channels=base.channels, batch_size=256, shuffle=False)
    x_train = next(iter(tfc_data.load(base.dataset, "train", limit=256, **load)))[0].numpy()
    x_test, y_test = map(np.concatenate, zip(*tfc_data.load(
        base.dataset, "test", limit=context.budget.limit, **load).as_numpy_iterator()))
    save_dir = context.run_dir(context.variant, context.seed)
    if fold > 1:
        return tflite.measures(model, fold_inputs(x_train, fold).numpy(), save_dir=save_dir)
    return tflite.measures(model, x_train, x_test, y_test, save_dir=save_dir)


def dense(context: Context, variant: Variant, seed: int, dense_outcome: dict | None) -> dict:
    """The model as built by `tfcompress.models` (also the base of pruning and folding)."""
    model, outcome = _train(context, variant, seed)
    return _measured(context, model, outcome, curve=True)


def spectral(context: Context, variant: Variant, seed: int, dense_outcome: dict | None) -> dict:
    """Every convolution band-limited at `compress_rate = variant.setting`."""
    model, outcome = _train(context, variant, seed, conv="spectral", compress_rate=variant.setting)
    return _measured(context, model, outcome)


def hebbian(context: Context, variant: Variant, seed: int, dense_outcome: dict | None) -> dict:
    """Every convolution a HebbianSparseConv2D, rewired once per epoch from strengths updated
    four times per epoch (measured stripped, zeros in place)."""
    steps = context.steps_per_epoch()
    model, outcome = _train(context, variant, seed, conv="hebbian",
                            hebbian_accumulate_every=max(1, steps // 4),
                            hebbian_rewire_every=max(1, steps // 4) * 4)
    return _measured(context, sparse.strip(model), outcome)


def dynamic_sparse(context: Context, variant: Variant, seed: int, dense_outcome: dict | None) -> dict:
    """A masked method (static, SET, DeepR, DSR, RigL) from an ERK initial distribution at
    `sparsity = variant.setting`, layers in `--keep_dense` left dense.

    Masks are updated twice per epoch until 3/4 of the epochs; per-layer
    sparsities before and after training are kept for the re-allocation figure.
    """
    changes = dict(sparse=variant.technique, sparse_distribution="erk", sparsity=variant.setting,
                   update_every=max(1, context.steps_per_epoch() // 2),
                   stop_rewire_epoch=max(1, context.base.epochs * 3 // 4))
    initial = sparse.stats(training.build_model(context.config(variant, seed, **changes),
                                                context.info))
    model, outcome = _train(context, variant, seed, **changes)
    final = sparse.stats(model)
    outcome["layer_sparsity"] = {name: [initial["layers"][name]["sparsity"], entry["sparsity"]]
                                 for name, entry in final["layers"].items()}
    return _measured(context, sparse.strip(model), outcome)


def pruned(context: Context, variant: Variant, seed: int, dense_outcome: dict) -> dict:
    """tfmot's cubic schedule to `variant.setting` (Dense kernels in 1x4 blocks for
    tfmot_block4: TFLite serves them sparse), or std-threshold pruning, of the dense run."""
    from tfcompress.pruning import csr, experiment
    dense_dir = context.run_dir(Variant("dense"), seed)
    model, _ = training.load_run(dense_dir)
    base = context.base
    steps = context.steps_per_epoch()
    method, block_size = PRUNING[variant.technique]
    config = experiment.PruneConfig(
        method=method, block_size=block_size, model=base.model, model_args=base.model_args,
        dataset=base.dataset, data_dir=base.data_dir, image_size=base.image_size,
        limit=context.budget.limit, batch_size=base.batch_size, checkpoint=dense_dir,
        target_sparsity=variant.setting or 0.9, end_step=max(1, base.epochs - 1) * steps,
        frequency=steps, epochs=max(2, base.epochs), groups=_layer_groups(model),
        finetune_epochs=1, seed=seed, run_dir=context.run_dir(variant, seed))
    summary = experiment.run(config)
    csr.from_csr(os.path.join(config.run_dir, "weights_csr.npz"), model)
    if method == "tfmot":
        epochs = config.epochs
    else:
        with open(os.path.join(config.run_dir, "metrics.csv")) as f:
            epochs = (sum(1 for _ in f) - 1) * config.finetune_epochs
    dense_forward = dense_outcome["inference_flops"] * epochs * context.train_size()
    outcome = {"accuracy": summary["pruned_accuracy"], "epochs": 0,
               "histograms": os.path.join(config.run_dir, "weights_before_after.png")}
    return _measured(context, model, outcome, extra_train_flops=dense_outcome["train_flops"]
                     + TRAIN_FLOPS_PER_FORWARD * dense_forward)


def _layer_groups(model: keras.Model) -> str:
    """Threshold pruning's layer groups: convolutions first, then dense layers (Han et al.)."""
    kernels = [layer for layer in model.layers if getattr(layer, "kernel", None) is not None]
    convs = [layer.name for layer in kernels if len(layer.kernel.shape) > 2]
    dense = [layer.name for layer in kernels if len(layer.kernel.shape) == 2]
    return ";".join(f"{group}:{','.join(names)}" for group, names in (("conv", convs), ("fc", dense))
                    if names)


def folded(context: Context, variant: Variant, seed: int, dense_outcome: dict) -> dict:
    """A FoldedCNN of `variant.setting` images per input, distilled from the dense run."""
    from tfcompress.folding.student import FoldConfig, train_student
    config = FoldConfig(teacher_run_dir=context.run_dir(Variant("dense"), seed),
                        run_dir=context.run_dir(variant, seed), fold=variant.setting,
                        epochs=context.base.epochs, batch_size=context.base.batch_size,
                        seed=seed, verbose=0)
    result = train_student(config)
    teacher_forward = dense_outcome["inference_flops"] * config.epochs * context.train_size()
    outcome = {"accuracy": result.student_accuracy, "epochs": config.epochs}
    return _measured(context, result.student, outcome, fold=variant.setting, curve=True,
                     extra_train_flops=dense_outcome["train_flops"] + teacher_forward)


TECHNIQUES: dict[str, Callable[[Context, Variant, int, dict | None], dict]] = {
    "dense": dense, "spectral": spectral, **{m: dynamic_sparse for m in MASKED},
    **{t: pruned for t in PRUNING}, "folded": folded, "hebbian": hebbian,
}
# Techniques that start from the dense run of the same seed.
NEEDS_DENSE = (*PRUNING, "folded")


def run_variant(context: Context, variant: Variant, seed: int, dense_outcome: dict | None) -> dict:
    """The outcome of `variant` at `seed`: read from its outcome.json when the same settings
    produced it, else trained (or resumed) and measured, then written there.

    `wall_s` is the time to train (prune, distil) the variant, before its measurement.
    """
    path = os.path.join(context.run_dir(variant, seed), OUTCOME_FILE)
    key = {"variant": dataclasses.asdict(variant), "seed": seed,
           "base": dataclasses.asdict(context.base), "budget": dataclasses.asdict(context.budget)}
    key = json.loads(json.dumps(key))  # tuples become lists, as when read back
    if os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
        if saved.get("key") == key:
            print(f"    reused {path}", flush=True)
            return saved["outcome"]
    context.variant, context.seed, context.started = variant, seed, time.perf_counter()
    outcome = TECHNIQUES[variant.technique](context, variant, seed, dense_outcome)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"key": key, "outcome": outcome}, f, indent=2)
    return outcome
