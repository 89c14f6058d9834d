"""A whole pruning run as `bin/prune.py` does it: dense baseline, pruning, outputs in `runs/<name>/`.

Files: config.json, metrics.csv (per epoch for tfmot, per step for threshold),
weights_before_after.png, layer_sparsity.png, weights_csr.npz with
csr_report.csv, saved_model/ (the stripped model, portable) and summary.json,
which `table` turns into the README's table; with `block_size` > 1 also model.tflite
(float32, its 1xblock-sparse Dense weights kept sparse) and its serving speed in summary.json.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os

import numpy as np
import tf_keras as keras

from tfcompress import data as tfc_data
from tfcompress import export, models, training
from tfcompress.training import optim
from tfcompress.pruning import csr, figures, magnitude, surgery
from tfcompress.pruning.threshold import ThresholdPruner, parse_groups
from tfcompress.sparse.stats import nonzeros as count_nonzeros
from tfcompress.sparse.strip import strip

METHODS = ("tfmot", "threshold")
QUANTIZE = ("none", "int8", "qat")  # none; int8 post-training; QAT (pruning-preserving) then int8
FINETUNE_SCHEDULES = ("constant", "step", "cosine")  # of tfmot's training while pruning, over --epochs
SUMMARY = "summary.json"


@dataclasses.dataclass
class PruneConfig:
    """Settings of one pruning run; field names match the flags of `bin/prune.py`."""

    method: str = "threshold"
    model: str = "lenet_300_100"
    model_args: dict = dataclasses.field(default_factory=dict)
    dataset: str = "digits"
    data_dir: str | None = None
    image_size: int | None = 28
    limit: int | None = None
    batch_size: int = 64
    checkpoint: str | None = None
    baseline_epochs: int = 10
    lr: float = 0.05
    target_sparsity: float = 0.9
    begin_step: int = 0
    end_step: int = 1000
    frequency: int = 100
    epochs: int = 10
    groups: str = ""
    start_q: float = 0.5
    step_q: float = 0.25
    max_drop: float = 0.01
    finetune_epochs: int = 2
    final_epochs: int = 0
    finetune_lr: float = 0.01
    finetune_schedule: str = "constant"
    layers: str = ""  # tfmot: comma-separated layers to prune; empty: every prunable layer
    block_size: int = 1  # tfmot: Dense kernels pruned in blocks of this many inputs; 1: unstructured
    seed: int = 0
    run_dir: str = "runs/prune"
    quantize: str = "none"
    qat_epochs: int = 2

    def validate(self) -> "PruneConfig":
        """Raise ValueError/FileNotFoundError naming the first bad setting, before any work."""
        if self.method not in METHODS:
            raise ValueError(f"--method must be one of {', '.join(METHODS)}; got {self.method!r}")
        if self.quantize not in QUANTIZE:
            raise ValueError(f"--quantize must be one of {', '.join(QUANTIZE)}; got {self.quantize!r}")
        if self.finetune_schedule not in FINETUNE_SCHEDULES:
            raise ValueError(f"--finetune_schedule must be one of {', '.join(FINETUNE_SCHEDULES)}; "
                             f"got {self.finetune_schedule!r}")
        magnitude.check_block_size(self.block_size)
        if self.block_size > 1 and self.method != "tfmot":
            raise ValueError(f"--block_size={self.block_size} applies to --method=tfmot only, "
                             f"not --method={self.method}")
        if self.method == "tfmot":
            magnitude.schedule(self.target_sparsity, self.begin_step, self.end_step,
                               frequency=self.frequency)
            steps = self.epochs * -(-self._train_size() // self.batch_size)
            if steps <= self.end_step:
                raise ValueError(f"--epochs={self.epochs} gives {steps} steps; the schedule needs "
                                 f"more than --end_step={self.end_step}")
            unknown = sorted(set(self.layer_names() or []) - {layer.name for layer in self._model().layers})
            if unknown:
                raise ValueError(f"--layers names {unknown}, which model {self.model!r} does not have")
        else:
            self.pruner().check(self._model())
        if self.checkpoint is not None:
            run_config = _run_config(self.checkpoint)
            mismatched = {k: (getattr(run_config, k), getattr(self, k))
                          for k in ("model", "dataset", "image_size", "model_args")
                          if getattr(run_config, k) != getattr(self, k)}
            if mismatched:
                raise ValueError(f"--checkpoint {self.checkpoint!r} does not match this run: " + ", ".join(
                    f"it has --{k}={have!r}, this run --{k}={want!r}"
                    for k, (have, want) in mismatched.items()))
        return self

    def layer_names(self) -> list[str] | None:
        """The layers tfmot prunes (None: every prunable layer)."""
        return [name.strip() for name in self.layers.split(",") if name.strip()] or None

    def pruner(self) -> ThresholdPruner:
        """The ThresholdPruner of these settings: it fine-tunes with SGD (momentum 0.9) at
        `finetune_lr`, and with the loss and metrics the dense model was compiled with."""
        return ThresholdPruner(parse_groups(self.groups), start_q=self.start_q, step_q=self.step_q,
                               max_drop=self.max_drop, finetune_epochs=self.finetune_epochs,
                               final_epochs=self.final_epochs,
                               optimizer=keras.optimizers.SGD(self.finetune_lr, momentum=0.9))

    def train_config(self) -> training.TrainConfig:
        """Settings of the dense baseline run (trained when there is no checkpoint)."""
        return training.TrainConfig(model=self.model, model_args=self.model_args, dataset=self.dataset,
                                    data_dir=self.data_dir, image_size=self.image_size, limit=self.limit,
                                    epochs=self.baseline_epochs, batch_size=self.batch_size, lr=self.lr,
                                    seed=self.seed, run_dir=os.path.join(self.run_dir, "baseline"),
                                    export=False, verbose=0)

    def _model(self) -> keras.Model:
        info = tfc_data.describe(self.dataset, data_dir=self.data_dir, image_size=self.image_size)
        return models.build(self.model, info.input_shape, info.num_classes, **self.model_args)

    def _train_size(self) -> int:
        info = tfc_data.describe(self.dataset, data_dir=self.data_dir, image_size=self.image_size)
        return min(info.num_train, self.limit or info.num_train)


def _run_config(run_dir: str) -> training.TrainConfig:
    path = os.path.join(run_dir, training.loop.CONFIG_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"--checkpoint {run_dir!r} is not a run directory of bin/train.py "
                                f"({path!r} not found)")
    with open(path) as f:
        return training.TrainConfig.from_json(f.read())


def _kernels(model: keras.Model) -> dict[str, np.ndarray]:
    return {layer.name: layer.kernel.numpy() for layer in model.layers
            if magnitude.prunable_weights(layer)}


def run(config: PruneConfig) -> dict:
    """Train or load the dense model, prune it as `config.method` says, write the run's files.

    Returns the summary (also written to summary.json).
    """
    config.validate()
    os.makedirs(config.run_dir, exist_ok=True)
    with open(os.path.join(config.run_dir, "config.json"), "w") as f:
        json.dump(dataclasses.asdict(config), f, indent=2, sort_keys=True)
    if config.checkpoint:
        model, _ = training.load_run(config.checkpoint)
    else:
        model = training.train(config.train_config()).model
    load = dict(data_dir=config.data_dir, image_size=config.image_size, limit=config.limit,
                batch_size=config.batch_size, seed=config.seed)
    train_ds = tfc_data.load(config.dataset, "train", **load)
    val_ds = tfc_data.load(config.dataset, "test", **load)
    dense_accuracy = model.evaluate(val_ds, verbose=0, return_dict=True)["accuracy"]
    before = _kernels(model)
    metrics = os.path.join(config.run_dir, "metrics.csv")

    if config.method == "tfmot":
        wrapped = magnitude.prune_low_magnitude(model, config.target_sparsity, config.begin_step,
                                                config.end_step, frequency=config.frequency,
                                                layers=config.layer_names(),
                                                block_size=config.block_size)
        steps = config.epochs * int(train_ds.cardinality())
        lr = optim.learning_rate(config.finetune_lr, config.finetune_schedule, steps)
        wrapped.compile(optimizer=keras.optimizers.SGD(lr, momentum=0.9),
                        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                        metrics=["accuracy"])
        wrapped.fit(train_ds, epochs=config.epochs, validation_data=val_ds, verbose=0,
                    callbacks=[*magnitude.callbacks(config.run_dir), keras.callbacks.CSVLogger(metrics)])
        pruned = strip(wrapped)
    else:
        pruned, history = config.pruner().run(model, train_ds, val_ds)
        with open(metrics, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(history[-1]))
            writer.writeheader()
            writer.writerows(history)
    pruned.compile(loss=model.loss, metrics=["accuracy"])  # the dense model's loss (logits or not)
    accuracy = pruned.evaluate(val_ds, verbose=0, return_dict=True)["accuracy"]

    out = config.run_dir
    figures.plot_weight_histograms(before, _kernels(pruned), os.path.join(out, "weights_before_after.png"))
    figures.plot_layer_sparsity(magnitude.sparsity(pruned), os.path.join(out, "layer_sparsity.png"),
                                title=f"{config.method} pruning of {config.model}")
    report = csr.to_csr(pruned, os.path.join(out, "weights_csr.npz"))
    report.to_csv(os.path.join(out, "csr_report.csv"))
    print(report, flush=True)
    export.save(pruned, os.path.join(out, "saved_model"), portable=True)
    nonzeros, params = count_nonzeros(pruned.weights)
    summary = {"method": config.method, "block_size": config.block_size, "model": config.model,
               "dataset": config.dataset, "params": params, "nonzeros": nonzeros,
               "compression": params / nonzeros,
               "dense_accuracy": float(dense_accuracy), "pruned_accuracy": float(accuracy),
               "dense_bytes": report.dense_bytes, "csr_file_bytes": report.file_bytes,
               "csr_file_ratio": report.file_ratio,
               "units_after_surgery": _units_after_surgery(pruned),
               "layer_sparsity": magnitude.sparsity(pruned)}
    if config.block_size > 1:
        summary["tflite_float"] = _served_float(config, model, pruned)
    if config.quantize != "none":
        summary.update(_quantized(config, model, pruned, train_ds, val_ds))
    with open(os.path.join(out, SUMMARY), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


def _served_float(config: PruneConfig, dense: keras.Model, pruned: keras.Model) -> dict:
    """The block-pruned model's float32 TFLite file (model.tflite, sparse weights kept): how many
    FULLY_CONNECTED weights it serves sparse (`serving.fully_connected_weights`), and batch-1
    Interpreter latencies (1 thread, the faster of XNNPACK on and off) of it and of the dense
    model's file, timed in turn in this process (the fastest of 10 short samples each)."""
    from tfcompress import serving
    from tfcompress.reports.tflite import latencies_us
    path = export.save(pruned, os.path.join(config.run_dir, "model.tflite"), format="tflite")
    with open(path, "rb") as f:
        flatbuffer = f.read()
    timed = latencies_us({"sparse": flatbuffer, "dense": export.to_tflite(dense)}, trials=10,
                         min_seconds=0.02, xnnpack=None, summary=min)
    return {"fully_connected_weights": serving.fully_connected_weights(flatbuffer),
            "latency_us": timed["sparse"], "dense_latency_us": timed["dense"],
            "speedup": timed["dense"] / timed["sparse"]}


