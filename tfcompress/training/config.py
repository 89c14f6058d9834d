"""TrainConfig: every setting of a training run, validated before any work starts."""
from __future__ import annotations

import dataclasses
import json
import os

OPTIMIZERS = ("sgd", "momentum", "adam")
LR_SCHEDULES = ("constant", "step", "cosine", "plateau")
STRATEGIES = ("default", "mirrored", "multi_worker")
CONVS = ("standard", "spectral", "hebbian")
# tfcompress.spectral.plan.FFT_SIZES (a test checks they agree), not imported: this module
# validates flags before TensorFlow is loaded.
FFT_SIZES = ("minimal", "linear")
SPARSE = ("none", "static", "set", "deepr", "dsr", "rigl", "tied")
SPARSE_DISTRIBUTIONS = ("uniform", "erk", "per_kind")


@dataclasses.dataclass
class TrainConfig:
    """Settings of one run; field names match the flags of `bin/train.py`."""

    model: str = "lenet5"
    dataset: str = "digits"
    data_dir: str | None = None
    labels: str | None = None
    image_size: int | None = None
    channels: int | None = None
    limit: int | None = None
    augment: bool = False
    model_args: dict = dataclasses.field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "momentum"
    lr: float = 0.01
    momentum: float = 0.9
    lr_schedule: str = "constant"
    weight_decay: float = 0.0
    seed: int = 0
    deterministic: bool = True
    run_dir: str = "runs/default"
    resume: bool = False
    strategy: str = "default"
    conv: str = "standard"
    compress_rate: float = 0.0
    preserve_energy: float | None = None
    fft_size: str = "minimal"
    export: bool = True
    verbose: int = 2
    # Sparse training (tfcompress.sparse); names of the DSR seed's flags.
    sparse: str = "none"
    sparsity: float | None = None
    sparse_distribution: str = "per_kind"
    initial_sparsity_conv: float = 0.5
    initial_sparsity_fc: float = 0.98
    keep_dense: str = "first,last"
    update_every: int = 100
    n_prune_params: int = 600
    rewire_fraction: float = 0.3
    stop_rewire_epoch: int | None = None
    sub_kernel_granularity: bool = False
    big_new_weights: bool = False
    # Hebbian sparse convolution (--conv=hebbian); defaults are the layer's (the seed's).
    hebbian_k1: float = 0.10
    hebbian_k2: float = 0.15
    hebbian_accumulate_every: int = 20
    hebbian_rewire_every: int = 200

    def validate(self) -> "TrainConfig":
        """Raise ValueError naming the first bad setting; return self when all are valid."""
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _choice("strategy", self.strategy, STRATEGIES)
        _choice("conv", self.conv, CONVS)
        _positive("epochs", self.epochs)
        _positive("batch_size", self.batch_size)
        _positive("lr", self.lr)
        if self.limit is not None:
            _positive("limit", self.limit)
        if self.image_size is not None:
            _positive("image_size", self.image_size)
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"--momentum must be in [0, 1), got {self.momentum}")
        if self.weight_decay < 0:
            raise ValueError(f"--weight_decay must be >= 0, got {self.weight_decay}")
        if not 0.0 <= self.compress_rate < 1.0:
            raise ValueError(f"--compress_rate must be in [0, 1), got {self.compress_rate}")
        if self.preserve_energy is not None and not 0.0 < self.preserve_energy <= 100.0:
            raise ValueError(f"--preserve_energy must be in (0, 100], got {self.preserve_energy}")
        _choice("fft_size", self.fft_size, FFT_SIZES)
        if self.conv != "spectral" and (self.compress_rate or self.preserve_energy):
            raise ValueError("--compress_rate/--preserve_energy need --conv=spectral "
                             f"(got --conv={self.conv})")
        self._validate_sparse()
        self._validate_hebbian()
        if self.data_dir is not None and not os.path.isdir(self.data_dir):
            raise FileNotFoundError(f"--data_dir {self.data_dir!r} is not a directory")
        if self.strategy == "multi_worker" and "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy=multi_worker needs the TF_CONFIG environment variable "
                             "(cluster spec and this worker's task); it is not set")
        return self

    def _validate_hebbian(self) -> None:
        if not 0.0 < self.hebbian_k1 <= self.hebbian_k2 <= 1.0:
            raise ValueError(f"--hebbian_k1/--hebbian_k2 need 0 < k1 <= k2 <= 1, got "
                             f"{self.hebbian_k1}/{self.hebbian_k2}")
        _positive("hebbian_accumulate_every", self.hebbian_accumulate_every)
        if self.hebbian_rewire_every < self.hebbian_accumulate_every:
            raise ValueError(f"--hebbian_rewire_every must be >= --hebbian_accumulate_every "
                             f"({self.hebbian_accumulate_every}), got {self.hebbian_rewire_every}")
        changed = [f"--{field.name}" for field in dataclasses.fields(self)
                   if field.name.startswith("hebbian_") and
                   getattr(self, field.name) != field.default]
        if changed and self.conv != "hebbian":
            raise ValueError(f"{', '.join(changed)} need --conv=hebbian (got --conv={self.conv})")
        if self.conv == "hebbian" and self.sparse != "none":
            raise ValueError(f"--conv=hebbian rewires its own masks; it cannot be combined with "
                             f"--sparse={self.sparse}")

    def _validate_sparse(self) -> None:
        _choice("sparse", self.sparse, SPARSE)
        _choice("sparse_distribution", self.sparse_distribution, SPARSE_DISTRIBUTIONS)
        for flag in ("initial_sparsity_conv", "initial_sparsity_fc"):
            if not 0.0 <= getattr(self, flag) < 1.0:
                raise ValueError(f"--{flag} must be in [0, 1), got {getattr(self, flag)}")
        if self.sparsity is not None and not 0.0 <= self.sparsity < 1.0:
            raise ValueError(f"--sparsity must be in [0, 1), got {self.sparsity}")
        needs_sparsity = self.sparse == "tied" or self.sparse_distribution != "per_kind"
        if self.sparse != "none" and needs_sparsity and self.sparsity is None:
            raise ValueError(f"--sparse={self.sparse} with --sparse_distribution="
                             f"{self.sparse_distribution} needs --sparsity")
        _positive("update_every", self.update_every)
        _positive("n_prune_params", self.n_prune_params)
        if not 0.0 < self.rewire_fraction < 1.0:
            raise ValueError(f"--rewire_fraction must be in (0, 1), got {self.rewire_fraction}")
        if self.stop_rewire_epoch is not None and self.stop_rewire_epoch < 0:
            raise ValueError(f"--stop_rewire_epoch must be >= 0, got {self.stop_rewire_epoch}")

    def to_json(self) -> str:
        """The settings as JSON (written to the run directory)."""
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        """Settings written by `to_json`, renamed settings read under their new name; unknown keys
        are an error. A spectral run written before `fft_size` existed reads "linear", its grid."""
        values = json.loads(text)
        for old, new in RENAMED.items():
            if old in values:
                values[new] = values.pop(old)
        if values.get("conv") == "spectral" and "fft_size" not in values:
            values["fft_size"] = "linear"  # the only FFT grid before --fft_size existed
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown settings {unknown} in run config; expected a subset of {sorted(names)}")
        return cls(**values)


# Settings renamed since runs were first written: old name -> new name.
RENAMED = {"hebbian_update_every": "hebbian_accumulate_every"}


def parse_model_args(text: str) -> dict:
    """Parse `key=value,key=value` (values as int, float, bool or str) for `--model_args`."""
    args = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        if "=" not in item:
            raise ValueError(f"--model_args item {item!r} is not key=value")
        key, value = (s.strip() for s in item.split("=", 1))
        args[key] = _literal(value)
    return args


def _literal(value: str):
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _choice(flag: str, value: str, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"--{flag} must be one of {', '.join(choices)}; got {value!r}")


def _positive(flag: str, value) -> None:
    if value is None or value <= 0:
        raise ValueError(f"--{flag} must be > 0, got {value}")
