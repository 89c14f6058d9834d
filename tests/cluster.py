"""Run bin/train.py as a 2-worker MultiWorkerMirroredStrategy cluster on 127.0.0.1 (tests only)."""
import json
import os
import socket
import subprocess
import sys

import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "bin", "train.py")


def free_ports(n):
    """`n` TCP ports on 127.0.0.1 that were free a moment ago."""
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def train_on_two_workers(run_dir, *flags, timeout=300):
    """Run `bin/train.py --strategy=multi_worker` in two processes; assert both exit 0."""
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster,
                                                       "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen(
            [sys.executable, TRAIN, f"--run_dir={run_dir}", "--strategy=multi_worker", *flags],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    try:
        outputs = [p.communicate(timeout=timeout)[0] for p in procs]
    finally:
        for p in procs:  # a worker whose peer died waits forever in a collective
            p.kill()
    assert [p.returncode for p in procs] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]


def variables_of(checkpoint_dir):
    """Model weights of the newest checkpoint in a directory, by name."""
    reader = tf.train.load_checkpoint(checkpoint_dir)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name.startswith("model/") and "OPTIMIZER_SLOT" not in name}
