"""`train(config)`: one resumable, distributable training run that writes `runs/<name>/`."""
from __future__ import annotations

import dataclasses
import math
import os
import tempfile
from collections.abc import Sequence

import tensorflow as tf
import tf_keras as keras

from tfcompress import data as tfc_data
from tfcompress import export, models, reports
from tfcompress.sparse import training as sparse_training
from tfcompress.training import checkpoints, epochs, optim, strategy as strategies
from tfcompress.training.config import TrainConfig
from tfcompress.training.guards import NonFiniteLossGuard

CONFIG_FILE = "config.json"
# Training sets up to this size (as float32) are cached in memory after the first epoch.
CACHE_BYTES = 2 << 30
# Settings that may change between a run and its resumption.
RESUMABLE_CHANGES = {"epochs", "resume", "verbose", "export"}


class RunDirError(Exception):
    """The run directory holds another run, or a run with other settings."""


@dataclasses.dataclass
class TrainResult:
    """What a run produced: the trained model, its metrics per epoch, and where files went."""

    model: keras.Model
    history: list[dict]
    run_dir: str
    saved_model: str | None


def describe_data(config: TrainConfig) -> tfc_data.DatasetInfo:
    """Shape and classes of the run's dataset."""
    return tfc_data.describe(config.dataset, data_dir=config.data_dir, image_size=config.image_size,
                             labels=config.labels, channels=config.channels)


def conv_layer_for(config: TrainConfig, rank: int):
    """The convolution factory that `--conv` selects (None: the model's plain Conv layers)."""
    if config.conv == "spectral":
        from tfcompress.spectral.layers import conv_factory
        return conv_factory(rank, compress_rate=config.compress_rate,
                            preserve_energy=config.preserve_energy, fft_size=config.fft_size)
    if config.conv == "hebbian":
        if rank != 2:
            raise ValueError(f"--conv=hebbian has only a 2-D layer; {config.model} on "
                             f"{config.dataset} needs {rank}-D convolutions")
        from tfcompress.hebbian import conv_factory
        return conv_factory(k1=config.hebbian_k1, k2=config.hebbian_k2,
                            accumulate_every=config.hebbian_accumulate_every,
                            rewire_every=config.hebbian_rewire_every, seed=config.seed)
    return None


def _hebbian_rewiring() -> keras.callbacks.Callback:
    """The callback that rewires HebbianSparseConv2D layers (`--conv=hebbian`)."""
    from tfcompress.hebbian import HebbianRewiring
    return HebbianRewiring()


def build_model(config: TrainConfig, info: tfc_data.DatasetInfo) -> keras.Model:
    """The run's model, compiled with its optimizer, loss and accuracy."""
    rank = len(info.input_shape) - 1
    model = models.build(config.model, info.input_shape, info.num_classes,
                         conv_layer=conv_layer_for(config, rank),
                         weight_decay=config.weight_decay, **config.model_args)
    model = sparse_training.sparse_model(config, model)
    steps = epochs.steps_per_epoch(_train_size(config, info), config.batch_size)
    model.compile(optimizer=optim.make_optimizer(config, steps),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=_emits_logits(model)),
                  metrics=["accuracy"])
    return model


def resuming(config: TrainConfig, run_dir: str) -> TrainConfig:
    """`config` writing to `run_dir`, resuming the run already there (`train` only reads a finished one back)."""
    return dataclasses.replace(config, run_dir=run_dir, resume=os.path.exists(os.path.join(run_dir, CONFIG_FILE)))


