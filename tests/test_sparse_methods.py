"""Mask update methods against numpy references: SET, RigL, DSR, DeepR; regrowth and optimizer slots."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from sparse_helpers import compiled, data, tiny_model
from tfcompress import sparse
from tfcompress.sparse.methods import allocate


def counts(model):
    return [int(layer.mask.numpy().sum()) for layer in sparse.masked_layers(model)]


def context(step=10, **kwargs):
    return sparse.UpdateContext(step=step, seed=0, **kwargs)


def test_set_drops_the_smallest_magnitudes_and_keeps_each_count():
    model = tiny_model()
    layers = sparse.masked_layers(model)
    before = [(layer.kernel.numpy(), layer.mask.numpy()) for layer in layers]
    sparse.SET().update(layers, context(drop_fraction=0.25))
    for layer, (kernel, mask) in zip(layers, before):
        new = layer.mask.numpy()
        assert new.sum() == mask.sum()
        n_drop = int(mask.sum() * 0.25)
        active = np.flatnonzero(mask)
        expected_dropped = active[np.argsort(np.abs(kernel.ravel()[active]), kind="stable")[:n_drop]]
        dropped = np.flatnonzero((mask == 1) & (new == 0))
        assert set(dropped) <= set(expected_dropped)  # dropped ones may be regrown at random
        survivors = np.setdiff1d(active, expected_dropped)
        assert np.all(new.ravel()[survivors] == 1)


def test_rigl_grows_where_the_gradient_is_largest():
    model = tiny_model()
    layers = sparse.masked_layers(model)
    grads, wanted = [], []
    for layer in layers:
        mask = layer.mask.numpy()
        g = np.zeros(mask.shape, np.float32)
        inactive = np.flatnonzero(mask == 0)
        n = int(mask.sum() * 0.3)
        chosen = inactive[::len(inactive) // n][:n]
        g.ravel()[chosen] = np.linspace(5, 10, n)
        grads.append(tf.constant(g))
        wanted.append(chosen)
    sparse.RigL().update(layers, context(drop_fraction=0.3, gradients=grads))
    for layer, chosen in zip(layers, wanted):
        new = layer.mask.numpy().ravel()
        assert np.all(new[chosen] == 1)
        assert np.all(layer.kernel.numpy().ravel()[chosen] == 0)  # regrown at zero


def test_rigl_through_the_callback_grows_by_the_current_batch_gradient():
    model = tiny_model()
    # lr 0: the weights stay, so the reference gradient can be taken afterwards.
    model.compile(keras.optimizers.SGD(0.0),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = data(64)
    before = counts(model)
    rewire = sparse.DynamicSparsity(sparse.RigL(0.3), update_every=4, stop_step=4)
    model.fit(x, y, batch_size=8, epochs=1, callbacks=[rewire], verbose=0, shuffle=False)
    assert counts(model) == before and int(rewire.updates.numpy()) == 1
    assert len(model.get_weights()) == 6  # the recorded gradients are not weights
    grads = rewire._gradients()  # those of the last step: batch x[56:64], masks as rewired at step 4
    with tf.GradientTape() as tape:  # reference: the gradient of the dense product, taken by hand
        dense = [tf.Variable(l.kernel * l.mask) for l in sparse.masked_layers(model)]
        h = tf.nn.relu(x[56:] @ dense[0] + model.layers[0].layer.bias)
        loss = model.loss(y[56:], h @ dense[1] + model.layers[1].layer.bias)
    for got, expected, layer in zip(grads, tape.gradient(loss, dense), sparse.masked_layers(model)):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-4, atol=1e-6)
        assert np.any(got.numpy()[layer.mask.numpy() == 0] != 0)  # dense: masked weights too


def test_rigl_cosine_schedule():
    schedule = sparse.RigL(0.4).default_schedule(update_every=10, stop_step=100)
    assert type(schedule) is sparse.CosineSchedule
    fractions = [schedule.fraction(step) for step in (0, 50, 100, 150)]
    np.testing.assert_allclose(fractions, [0.4, 0.2, 0.0, 0.0], atol=1e-12)
    assert [schedule.is_update_step(step) for step in (0, 10, 15, 100, 110)] == [
        False, True, False, True, False]
    assert sparse.CosineSchedule(0.4, stop_step=None).fraction(10**6) == 0.4  # nothing to decay to


def test_dsr_conserves_the_total_and_moves_budget_between_layers():
    model = compiled(tiny_model(sparsity=0.6))
    x, y = data(256)
    dsr = sparse.DSR(n_prune_params=20, initial_threshold=0.05)
    totals, per_layer = [], []
    for _ in range(6):
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
        rewire = sparse.DynamicSparsity(dsr, update_every=1)
        rewire.set_model(model)
        rewire.on_train_begin()
        rewire.update_now(int(model.optimizer.iterations.numpy()))
        per_layer.append(counts(model))
        totals.append(sum(per_layer[-1]))
        for layer in sparse.masked_layers(model):
            assert np.all(layer.kernel.numpy()[layer.mask.numpy() == 0] == 0)
    assert totals == [round(0.4 * 128) + round(0.4 * 64)] * 6
    assert len({tuple(c) for c in per_layer}) > 1


@pytest.mark.parametrize("scale,expected", [(10.0, 2.0), (1e-4, 0.5)])
def test_dsr_threshold_rises_when_too_few_are_pruned_and_falls_when_too_many(scale, expected):
    model = tiny_model(sparsity=0.5)
    for layer in sparse.masked_layers(model):  # every active |w| = scale (> or << H = 1e-2)
        layer.kernel.assign(layer.mask * scale)
    dsr = sparse.DSR(n_prune_params=10, tolerance=0.2, initial_threshold=1e-2)
    dsr.update(sparse.masked_layers(model), context())
    assert dsr.threshold.numpy() == pytest.approx(1e-2 * expected)


def test_allocate_is_proportional_exact_and_capped():
    assert allocate(10, [1, 1, 2], [100, 100, 100]) == [2, 3, 5] or \
        allocate(10, [1, 1, 2], [100, 100, 100]) == [3, 2, 5]
    shares = allocate(30, [10, 1, 1], [5, 100, 100])
    assert sum(shares) == 30 and shares[0] == 5 and shares[1] + shares[2] == 25
    with pytest.raises(ValueError, match="cannot place"):
        allocate(10, [1], [5])


def test_deepr_keeps_each_count_and_drops_sign_flips():
    model = tiny_model()
    layers = sparse.masked_layers(model)
    before = counts(model)
    kernels = [l.kernel.numpy() for l in layers]
    deepr = sparse.DeepR(eta=1.0, temperature=1e-2, l1=0.0)
    deepr.update(layers, context())
    assert counts(model) == before
    noise = [tf.random.stateless_normal(k.shape, context().seed_for(i, 3)).numpy()
             for i, k in enumerate(kernels)]
    for layer, k, n in zip(layers, kernels, noise):
        moved = k + np.sqrt(2 * 1e-2) * n * (k != 0)
        flipped = (k * moved < 0)
        assert flipped.any()
        assert np.all(layer.kernel.numpy()[flipped] == 0)  # dropped (or regrown at zero)


@pytest.mark.parametrize("optimizer", [lambda: keras.optimizers.SGD(0.1, momentum=0.9),
                                       lambda: keras.optimizers.Adam(0.01)])
def test_regrown_weights_start_at_zero_and_their_slots_are_reset(optimizer):
    model = compiled(tiny_model(), optimizer())
    x, y = data(64)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    layers = sparse.masked_layers(model)
    old = [l.mask.numpy() for l in layers]
    sparse.SET().update(layers, context(drop_fraction=0.5, optimizer=model.optimizer))
    for layer, mask in zip(layers, old):
        new = layer.mask.numpy()
        fresh = (new == 1) & (mask == 0)
        assert fresh.any()
        assert np.all(layer.kernel.numpy()[fresh] == 0)
        slots = sparse.slots.optimizer_slots(model.optimizer, layer.kernel)
        assert len(slots) == (1 if isinstance(model.optimizer, keras.optimizers.SGD) else 2)
        for slot in slots:
            value = slot.numpy()
            assert np.all(value[fresh] == 0) and np.all(value[new == 0] == 0)
            assert np.count_nonzero(value[(new == 1) & (mask == 1)]) > 0


def test_big_new_weights_come_from_the_initializer():
    model = tiny_model()
    layers = sparse.masked_layers(model)
    old = [l.mask.numpy() for l in layers]
    sparse.SET(big_new_weights=True).update(layers, context(drop_fraction=0.5))
    for layer, mask in zip(layers, old):
        fresh = (layer.mask.numpy() == 1) & (mask == 0)
        values = layer.kernel.numpy()[fresh]
        limit = np.sqrt(6 / sum(layer.kernel.shape))  # glorot_uniform
        assert np.all(values != 0) and np.all(np.abs(values) <= limit)
