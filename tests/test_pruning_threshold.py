"""tfcompress.pruning.threshold and dropout: |w| < q*std(w) pruning, masks, groups, dropout rates."""
import math

import numpy as np
import pytest
import tf_keras as keras

from tfcompress import data, models, pruning, sparse


@pytest.fixture(scope="module")
def digits():
    return (data.load("digits", "train", batch_size=128, seed=0),
            data.load("digits", "test", batch_size=128))


def trained(digits, name="lenet_300_100", epochs=3, **kwargs):
    keras.utils.set_random_seed(0)
    model = models.build(name, tuple(digits[0].element_spec[0].shape[1:]), 10, **kwargs)
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(digits[0], epochs=epochs, verbose=0)
    return model


def kernels(model):
    return {layer.name: layer.kernel.numpy() for layer in model.layers if hasattr(layer, "kernel")}


def test_one_step_prunes_exactly_below_q_std_per_layer(digits):
    model = trained(digits)
    before = kernels(model)
    pruner = pruning.ThresholdPruner({"fc": ["fc1", "fc2"]}, start_q=0.7, max_drop=0.99,
                                     finetune_epochs=0, max_steps=1)
    pruned, history = pruner.run(model, *digits)
    after = kernels(pruned)
    for name in ("fc1", "fc2"):
        w = before[name]
        expected = np.where(np.abs(w) < 0.7 * np.std(w), 0.0, w)
        np.testing.assert_array_equal(after[name], expected)
        assert history[-1][f"sparsity_{name}"] == pytest.approx(np.mean(expected == 0))
    np.testing.assert_array_equal(after["logits"], before["logits"])
    assert [(row["group"], row["q"]) for row in history] == [("dense", 0.0), ("fc", 0.7)]


def test_pruned_weights_stay_zero_and_other_layers_stay_frozen_while_finetuning(digits):
    model = trained(digits)
    before = kernels(model)
    pruner = pruning.ThresholdPruner("fc:fc1", start_q=0.5, step_q=0.5, max_drop=0.99,
                                     finetune_epochs=2, max_steps=3)
    pruned, history = pruner.run(model, *digits)
    after = kernels(pruned)
    first = np.abs(before["fc1"]) < 0.5 * np.std(before["fc1"])
    assert np.all(after["fc1"][first] == 0)
    kept = after["fc1"] != 0
    assert not np.allclose(after["fc1"][kept], before["fc1"][kept])  # fine-tuning did train fc1
    assert np.mean(after["fc1"] == 0) == pytest.approx(history[-1]["sparsity_fc1"])
    assert history[-1]["sparsity_fc1"] > history[1]["sparsity_fc1"] > 0.2
    for name in ("fc2", "logits"):
        np.testing.assert_array_equal(after[name], before[name])
    assert all(layer.trainable for layer in pruned.layers)


def test_final_retraining_trains_every_layer_and_keeps_the_zeros(digits):
    model = trained(digits)
    before = kernels(model)
    pruner = pruning.ThresholdPruner("fc:fc1", start_q=1.0, max_drop=0.99, finetune_epochs=0, max_steps=1,
                                     final_epochs=1)
    pruned, history = pruner.run(model, *digits)
    after = kernels(pruned)
    assert [row["group"] for row in history] == ["dense", "fc", "final"]
    assert history[-1]["sparsity_fc1"] == pytest.approx(history[1]["sparsity_fc1"])
    assert history[1]["sparsity_fc1"] > 0.5
    assert np.all(after["fc1"][np.abs(before["fc1"]) < np.std(before["fc1"])] == 0)
    for name in ("fc2", "logits"):  # frozen while their group was pruned, retrained at the end
        assert not np.allclose(after[name], before[name])
    assert all(layer.trainable for layer in pruned.layers)
    with pytest.raises(ValueError, match="final_epochs must be an int >= 0, got -1"):
        pruning.ThresholdPruner("fc:fc1", final_epochs=-1)


def test_step_that_loses_accuracy_is_undone(digits):
    model = trained(digits)
    weights = model.get_weights()
    pruner = pruning.ThresholdPruner({"fc": ["fc1", "fc2", "logits"]}, start_q=4.0, max_drop=0.0,
                                     finetune_epochs=0)
    pruned, history = pruner.run(model, *digits)
    assert [row["accepted"] for row in history] == [True, False]
    assert history[1]["accuracy"] < history[0]["accuracy"]
    for a, b in zip(pruned.get_weights(), weights):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("groups,match", [
    ({"fc": ["fc1", "fc9"]}, "group 'fc' names layers \\['fc9'\\]"),
    ({"fc": ["flatten"]}, "have no kernel to prune"),
])
def test_unknown_groups_raise_before_any_work(groups, match):
    model = models.build("lenet_300_100", (8, 8, 1), 10)
    with pytest.raises(ValueError, match=match):
        pruning.ThresholdPruner(groups).run(model, None, None)


