"""`run(ReportConfig)`: every technique on one model and dataset, side by side, in `reports/<name>/`.

Files: summary.csv (every variant, means over seeds), seeds.csv (every seed),
summary.md (the headline variants' table), the figures (PNG) and index.html.
"""
from __future__ import annotations

import dataclasses
import math
import os
import statistics
import time

from tfcompress import training
from tfcompress.reports import figures, page, tflite
from tfcompress.reports.variants import (BUDGETS, HEADLINE_SPARSITY, NEEDS_DENSE, SPARSE_SETTING,
                                         TECHNIQUES, Budget, Context, Variant, run_variant)

SWEPT = {"spectral": "compress_rates", "folded": "folds",
         **{t: "sparsities" for t in SPARSE_SETTING}}
MEASURES = ("params", "nonzeros", "dense_bytes", "csr_bytes", "train_flops", "inference_flops",
            "throughput", "wall_s")
# TFLite measures (tfcompress.reports.tflite); runs measured before they existed lack them.
TFLITE_MEASURES = ("tflite_bytes", "tflite_gzip_bytes", "int8_bytes", "int8_gzip_bytes",
                   "int8_accuracy", "latency_us", "int8_latency_us")


@dataclasses.dataclass
class ReportConfig:
    """Settings of one report; names match the flags of `bin/report.py`."""

    model: str = "lenet5"
    dataset: str = "digits"
    data_dir: str | None = None
    labels: str | None = None
    image_size: int | None = None
    channels: int | None = None
    model_args: dict = dataclasses.field(default_factory=dict)
    techniques: tuple[str, ...] = tuple(TECHNIQUES)
    budget: str = "smoke"
    seeds: int = 1
    epochs: int | None = None
    limit: int | None = None
    batch_size: int = 64
    lr: float = 0.05
    compress_rate: float = 0.5
    sparsity: float = 0.9
    keep_dense: str = "first,last"
    name: str | None = None
    runs_dir: str = "runs"
    out_dir: str = "reports"
    tflite: bool = True

    def validate(self) -> "ReportConfig":
        """Raise ValueError naming the first bad setting; return self when all are valid."""
        unknown = [t for t in self.techniques if t not in TECHNIQUES]
        if unknown or not self.techniques:
            raise ValueError(f"--techniques {','.join(self.techniques)!r}: expected a comma-"
                             f"separated subset of {','.join(TECHNIQUES)}")
        if self.budget not in BUDGETS:
            raise ValueError(f"--budget must be one of {', '.join(BUDGETS)}; got {self.budget!r}")
        if self.seeds < 1:
            raise ValueError(f"--seeds must be >= 1, got {self.seeds}")
        if not 0.0 <= self.compress_rate < 1.0:
            raise ValueError(f"--compress_rate must be in [0, 1), got {self.compress_rate}")
        if not 0.0 < self.sparsity < 1.0:
            raise ValueError(f"--sparsity must be in (0, 1), got {self.sparsity}")
        self.base().validate()
        return self

    @property
    def report_name(self) -> str:
        """`--name`, or `<model>_<dataset>_<budget>`."""
        return self.name or f"{self.model}_{self.dataset.replace(':', '_')}_{self.budget}"

    def sizes(self) -> Budget:
        """The budget, with `--epochs`/`--limit` when given."""
        budget = BUDGETS[self.budget]
        return dataclasses.replace(budget, epochs=self.epochs or budget.epochs,
                                   limit=self.limit if self.limit is not None else budget.limit)

    def base(self) -> training.TrainConfig:
        """The training settings every technique starts from (the dense run's)."""
        budget = self.sizes()
        return training.TrainConfig(
            model=self.model, model_args=self.model_args, dataset=self.dataset,
            data_dir=self.data_dir, labels=self.labels, image_size=self.image_size,
            channels=self.channels, limit=budget.limit, epochs=budget.epochs,
            batch_size=self.batch_size, optimizer="momentum", lr=self.lr, lr_schedule="cosine",
            keep_dense=self.keep_dense, export=False, verbose=0)

    def variants(self) -> list[Variant]:
        """Every variant to run, dense first when a requested technique starts from it."""
        techniques = list(self.techniques)
        if "dense" not in techniques and any(t in NEEDS_DENSE for t in techniques):
            techniques.insert(0, "dense")
        budget = self.sizes()
        headline = self._headline_settings()
        found = []
        for technique in sorted(techniques, key=lambda t: t != "dense"):
            settings = set(getattr(budget, SWEPT[technique])) if technique in SWEPT else set()
            if technique in headline:
                settings.add(headline[technique])
            found += [Variant(technique, s) for s in sorted(settings)] or [Variant(technique)]
        return found

    def headline(self, variant: Variant) -> bool:
        """Whether `variant` goes in the Markdown table (the others are in summary.csv and figures)."""
        return self._headline_settings().get(variant.technique, variant.setting) == variant.setting

    def _headline_settings(self) -> dict:
        return {"spectral": self.compress_rate,
                **{t: self.sparsity for t in (*SPARSE_SETTING, *HEADLINE_SPARSITY)}}