def _quantized(config: PruneConfig, dense: keras.Model, pruned: keras.Model, train_ds, val_ds) -> dict:
    """int8 TFLite file of the pruned model (model_int8.tflite): post-training, or after
    `qat_epochs` of pruning-preserving QAT; its size (raw, gzipped) and accuracy in the
    Interpreter, and, measured in this process, the dense model's float32 TFLite file and the
    batch-1 Interpreter latencies (1 thread) of both."""
    import gzip

    from tfcompress import quantize
    from tfcompress.reports.tflite import latency_us
    dense_file = export.to_tflite(dense)
    model = pruned
    if config.quantize == "qat":
        model = quantize.quantize_model(pruned, preserve_sparsity=True)
        model.compile(optimizer=keras.optimizers.SGD(config.finetune_lr, momentum=0.9),
                      loss=pruned.loss, metrics=["accuracy"])
        model.fit(train_ds, epochs=config.qat_epochs, verbose=0)
    path = export.save(model, os.path.join(config.run_dir, "model_int8.tflite"), format="tflite",
                       quantize="int8", representative_data=train_ds.map(lambda x, y: x))
    x, y = map(np.concatenate, zip(*val_ds.as_numpy_iterator()))
    accuracy = float(np.mean(np.argmax(export.tflite_predict(path, x), -1) == y))
    with open(path, "rb") as f:
        raw = f.read()
    dense_gzip = len(gzip.compress(dense_file, 9))
    return {"quantize": config.quantize, "tflite_int8_bytes": len(raw),
            "tflite_int8_gzip_bytes": len(gzip.compress(raw, 9)), "tflite_int8_accuracy": accuracy,
            "tflite_dense_float_bytes": len(dense_file), "tflite_dense_float_gzip_bytes": dense_gzip,
            "tflite_gzip_ratio": dense_gzip / len(gzip.compress(raw, 9)),
            "dense_float_latency_us": latency_us(dense_file), "int8_latency_us": latency_us(raw)}