@pytest.mark.parametrize("text", ["fc", "fc:", ":fc1", ";"])
def test_bad_group_text(text):
    with pytest.raises(ValueError, match="group|groups"):
        pruning.parse_groups(text)


def test_parse_groups():
    assert pruning.parse_groups("conv:conv1,conv2; fc:fc1,logits") == {
        "conv": ["conv1", "conv2"], "fc": ["fc1", "logits"]}


@pytest.mark.parametrize("kwargs,match", [
    (dict(start_q=0), "start_q"), (dict(max_drop=1.5), "max_drop"),
    (dict(finetune_epochs=-1), "finetune_epochs"), (dict(groups={}), "groups"),
])
def test_bad_pruner_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pruning.ThresholdPruner(**{"groups": {"fc": ["fc1"]}, **kwargs})


def test_adjust_dropout_formula():
    model = models.build("lenet5", (16, 16, 1), 10, dropout=0.5)
    assert pruning.adjust_dropout(model, 0.25) == {"fc1_dropout": pytest.approx(0.25)}
    # Relative to the original rate, not compounding.
    rates = pruning.adjust_dropout(model, 0.09, original_rates={"fc1_dropout": 0.5})
    assert rates["fc1_dropout"] == pytest.approx(0.5 * math.sqrt(0.09))
    assert model.get_layer("fc1_dropout").rate == pytest.approx(0.15)
    with pytest.raises(ValueError, match="kept fraction of 'fc1_dropout' must be in \\(0, 1\\], got 0"):
        pruning.adjust_dropout(model, 0)
    with pytest.raises(ValueError, match="\\['fc1'\\] are not Dropout layers"):
        pruning.adjust_dropout(model, {"fc1": 0.5})


def test_pruner_lowers_dropout_by_kept_connections():
    digits16 = [data.load("digits", split, image_size=16, batch_size=128, limit=256)
                for split in ("train", "test")]
    model = trained(digits16, "lenet5", epochs=1, dropout=0.5)
    pruner = pruning.ThresholdPruner({"fc": ["fc1"]}, start_q=1.0, max_drop=0.99, finetune_epochs=0,
                                     max_steps=1)
    pruned, _ = pruner.run(model, *digits16)
    kernel = pruned.get_layer("fc1").kernel.numpy()
    kept = np.count_nonzero(kernel) / kernel.size
    assert pruned.get_layer("fc1_dropout").rate == pytest.approx(0.5 * math.sqrt(kept))
    assert kept < 0.5


# --- The user's own loss, optimizer and metrics; the input model left as it is. ---