def _aggregate(variant: Variant, outcomes: list[dict], dense_params: int | None,
               dense_row: dict | None = None) -> dict:
    accuracies = [o["accuracy"] for o in outcomes]
    row = {"label": variant.label, "technique": variant.technique, "setting": variant.setting,
           "seeds": len(outcomes), "accuracy_mean": statistics.fmean(accuracies),
           "accuracy_std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0}
    row.update({m: statistics.fmean(o[m] for o in outcomes) for m in MEASURES})
    row["sparsity"] = 1.0 - row["nonzeros"] / row["params"]
    row["compression"] = (dense_params or row["params"]) / row["nonzeros"]
    row.update({m: statistics.fmean(o.get(m, math.nan) for o in outcomes) for m in TFLITE_MEASURES})
    dense_row = dense_row or row
    # The size ratio: dense float32 TFLite (gzipped) over this variant's int8 (gzipped);
    # latency: the dense model's batch-1 latency over this variant's, in the same run.
    row["int8_size_ratio"] = dense_row["tflite_gzip_bytes"] / row["int8_gzip_bytes"]
    row["float_speedup"] = dense_row["latency_us"] / row["latency_us"]
    row["int8_speedup"] = dense_row["int8_latency_us"] / row["int8_latency_us"]
    return row


def run(config: ReportConfig) -> str:
    """Train or reuse every variant and seed, then write the report; return its directory."""
    config.validate()
    out_dir = os.path.join(config.out_dir, config.report_name)
    os.makedirs(out_dir, exist_ok=True)
    base = config.base()
    context = Context(base=base, budget=config.sizes(),
                      runs_dir=os.path.join(config.runs_dir, config.report_name),
                      info=training.loop.describe_data(base), tflite=config.tflite)
    variants = config.variants()
    outcomes: dict[Variant, list[dict]] = {v: [] for v in variants}
    total = len(variants) * config.seeds
    start = time.perf_counter()
    for seed in range(config.seeds):
        dense = None
        for variant in variants:
            done = sum(len(o) for o in outcomes.values())
            print(f"[{done + 1}/{total}] {variant.label} seed {seed} "
                  f"({time.perf_counter() - start:.0f}s so far)", flush=True)
            outcome = run_variant(context, variant, seed, dense)
            if variant.technique == "dense":
                dense = outcome
            outcomes[variant].append(outcome)
            print(f"    accuracy {outcome['accuracy']:.4f}, {outcome['nonzeros']:,} non-zeros, "
                  f"{outcome['wall_s']:.0f}s", flush=True)

    if config.tflite:
        _time_tflite_files(context, outcomes)
    seed_rows = [{"label": variant.label, "seed": seed,
                  **{k: v for k, v in outcomes[variant][seed].items() if not isinstance(v, dict)}}
                 for seed in range(config.seeds) for variant in variants]
    dense_params = outcomes[variants[0]][0]["params"] if variants[0].technique == "dense" else None
    rows = [_aggregate(variants[0], outcomes[variants[0]], dense_params)]
    dense_row = rows[0] if variants[0].technique == "dense" else None
    rows += [_aggregate(v, outcomes[v], dense_params, dense_row) for v in variants[1:]]
    headline = [row for v, row in zip(variants, rows) if config.headline(v)]
    page.write_csv(rows, os.path.join(out_dir, "summary.csv"))
    page.write_csv(seed_rows, os.path.join(out_dir, "seeds.csv"))
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(page.markdown(headline))
    drawn = _figures(config, variants, outcomes, rows, out_dir)
    notes = _notes(config, context)
    with open(os.path.join(out_dir, "index.html"), "w") as f:
        f.write(page.index_html(f"tfcompress report: {config.model} on {config.dataset} "
                                f"({config.budget})", notes, headline, drawn))
    print(page.markdown(headline))
    print(f"wrote {out_dir}/index.html ({time.perf_counter() - start:.0f}s)", flush=True)
    return out_dir


def _time_tflite_files(context: Context, outcomes: dict[Variant, list[dict]]) -> None:
    """Batch-1 latencies (1 thread) of every variant's saved TFLite files (`tflite.FILES` in its
    run directory), all timed in turn in this process, the fastest of 15 short samples each
    (`tflite.latencies_us`), into `outcomes`: float32 the faster of XNNPACK on and off, int8
    XNNPACK. Outcomes whose run has no files (measured before they were saved) keep the
    latencies measured then."""
    runs = {(variant, seed): context.run_dir(variant, seed)
            for variant, found in outcomes.items() for seed in range(len(found))}
    print(f"timing the TFLite files of {len(runs)} runs in turn", flush=True)
    for key, name, xnnpack in (("latency_us", tflite.FILES[0], None),
                               ("int8_latency_us", tflite.FILES[1], True)):
        files = {run: os.path.join(run_dir, name) for run, run_dir in runs.items()
                 if os.path.exists(os.path.join(run_dir, name))}
        timed = tflite.latencies_us(files, trials=15, min_seconds=0.02, xnnpack=xnnpack, summary=min)
        for (variant, seed), microseconds in timed.items():
            outcomes[variant][seed][key] = microseconds


def _first(outcomes: dict[Variant, list[dict]], technique: str, setting=None) -> dict | None:
    for variant, found in outcomes.items():
        if variant.technique == technique and setting in (None, variant.setting):
            return found[0]
    return None


def _figures(config: ReportConfig, variants: list[Variant], outcomes: dict[Variant, list[dict]],
             rows: list[dict], out_dir: str) -> dict[str, str]:
    """Draw every figure the requested techniques allow; return {file name: caption}."""
    curves = {f"f={v.setting or 1}": outcomes[v][0]["throughput_curve"] for v in variants
              if v.technique in ("dense", "folded")}
    planned = {
        "accuracy_vs_compress_rate.png": (
            "Band-limited convolution: accuracy vs compress rate",
            lambda p: figures.accuracy_vs_compress_rate(rows, p)),
        "accuracy_vs_sparsity.png": (
            "Accuracy vs sparsity for each sparse method",
            lambda p: figures.accuracy_vs_sparsity(rows, p)),
        "dsr_layer_sparsity.png": (
            f"Per-layer sparsity after DSR's re-allocation (sparsity {config.sparsity})",
            lambda p: figures.layer_sparsity(_first(outcomes, "dsr", config.sparsity), p,
                                             f"DSR re-allocation, {config.model}")),
        "threshold_weight_histograms.png": (
            "Weights before/after std-threshold pruning",
            lambda p: figures.copied((_first(outcomes, "threshold") or {}).get("histograms"), p)),
        "tflite_size_vs_accuracy.png": (
            "int8 TFLite file size (gzipped) vs accuracy in the Interpreter, one point per variant",
            lambda p: figures.size_vs_accuracy(rows, p)),
        "fold_throughput.png": (
            "FoldedCNN throughput vs batch size (CPU)",
            lambda p: figures.throughput_vs_batch(curves, p)),
    }
    drawn = {}
    for name, (caption, draw) in planned.items():
        if draw(os.path.join(out_dir, name)):
            drawn[name] = caption
    return drawn


def _notes(config: ReportConfig, context: Context) -> list[str]:
    budget = context.budget
    return [
        f"{budget.epochs} epochs on {context.train_size()} training examples, batch "
        f"{config.batch_size}, SGD momentum 0.9, lr {config.lr} (cosine); accuracy on the test "
        f"split, mean ± std over {config.seeds} seed(s).",
        "non-zero params and bytes count every weight of the inference model (sparse models "
        "stripped, zeros in place); CSR bytes: the .npz written by tfcompress.pruning.to_csr.",
        "FLOPs from TensorFlow's profiler at batch 1, times each kernel's density; spectral layers "
        "count their FFTs and kept products; training FLOPs = 3 x forward x examples seen, plus "
        "the dense run that pruning and folding start from.",
        f"images/s: inference at batch {budget.table_batch} on this machine's CPU, median of "
        f"{budget.trials} trials (folded: images, not inputs).",
        "TFLite batch-1 latency: tf.lite.Interpreter, 1 thread (float32: the faster of XNNPACK "
        "on and off; int8: XNNPACK), every variant's file timed in turn in one process, fastest "
        "of 15 samples, against the dense model's file; only Dense kernels pruned in 1x4 blocks "
        "(tfmot_block4) run a sparse kernel, other sparse weights are densified at load.",
    ]