def _units_after_surgery(model: keras.Model) -> dict[str, int] | None:
    """Units per layer once dead neurons are removed; None (said once) where surgery cannot
    rebuild the model (batch normalisation, residual connections)."""
    try:
        smaller = surgery.remove_dead_neurons(model)
    except surgery.UnsupportedModelError as error:
        print(f"dead-neuron removal skipped: {error}", flush=True)
        return None
    return {layer.name: int(layer.kernel.shape[-1]) for layer in smaller.layers
            if hasattr(layer, "kernel")}


def table(run_dirs: list[str]) -> str:
    """The README table (Markdown) of the summary.json of each run directory."""
    lines = ["| method | model | non-zeros | compression | accuracy before | accuracy after | "
             "CSR bytes (dense bytes) |", "|---|---|---|---|---|---|---|"]
    for run_dir in run_dirs:
        path = os.path.join(run_dir, SUMMARY)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path!r} not found: run bin/prune.py with --run_dir={run_dir} first")
        with open(path) as f:
            s = json.load(f)
        block = s.get("block_size", 1)  # summaries written before --block_size have none
        method = s["method"] + (f", 1x{block} blocks" if block > 1 else "")
        lines.append(f"| {method} | {s['model']} | {s['nonzeros']:,}/{s['params']:,} | "
                     f"{s['compression']:.1f}x | {100 * s['dense_accuracy']:.2f}% | "
                     f"{100 * s['pruned_accuracy']:.2f}% | {s['csr_file_bytes']:,} "
                     f"({s['dense_bytes']:,}, {s['csr_file_ratio']:.1f}x) |")
    return "\n".join(lines)
