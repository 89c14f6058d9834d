"""Distillation of a folded student from its unfolded teacher (Hinton et al. soft targets).

`FoldDistiller` is a `keras.Model` whose inputs are ordinary (unfolded) images
and labels: each step it folds the batch for the student, unfolds the student's
logits per image, and minimises

    alpha * CE(labels, student) + (1 - alpha) * T^2 * KL(softmax(teacher / T) || softmax(student / T))

with the teacher frozen. Losses are averaged over the global batch with
`tf.nn.compute_average_loss`, so `fit` under a `tf.distribute` strategy gives
the same updates as one device. Its `call`/`evaluate`/`predict` give the
student's per-image logits, so `metrics=["accuracy"]` measures the student on
the original task.
"""
from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from tfcompress.folding.fold import folded_call


def teacher_fold(student: keras.Model, teacher: keras.Model) -> int:
    """The fold f that makes `student` a folded copy of `teacher`; ValueError if none does.

    The student must take (H, W, f*C) inputs for the teacher's (H, W, C) and
    emit f*K logits for the teacher's K.
    """
    t_shape, s_shape = tuple(teacher.input_shape[1:]), tuple(student.input_shape[1:])
    if len(t_shape) != 3 or len(s_shape) != 3:
        raise ValueError(f"FoldDistiller needs image models (H, W, C inputs); teacher takes "
                         f"{t_shape}, student takes {s_shape}")
    if s_shape[:2] != t_shape[:2]:
        raise ValueError(f"student input {s_shape} does not match the teacher's spatial size "
                         f"{t_shape[:2]}: expected ({t_shape[0]}, {t_shape[1]}, f*{t_shape[2]})")
    if s_shape[2] % t_shape[2]:
        raise ValueError(f"student input channels {s_shape[2]} are not a multiple of the "
                         f"teacher's {t_shape[2]}: expected f*{t_shape[2]} for a fold f")
    fold = s_shape[2] // t_shape[2]
    t_classes, s_classes = teacher.output_shape[-1], student.output_shape[-1]
    if s_classes != fold * t_classes:
        raise ValueError(f"student emits {s_classes} logits but fold {fold} of a teacher with "
                         f"{t_classes} classes needs {fold * t_classes}: the teacher and student "
                         "have different numbers of classes")
    return fold


class FoldDistiller(keras.Model):
    """Trains folded `student` from unfolded `teacher` on unfolded `(images, labels)` batches.

    `temperature` T > 0 softens both logits; `alpha` in [0, 1] weighs the hard
    label loss against the soft-target loss. The fold is read from the two
    models (`teacher_fold`). `distinct` (a variable, 1..fold) is how many
    distinct images a training input folds; `FoldCurriculum` raises it.
    """

    def __init__(self, student: keras.Model, teacher: keras.Model, temperature: float = 4.0,
                 alpha: float = 0.1, **kwargs):
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
                or not temperature > 0:
            raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
        fold = teacher_fold(student, teacher)
        super().__init__(**kwargs)
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.fold = fold
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.distinct = tf.Variable(fold, trainable=False, dtype=tf.int32, name="distinct_images")
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def call(self, x, training: bool = False):
        """The student's per-image logits (N, K) for unfolded images `x` (N, H, W, C)."""
        return folded_call(self.student, x, self.fold, training=training)

    def per_example_loss(self, y, student_logits, teacher_logits):
        """alpha * hard-label CE + (1 - alpha) * T^2 * soft-target KL, per example."""
        t = self.temperature
        hard = keras.losses.sparse_categorical_crossentropy(y, student_logits, from_logits=True)
        soft = keras.losses.kl_divergence(tf.nn.softmax(teacher_logits / t),
                                          tf.nn.softmax(student_logits / t))
        return self.alpha * hard + (1.0 - self.alpha) * t * t * soft

    def _curriculum(self, x, y, teacher_logits):
        """Slot j of each group of `fold` examples takes example j mod `distinct` of its group.

        With distinct == fold this is the identity. Indices never pass the
        batch: slot j's source g*f + (j mod d) <= g*f + j.
        """
        index = tf.range(tf.shape(y)[0])
        source = index - index % self.fold + (index % self.fold) % self.distinct
        return tuple(tf.gather(v, source) for v in (x, y, teacher_logits))

    def train_step(self, data):
        """One step on the student; the teacher only supplies soft targets."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y = tf.reshape(tf.cast(y, tf.int32), [-1])
        teacher_logits = tf.cast(self.teacher(x, training=False), tf.float32)
        x, y, teacher_logits = self._curriculum(x, y, teacher_logits)
        with tf.GradientTape() as tape:
            logits = tf.cast(self(x, training=True), tf.float32)
            per_example = self.per_example_loss(y, logits, teacher_logits)
            loss = tf.nn.compute_average_loss(per_example, sample_weight=sample_weight)
            if self.student.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(self.student.losses))
        self.optimizer.minimize(loss, self.student.trainable_variables, tape=tape)
        return self._update_metrics(y, logits, per_example, sample_weight)

    def test_step(self, data):
        """Distillation loss and compiled metrics of the student on unfolded images."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y = tf.reshape(tf.cast(y, tf.int32), [-1])
        logits = tf.cast(self(x, training=False), tf.float32)
        per_example = self.per_example_loss(
            y, logits, tf.cast(self.teacher(x, training=False), tf.float32))
        return self._update_metrics(y, logits, per_example, sample_weight)

    def _update_metrics(self, y, logits, per_example, sample_weight) -> dict:
        self.loss_tracker.update_state(per_example, sample_weight=sample_weight)
        self.compiled_metrics.update_state(y, logits, sample_weight)
        return {m.name: m.result() for m in self.metrics}


class FoldCurriculum(keras.callbacks.Callback):
    """Raises `FoldDistiller.distinct` from 1 to fold over the first `epochs` epochs.

    Epoch e (0-based) folds min(fold, 1 + e * fold // epochs) distinct images
    per input, the rest of the slots repeating them: the student first learns
    to classify one image seen in every slot, then to tell slots apart (a
    schedule of this library's choosing).
    """

    def __init__(self, epochs: int):
        super().__init__()
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"FoldCurriculum: epochs must be an int >= 1, got {epochs!r}")
        self.epochs = epochs

    def on_epoch_begin(self, epoch, logs=None):
        """Set the number of distinct images per folded input for `epoch`."""
        fold = self.model.fold
        self.model.distinct.assign(min(fold, 1 + epoch * fold // self.epochs))
