"""bin/benchmark.py --suite=sparse: mask-update cost amortised over update_every steps."""
import numpy as np
import pytest

from tfcompress import sparse
from tfcompress.benchmarks import sparse as suite


def test_quick_suite_times_real_work_and_amortises_each_update_over_update_every_steps(monkeypatch):
    """The quick suite on its tiny WRN, with a fake clock: every timed call must do the work it
    names, and each ratio must be the training time a method adds per UPDATE_EVERY steps."""
    built = []
    model_of = suite._model
    monkeypatch.setattr(suite, "_model", lambda quick: built.append(model_of(quick)) or built[-1])
    # The dense step, the DSR, SET and RigL updates, then a step while RigL records gradients.
    seconds = iter([0.02, 0.03, 0.5, 0.08, 0.025])
    timed = []

    def fake_time_fn(fn, repeats=5, warmup=1):
        [(model, _)] = built
        masks = [layer.mask.numpy() for layer in sparse.masked_layers(model)]
        steps, nonzeros = int(model.optimizer.iterations), sparse.stats(model)["total"]["nonzeros"]
        fn()
        changed = sum(int(np.sum(a != b.mask.numpy()))
                      for a, b in zip(masks, sparse.masked_layers(model)))
        timed.append({"steps": int(model.optimizer.iterations) - steps, "changed": changed,
                      "nonzeros": (nonzeros, sparse.stats(model)["total"]["nonzeros"]),
                      "repeats": repeats})
        return next(seconds)

    monkeypatch.setattr(suite, "time_fn", fake_time_fn)
    result = suite.run(quick=True, repeats=3)
    assert [(row["measure"], row["method"], row["seconds"]) for row in result.rows] == [
        ("train_step", "", 0.02), ("mask_update", "DSR", 0.03), ("mask_update", "SET", 0.5),
        ("mask_update", "RigL", 0.08)]
    assert all(row["repeats"] == 3 for row in result.rows)
    assert [t["repeats"] for t in timed] == [3] * 5
    # A timed step trains (one optimizer step, masks kept); a timed update rewires the masks,
    # moving connections without adding or dropping any, and trains nothing.
    assert [t["steps"] for t in timed] == [1, 0, 0, 0, 1]
    assert timed[0]["changed"] == timed[4]["changed"] == 0
    for t in timed[1:4]:
        assert t["changed"] > 0 and t["nonzeros"][0] == t["nonzeros"][1]
    # Per 100 steps of 0.02 s (2 s): DSR and SET add one update; RigL one update plus
    # 100 x 0.005 s of gradient recording.
    ratios = {r["ratio"].split()[0]: r["value"] for r in result.ratios}
    assert ratios == {"DSR": pytest.approx(0.03 / 2), "SET": pytest.approx(0.5 / 2),
                      "RigL": pytest.approx((0.08 + 100 * 0.005) / 2)}


def test_timed_updates_keep_the_total_number_of_non_zeros_for_dsr():
    model, _ = suite._model(quick=True)
    before = sparse.stats(model)["total"]["nonzeros"]
    callback = sparse.DynamicSparsity(sparse.DSR(500), update_every=suite.UPDATE_EVERY)
    callback.set_model(model)
    callback.on_train_begin()
    callback.update_now(suite.UPDATE_EVERY)
    assert sparse.stats(model)["total"]["nonzeros"] == before
