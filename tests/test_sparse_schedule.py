"""Mask update schedules (how much and when) apart from methods (what): serialisation, shorthands, flags."""
import numpy as np
import pytest
import tf_keras as keras

from sparse_helpers import compiled, data, tiny_model
from tfcompress import sparse
from tfcompress.sparse import training as sparse_training
from tfcompress.training import TrainConfig


@pytest.mark.parametrize("schedule", [sparse.ConstantSchedule(0.2, update_every=7, stop_step=70),
                                      sparse.CosineSchedule(0.4, update_every=3)])
def test_schedules_round_trip_as_registered_keras_objects(schedule):
    serialized = keras.saving.serialize_keras_object(schedule)
    assert serialized["registered_name"] == f"tfcompress>{type(schedule).__name__}"
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is type(schedule) and restored.get_config() == schedule.get_config()
    assert [restored.fraction(s) for s in (0, 35, 70)] == [schedule.fraction(s) for s in (0, 35, 70)]


@pytest.mark.parametrize("kwargs,match", [
    (dict(drop_fraction=1.0), r"drop_fraction must be in \(0, 1\), got 1.0"),
    (dict(update_every=0), "update_every must be an integer >= 1, got 0"),
    (dict(update_every=2.5), "update_every must be an integer >= 1, got 2.5"),
    (dict(stop_step=-1), "stop_step must be an integer >= 0, got -1"),
])
def test_bad_schedule_arguments_name_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sparse.ConstantSchedule(**kwargs)


def test_shorthands_make_the_methods_default_schedule():
    rewire = sparse.DynamicSparsity(sparse.SET(0.2), update_every=5, stop_step=50)
    assert type(rewire.schedule) is sparse.ConstantSchedule
    assert rewire.schedule.get_config() == {"drop_fraction": 0.2, "update_every": 5, "stop_step": 50}
    rigl = sparse.DynamicSparsity(sparse.RigL()).schedule
    assert type(rigl) is sparse.CosineSchedule
    assert rigl.get_config() == {"drop_fraction": 0.3, "update_every": 100, "stop_step": None}


@pytest.mark.parametrize("method,kwargs,match", [
    (sparse.SET(), dict(update_every=5), r"and also update_every=5: say how much and when once"),
    (sparse.RigL(0.2), {}, r"and also RigL\(fraction=0.2\)"),
    (sparse.SET(), dict(schedule=10), "schedule must be a tfcompress.sparse schedule"),
])
def test_a_schedule_and_its_shorthands_are_not_both_given(method, kwargs, match):
    kwargs.setdefault("schedule", sparse.ConstantSchedule(0.3, update_every=2))
    with pytest.raises(ValueError, match=match):
        sparse.DynamicSparsity(method, **kwargs)


class Recording(sparse.SET):
    """SET that records the step and drop fraction of every update it is asked for."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def update(self, layers, context):
        self.seen.append((context.step, context.drop_fraction))
        super().update(layers, context)


def test_the_callback_updates_at_the_schedules_steps_with_its_fraction():
    model = compiled(tiny_model())
    x, y = data(64)
    method = Recording()
    schedule = sparse.CosineSchedule(0.4, update_every=2, stop_step=6)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0,  # 8 steps
              callbacks=[sparse.DynamicSparsity(method, schedule)])
    steps, fractions = zip(*method.seen)
    assert steps == (2, 4, 6)
    np.testing.assert_allclose(fractions, [0.4 / 2 * (1 + np.cos(np.pi * s / 6)) for s in steps])


@pytest.mark.parametrize("method,kind", [("rigl", sparse.CosineSchedule), ("set", sparse.ConstantSchedule),
                                         ("dsr", sparse.ConstantSchedule)])
def test_train_flags_build_the_schedule(method, kind):
    config = TrainConfig(sparse=method, rewire_fraction=0.2, update_every=7, stop_rewire_epoch=3)
    rewire = sparse_training.dynamic_sparsity(config, steps_per_epoch=10)
    assert type(rewire.schedule) is kind and rewire.method.fraction is None
    assert rewire.schedule.get_config() == {"drop_fraction": 0.2, "update_every": 7, "stop_step": 30}
