#!/usr/bin/env python3
"""Prune a trained model: `bin/prune.py --flagfile=configs/prune_lenet300_threshold.flags`.

`--method=tfmot`: gradual magnitude pruning with tfmot's cubic schedule while training
(`--block_size=4`: Dense kernels in the 1x4 blocks that TFLite serves faster than dense);
`--method=threshold`: Han et al.'s iterative |w| < q*std(w) pruning with fine-tuning by layer
groups. Without `--checkpoint` the dense baseline is trained first (in <run_dir>/baseline).
"""
import dataclasses

from absl import app, flags

from tfcompress import cli

FLAGS = flags.FLAGS
flags.DEFINE_enum("method", "threshold", ["tfmot", "threshold"], "Pruning method.")
flags.DEFINE_string("model", "lenet_300_100", "Model name (see tfcompress.models.names()).")
flags.DEFINE_string("model_args", "", "Extra model arguments, key=value,... (e.g. dropout=0.5).")
flags.DEFINE_string("dataset", "digits", "Dataset name (see tfcompress.data).")
flags.DEFINE_string("data_dir", None, "tfds data_dir for real datasets.")
flags.DEFINE_integer("image_size", 28, "Resize images to this size.")
flags.DEFINE_integer("limit", None, "Use only the first N examples of each split (smoke runs).")
flags.DEFINE_integer("batch_size", 64, "Batch size.")
flags.DEFINE_string("checkpoint", None, "Run directory of bin/train.py holding the dense model; "
                    "absent: train the baseline first.")
flags.DEFINE_integer("baseline_epochs", 10, "Epochs of the dense baseline (without --checkpoint).")
flags.DEFINE_float("lr", 0.05, "Learning rate of the dense baseline (SGD momentum 0.9).")
flags.DEFINE_float("target_sparsity", 0.9, "tfmot: final sparsity, in [0, 1).")
flags.DEFINE_integer("begin_step", 0, "tfmot: step where pruning starts.")
flags.DEFINE_integer("end_step", 1000, "tfmot: step where the final sparsity is reached.")
flags.DEFINE_integer("frequency", 100, "tfmot: prune every this many steps.")
flags.DEFINE_string("layers", "", "tfmot: comma-separated layers to prune (e.g. conv2,fc1,logits); "
                    "empty: every prunable layer.")
flags.DEFINE_integer("block_size", 1, "tfmot: prune Dense kernels in blocks of this many "
                     "inputs of one unit (4: TFLite serves them faster, writes model.tflite; "
                     "convolutions stay unstructured); 1: unstructured.")
flags.DEFINE_integer("epochs", 10, "tfmot: epochs of training while pruning (must pass --end_step).")
flags.DEFINE_string("groups", "", "threshold: layer groups in pruning order, "
                    "e.g. 'conv:conv1,conv2;fc:fc1,logits'.")
flags.DEFINE_float("start_q", 0.5, "threshold: first quality parameter q (prune |w| < q*std(w)).")
flags.DEFINE_float("step_q", 0.25, "threshold: increment of q per step.")
flags.DEFINE_float("max_drop", 0.01, "threshold: largest accepted accuracy drop (0.01 = 1 point).")
flags.DEFINE_integer("finetune_epochs", 2, "threshold: fine-tuning epochs after each step.")
flags.DEFINE_integer("final_epochs", 0, "threshold: epochs of retraining the whole pruned model at the end, "
                     "learning rate decaying to zero (cosine); 0: none.")
flags.DEFINE_float("finetune_lr", 0.01, "Learning rate while pruning (both methods).")
flags.DEFINE_enum("finetune_schedule", "constant", ["constant", "step", "cosine"],
                  "tfmot: learning-rate schedule over --epochs while pruning (cosine decays it to zero).")
flags.DEFINE_enum("quantize", "none", ["none", "int8", "qat"], "Also write model_int8.tflite: "
                  "int8 post-training, or qat: --qat_epochs of pruning-preserving quantization-aware "
                  "training first (zeros kept); its size and Interpreter accuracy go in summary.json.")
flags.DEFINE_integer("qat_epochs", 2, "Epochs of quantization-aware training with --quantize=qat.")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_string("run_dir", "runs/prune", "Output directory.")
flags.DEFINE_multi_string("table", None, "Print the README table of these run directories "
                          "instead of pruning (repeat the flag).")


def main(argv):
    """Validate every flag, then prune (or print the table of finished runs)."""
    del argv
    from tfcompress.pruning import experiment
    from tfcompress.training import parse_model_args
    if FLAGS.table:
        print(experiment.table(FLAGS.table))
        return
    names = {f.name for f in dataclasses.fields(experiment.PruneConfig)} - {"model_args"}
    try:
        config = experiment.PruneConfig(model_args=parse_model_args(FLAGS.model_args),
                                        **{n: FLAGS[n].value for n in names}).validate()
    except (ValueError, FileNotFoundError) as error:
        raise app.UsageError(str(error))
    summary = experiment.run(config)
    print(f"{summary['method']} {summary['model']}: {summary['compression']:.1f}x fewer non-zeros, "
          f"accuracy {summary['dense_accuracy']:.4f} -> {summary['pruned_accuracy']:.4f}, "
          f"CSR file {summary['csr_file_ratio']:.1f}x smaller; outputs in {config.run_dir}")
    if "tflite_float" in summary:
        served = summary["tflite_float"]
        weights = served["fully_connected_weights"]
        print(f"float32 TFLite (model.tflite): FULLY_CONNECTED weights {weights['sparse']} sparse, "
              f"{weights['densified']} densified, {weights['dense']} dense; batch-1 latency "
              f"{served['latency_us']:.1f} us vs dense {served['dense_latency_us']:.1f} us "
              f"({served['speedup']:.2f}x)")
    if "tflite_int8_accuracy" in summary:
        print(f"int8 TFLite ({summary['quantize']}): {summary['tflite_int8_gzip_bytes']:,} bytes gzipped, "
              f"{summary['tflite_gzip_ratio']:.1f}x smaller than the dense float32 TFLite file "
              f"(gzipped), Interpreter accuracy {summary['tflite_int8_accuracy']:.4f}; batch-1 "
              f"latency {summary['int8_latency_us']:.1f} us vs dense float {summary['dense_float_latency_us']:.1f} us")


if __name__ == "__main__":
    cli.run(main)
