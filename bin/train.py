#!/usr/bin/env python3
"""Train a model with one of tfcompress's techniques: `bin/train.py --flagfile=configs/demo.flags`."""
import dataclasses

from absl import app, flags

from tfcompress import cli
from tfcompress.training import config as cfg

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "lenet5", "Model name (see tfcompress.models.names()).")
flags.DEFINE_string("model_args", "", "Extra model arguments, key=value,... (e.g. depth=28,widen_factor=2).")
flags.DEFINE_string("dataset", "digits", "digits (default, bundled), mnist, cifar10, cifar100, "
                    "imagenet2012, ucr:<Name>, video:<file>.")
flags.DEFINE_string("data_dir", None, "tfds data_dir, UCR archive root or video directory.")
flags.DEFINE_string("labels", None, "Labels CSV for video:<file> datasets.")
flags.DEFINE_integer("image_size", None, "Resize images to this size (e.g. 28 or 32 for digits).")
flags.DEFINE_integer("channels", None, "Repeat grey images to this many channels (3 for CIFAR models).")
flags.DEFINE_integer("limit", None, "Use only the first N examples of each split (smoke runs).")
flags.DEFINE_bool("augment", False, "Standard augmentation for the dataset.")
flags.DEFINE_integer("epochs", 10, "Epochs to train in total (a resumed run continues up to it).")
flags.DEFINE_integer("batch_size", 64, "Global batch size.")
flags.DEFINE_enum("optimizer", "momentum", list(cfg.OPTIMIZERS), "Optimizer.")
flags.DEFINE_float("lr", 0.01, "Initial learning rate.")
flags.DEFINE_float("momentum", 0.9, "Momentum for --optimizer=momentum.")
flags.DEFINE_enum("lr_schedule", "constant", list(cfg.LR_SCHEDULES),
                  "constant; step (x0.1 at 50% and 75%); cosine; plateau (ReduceLROnPlateau on val_loss).")
flags.DEFINE_float("weight_decay", 0.0, "L2 weight decay of conv and dense kernels.")
flags.DEFINE_integer("seed", 0, "Random seed (weights, data order, augmentation).")
flags.DEFINE_bool("deterministic", True, "Deterministic TensorFlow ops (exact --resume).")
flags.DEFINE_string("run_dir", "runs/default", "Where flags, metrics, checkpoints and the SavedModel go.")
flags.DEFINE_bool("resume", False, "Continue the run in --run_dir from its last good checkpoint.")
flags.DEFINE_enum("strategy", "default", list(cfg.STRATEGIES),
                  "tf.distribute strategy; multi_worker reads TF_CONFIG.")
flags.DEFINE_integer("cpu_replicas", None, "With --strategy=mirrored and no GPU: split the CPU "
                     "into this many logical devices.")
flags.DEFINE_enum("conv", "standard", list(cfg.CONVS), "Convolution of the model: standard, "
                  "spectral (band-limited FFT convolution) or hebbian (co-activation rewiring).")
flags.DEFINE_float("compress_rate", 0.0, "Spectral conv: fraction of the spectrum dropped, in [0, 1).")
flags.DEFINE_float("preserve_energy", None, "Spectral conv: keep this % of spectral energy instead.")
flags.DEFINE_enum("fft_size", "minimal", list(cfg.FFT_SIZES), "Spectral conv: the FFT grid, "
                  "input + the larger pad (minimal) or the linear-convolution size (linear, the "
                  "paper's); both equal Conv at rate 0.")
flags.DEFINE_enum("sparse", "none", list(cfg.SPARSE), "Sparse training: static, set, deepr, dsr, "
                  "rigl (masks rewired every --update_every steps) or tied (HashedNet weights).")
flags.DEFINE_float("sparsity", None, "Sparsity of the sparsified layers for --sparse_distribution="
                   "uniform|erk, and 1 - compression for --sparse=tied.")
flags.DEFINE_enum("sparse_distribution", "per_kind", list(cfg.SPARSE_DISTRIBUTIONS),
                  "Initial sparsity per layer: uniform, erk, or per_kind (conv/fc flags below).")
flags.DEFINE_float("initial_sparsity_conv", 0.5, "per_kind: initial sparsity of conv kernels.")
flags.DEFINE_float("initial_sparsity_fc", 0.98, "per_kind: initial sparsity of dense kernels.")
flags.DEFINE_string("keep_dense", "first,last", "Kernel layers left dense: first, last and/or names.")
flags.DEFINE_integer("update_every", 100, "Steps between mask updates.")
flags.DEFINE_integer("n_prune_params", 600, "DSR: target number of weights pruned per update.")
flags.DEFINE_float("rewire_fraction", 0.3, "SET/RigL: fraction of each layer rewired per update "
                   "(RigL: at the first, decaying by a cosine to 0 at --stop_rewire_epoch).")
flags.DEFINE_integer("stop_rewire_epoch", None, "Stop rewiring after this epoch (None: never).")
flags.DEFINE_bool("sub_kernel_granularity", False, "Sparsity per weight; without it conv masks "
                  "keep or drop whole kh x kw kernels.")
flags.DEFINE_bool("big_new_weights", False, "Regrown weights drawn from the initializer, not zero.")
flags.DEFINE_float("hebbian_k1", 0.10, "--conv=hebbian: fraction of each (c, f) kernel slice "
                   "kept (the strongest connections).")
flags.DEFINE_float("hebbian_k2", 0.15, "--conv=hebbian: ranks k1..k2 of each slice are "
                   "re-initialised; the rest are cut.")
flags.DEFINE_integer("hebbian_accumulate_every", 20, "--conv=hebbian: steps between co-activation "
                     "strength updates.")
flags.DEFINE_integer("hebbian_rewire_every", 200, "--conv=hebbian: steps between rewirings.")
flags.DEFINE_bool("export", True, "Write a SavedModel to <run_dir>/saved_model at the end.")
flags.DEFINE_integer("verbose", 2, "Keras fit verbosity (2: one line per epoch).")


def main(argv):
    """Validate every flag, then train."""
    del argv
    names = {f.name for f in dataclasses.fields(cfg.TrainConfig)} - {"model_args"}
    try:
        config = cfg.TrainConfig(model_args=cfg.parse_model_args(FLAGS.model_args),
                                 **{name: FLAGS[name].value for name in names}).validate()
    except (ValueError, FileNotFoundError) as error:
        raise app.UsageError(str(error))
    if FLAGS.cpu_replicas:
        from tfcompress.training.strategy import split_cpu
        split_cpu(FLAGS.cpu_replicas)
    from tfcompress import training
    result = training.train(config, flags_text=FLAGS.flags_into_string())
    if result.history:
        last = result.history[-1]
        print("final: " + ", ".join(f"{k}={v:.4f}" for k, v in last.items() if k != "epoch"))


if __name__ == "__main__":
    cli.run(main)