def train(config: TrainConfig, flags_text: str | None = None,
          callbacks: Sequence[keras.callbacks.Callback] = ()) -> TrainResult:
    """Train as `config` says, resuming from `run_dir` with `config.resume`.

    `callbacks` are the caller's own Keras callbacks, run before the epoch checkpoint.

    Files (chief worker only): config.json, flags.txt (`flags_text`), metrics.csv, tensorboard/,
    checkpoints/, learning_curves.png, saved_model/.
    """
    config.validate()
    info = describe_data(config)  # missing data fails here, before the run directory is written
    _prepare_run_dir(config, flags_text)
    epochs.seed_everything(config.seed)
    keras.backend.experimental.enable_tf_random_generator()
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()

    strategy = strategies.make_strategy(config.strategy)
    chief = strategies.is_chief()
    out_dir = config.run_dir if chief else tempfile.mkdtemp(prefix="tfcompress_worker_")
    with strategy.scope():
        model = build_model(config, info)
        rewiring = sparse_training.dynamic_sparsity(
            config, epochs.steps_per_epoch(_train_size(config, info), config.batch_size))
        ckpt = checkpoints.EpochCheckpoint(os.path.join(config.run_dir, "checkpoints"), model,
                                           extra=rewiring.state() if rewiring else None)
        first_epoch = ckpt.restore_latest() if config.resume else 0
    if first_epoch >= config.epochs:
        print(f"run {config.run_dir} already finished {first_epoch} epochs (--epochs={config.epochs})")
        return _finish(config, model, out_dir, chief)

    examples, augment = tfc_data.examples(config.dataset, "train", data_dir=config.data_dir,
                                          image_size=config.image_size, labels=config.labels,
                                          channels=config.channels, augment=config.augment,
                                          limit=config.limit)
    num_train = _train_size(config, info)
    stream = epochs.epoch_stream(examples, num_train, config.batch_size, config.seed,
                                 first_epoch, config.epochs, augment,
                                 cache=num_train * math.prod(info.input_shape) * 4 <= CACHE_BYTES)
    val = tfc_data.load(config.dataset, "test", data_dir=config.data_dir, batch_size=config.batch_size,
                        image_size=config.image_size, labels=config.labels, channels=config.channels,
                        limit=config.limit)
    guard = NonFiniteLossGuard()
    run_callbacks = [guard, *optim.schedule_callbacks(config), *([rewiring] if rewiring else []),
                     *([_hebbian_rewiring()] if config.conv == "hebbian" else []),
                     *sparse_training.logging_callbacks(config),
                     *reports.metric_callbacks(out_dir, first_epoch), *callbacks, ckpt]
    print(f"training {config.model} on {config.dataset} ({num_train} examples, "
          f"{info.num_classes} classes) for epochs {first_epoch + 1}..{config.epochs} "
          f"with {strategy.num_replicas_in_sync} replica(s); run dir {config.run_dir}", flush=True)
    model.fit(stream, epochs=config.epochs, initial_epoch=first_epoch,
              steps_per_epoch=epochs.steps_per_epoch(num_train, config.batch_size),
              validation_data=val, callbacks=run_callbacks, verbose=config.verbose)
    guard.raise_if_triggered(ckpt.manager.latest_checkpoint)
    return _finish(config, model, out_dir, chief)


def _finish(config: TrainConfig, model: keras.Model, out_dir: str, chief: bool) -> TrainResult:
    metrics = os.path.join(out_dir, reports.METRICS_CSV)
    history = reports.read_metrics(metrics) if os.path.exists(metrics) else []
    saved = None
    if chief and history:
        reports.plot_learning_curves(metrics, os.path.join(out_dir, "learning_curves.png"),
                                     title=f"{config.model} on {config.dataset}")
    if chief and config.export:
        saved = export.save(model, os.path.join(out_dir, "saved_model"))
        print(f"wrote SavedModel {saved}", flush=True)
    return TrainResult(model=model, history=history, run_dir=config.run_dir, saved_model=saved)


def load_run(run_dir: str) -> tuple[keras.Model, TrainConfig]:
    """Rebuild the model of `run_dir` from its config.json and restore its newest good checkpoint."""
    path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path!r} not found: {run_dir!r} is not a tfcompress run directory")
    with open(path) as f:
        config = TrainConfig.from_json(f.read())
    model = build_model(config, describe_data(config))
    ckpt = checkpoints.EpochCheckpoint(os.path.join(run_dir, "checkpoints"), model)
    if ckpt.restore_latest(for_inference=True) == 0:
        raise checkpoints.CheckpointError(f"run {run_dir!r} has no checkpoint to load")
    return model, config


def _prepare_run_dir(config: TrainConfig, flags_text: str | None) -> None:
    """Check the run directory against `config` and write the settings (chief worker only:
    other workers would otherwise race the chief and find its config.json)."""
    if not strategies.is_chief():
        return
    path = os.path.join(config.run_dir, CONFIG_FILE)
    if os.path.exists(path):
        if not config.resume:
            raise RunDirError(f"--run_dir {config.run_dir!r} already holds a run; pass --resume "
                                  "to continue it or choose another --run_dir")
        with open(path) as f:
            saved = dataclasses.asdict(TrainConfig.from_json(f.read()))
        now = dataclasses.asdict(config)
        changed = sorted(k for k in now if k not in RESUMABLE_CHANGES and now[k] != saved[k])
        if changed:
            diff = ", ".join(f"--{k}={now[k]!r} (run has {saved[k]!r})" for k in changed)
            raise RunDirError(f"--resume of {config.run_dir!r} with settings that differ from "
                              f"the run's: {diff}")
    os.makedirs(config.run_dir, exist_ok=True)
    with open(path, "w") as f:
        f.write(config.to_json())
    if flags_text is not None:
        with open(os.path.join(config.run_dir, "flags.txt"), "w") as f:
            f.write(flags_text)


def _train_size(config: TrainConfig, info: tfc_data.DatasetInfo) -> int:
    return min(info.num_train, config.limit) if config.limit else info.num_train


def _emits_logits(model: keras.Model) -> bool:
    activation = getattr(model.layers[-1], "activation", None)
    return activation is not keras.activations.softmax