def softmax_mlp(digits):
    """A small model with a softmax output, compiled by the user with Adam and a loss on probabilities."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input(tuple(digits[0].element_spec[0].shape[1:]))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(64, activation="relu", name="fc1")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="probs")(x)
    model = keras.Model(inputs, outputs, name="softmax_mlp")
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(),
                  metrics=["accuracy"])
    model.fit(digits[0], epochs=6, verbose=0)
    return model


@pytest.fixture
def fits(monkeypatch):
    """Record, for every `fit` call, the optimizer, loss and step count the model trains with and
    its masked layers (tests clear it once their own model is trained)."""
    calls = []
    fit = keras.Model.fit

    def spy(self, *args, **kwargs):
        calls.append({"optimizer": self.optimizer, "loss": self.loss,
                      "iterations": int(self.optimizer.iterations),
                      "masked": [layer.name for layer in sparse.masked_layers(self)]})
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy)
    return calls


def test_softmax_model_finetunes_with_its_own_adam_and_loss_and_keeps_accuracy(digits, fits):
    model = softmax_mlp(digits)
    user_optimizer, user_loss = model.optimizer, model.loss
    fits.clear()
    pruner = pruning.ThresholdPruner("fc:fc1", start_q=0.5, step_q=0.5, max_drop=0.02, finetune_epochs=1,
                                     max_steps=3)
    pruned, history = pruner.run(model, *digits)
    assert len(fits) == len(history) - 1 >= 2  # one fine-tuning per step
    for call in fits:
        assert type(call["optimizer"]) is keras.optimizers.Adam
        assert call["optimizer"] is not user_optimizer and call["iterations"] == 0  # fresh each step
        assert call["optimizer"].get_config()["learning_rate"] == pytest.approx(3e-3)
        assert call["loss"] is user_loss and not call["loss"].get_config()["from_logits"]
        assert call["masked"] == ["fc1"]  # fine-tuned with a forward mask, not re-zeroed weights
    assert history[0]["accuracy"] > 0.9
    accepted = [row for row in history if row["accepted"] and row["group"] == "fc"]
    assert accepted and accepted[-1]["sparsity_fc1"] > 0.3
    assert accepted[-1]["accuracy"] >= history[0]["accuracy"] - 0.02
    assert all(0 <= row["accuracy"] <= 1 for row in history)
    assert type(pruned.optimizer) is keras.optimizers.Adam and pruned.loss is user_loss
    assert [type(layer) for layer in pruned.layers] == [type(layer) for layer in model.layers]  # stripped
    results = pruned.evaluate(digits[1], verbose=0, return_dict=True)
    assert results["accuracy"] >= history[0]["accuracy"] - 0.02
    assert results["loss"] < 1.0  # on probabilities taken for logits it could not go below log(9 + e) - 1


def test_input_model_is_left_unchanged(digits):
    model = trained(digits, dropout=0.5)
    model.get_layer("fc2").trainable = False
    model.compile(model.optimizer, model.loss, metrics=["accuracy"])
    weights = model.get_weights()
    optimizer, loss, iterations = model.optimizer, model.loss, int(model.optimizer.iterations)
    rates = {layer.name: layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)}
    trainable = {layer.name: layer.trainable for layer in model.layers}
    pruner = pruning.ThresholdPruner("fc:fc1;out:logits", start_q=1.0, max_drop=0.99, finetune_epochs=1,
                                     max_steps=1, final_epochs=1)
    pruned, history = pruner.run(model, *digits)
    assert pruned is not model and history[1]["sparsity_fc1"] > 0.5
    assert np.mean(pruned.get_layer("fc1").kernel.numpy() == 0) > 0.5
    for a, b in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer is optimizer and model.loss is loss
    assert int(model.optimizer.iterations) == iterations
    assert {n: model.get_layer(n).rate for n in rates} == rates
    assert pruned.get_layer("fc1_dropout").rate < rates["fc1_dropout"]
    assert {layer.name: layer.trainable for layer in model.layers} == trainable
    assert {layer.name: layer.trainable for layer in pruned.layers} == trainable


def uncompiled_copy(model):
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def test_uncompiled_model_needs_loss_and_optimizer(digits, fits):
    model = uncompiled_copy(trained(digits))
    fits.clear()
    with pytest.raises(ValueError, match=r"is not compiled and has no loss or optimizer.*"
                                         r"pass ThresholdPruner\(\.\.\., loss=\.\.\., optimizer=\.\.\.\)"):
        pruning.ThresholdPruner("fc:fc1").run(model, *digits)
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match=r"compiled without a loss.*ThresholdPruner\(\.\.\., loss=\.\.\.\)"):
        pruning.ThresholdPruner("fc:fc1").run(model, *digits)
    assert not fits  # nothing trained


def test_explicit_arguments_are_used_over_the_compiled_ones(digits, fits):
    model = trained(digits)  # compiled with SGD and metrics=["accuracy"]
    fits.clear()
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    pruner = pruning.ThresholdPruner(
        "fc:fc1", start_q=0.5, max_drop=0.99, finetune_epochs=1, max_steps=1, learning_rate=1e-3,
        loss=loss, optimizer=keras.optimizers.Adam(0.5), metrics=[keras.metrics.SparseCategoricalAccuracy("acc")])
    pruned, history = pruner.run(uncompiled_copy(model), *digits)
    [call] = fits
    assert type(call["optimizer"]) is keras.optimizers.Adam and call["loss"] is loss
    assert call["optimizer"].get_config()["learning_rate"] == pytest.approx(1e-3)  # learning_rate overrides
    expected = model.evaluate(digits[1], verbose=0, return_dict=True)["accuracy"]
    assert history[0]["accuracy"] == pytest.approx(expected)  # read from the "acc" metric
    assert "acc" in pruned.evaluate(digits[1], verbose=0, return_dict=True)


def test_accuracy_metric_that_is_not_there(digits):
    model = trained(digits)
    with pytest.raises(ValueError, match=r"reports \['accuracy', 'loss'\], which has no 'top5'"):
        pruning.ThresholdPruner("fc:fc1", metric="top5", max_steps=1).run(model, *digits)
    with pytest.raises(ValueError, match="optimizer Adam has no momentum setting"):
        pruning.ThresholdPruner("fc:fc1", momentum=0.9, optimizer="adam").run(model, *digits)


def test_experiment_pruner_finetunes_with_sgd_at_finetune_lr(digits, fits):
    from tfcompress.pruning import experiment
    pruner = experiment.PruneConfig(groups="fc:fc1", finetune_lr=0.02, finetune_epochs=1).pruner()
    pruner.max_steps, pruner.max_drop = 1, 0.99
    model = trained(digits)
    fits.clear()
    pruner.run(model, *digits)
    [call] = fits
    config = call["optimizer"].get_config()
    assert type(call["optimizer"]) is keras.optimizers.SGD
    assert (config["learning_rate"], config["momentum"]) == (pytest.approx(0.02), pytest.approx(0.9))
    assert call["loss"].get_config()["from_logits"]
