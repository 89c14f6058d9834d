"""Distribution strategies by name: default, mirrored, multi_worker."""
from __future__ import annotations

import json
import os

import tensorflow as tf


def make_strategy(name: str) -> tf.distribute.Strategy:
    """Return the tf.distribute strategy for `--strategy=name`.

    `mirrored` mirrors over every visible GPU, or over the logical CPU devices
    when there is no GPU (see `split_cpu`). `multi_worker` reads TF_CONFIG and
    uses collective all-reduce over gRPC (RING on CPU).
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy=multi_worker needs TF_CONFIG; it is not set")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; expected default, mirrored or multi_worker")


def split_cpu(replicas: int) -> None:
    """Expose the CPU as `replicas` logical devices (call before TensorFlow initialises devices)."""
    if replicas < 1:
        raise ValueError(f"replicas must be >= 1, got {replicas}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(replicas)])


def task_index() -> int:
    """This worker's index in TF_CONFIG (0 without one)."""
    return int(json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {}).get("index", 0))


def is_chief() -> bool:
    """Whether this process writes the run's files (the chief or the only worker)."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task = config.get("task", {})
    if not task:
        return True
    has_chief = "chief" in config.get("cluster", {})
    return task.get("type") == "chief" or (not has_chief and task.get("type") == "worker"
                                           and task.get("index", 0) == 0)
