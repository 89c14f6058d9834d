"""bin/benchmark.py --suite=sparse: mask-update cost amortised over update_every steps."""
import numpy as np
import pytest

from tfcompress import sparse
from tfcompress.benchmarks import sparse as suite


def test_quick_suite_times_real_work_and_amortises_each_update_over_update_every_steps(monkeypatch):
    """The quick suite on its tiny WRNs, with a fake clock: every timed call must do the work it
    names, and each ratio must be the training time a method adds per UPDATE_EVERY steps."""
    built = []
    model_of = suite._model
    monkeypatch.setattr(suite, "_model", lambda quick: built.append(model_of(quick)) or built[-1])
    timed = []

    def observe(fn):
        """Run `fn`, noting the optimizer steps it took and how its masks changed."""
        models = [model for model, _ in built]
        masks = [[layer.mask.numpy() for layer in sparse.masked_layers(m)] for m in models]
        steps = [int(m.optimizer.iterations) for m in models]
        nonzeros = [sparse.stats(m)["total"]["nonzeros"] for m in models]
        fn()
        timed.append({
            "steps": [int(m.optimizer.iterations) - s for m, s in zip(models, steps)],
            "changed": [sum(int(np.sum(a != b.mask.numpy()))
                            for a, b in zip(before, sparse.masked_layers(m)))
                        for m, before in zip(models, masks)],
            "nonzeros_kept": [sparse.stats(m)["total"]["nonzeros"] == n
                              for m, n in zip(models, nonzeros)],
            "recording": [any(layer.dense_gradient is not None for layer in sparse.masked_layers(m))
                          for m in models]})

    def fake_alternately(fns, repeats):
        assert repeats == 3 and list(fns) == ["plain", "recording"]
        for fn in fns.values():
            observe(fn)
        return {"plain": 0.02, "recording": 0.025}

    updates = iter([0.03, 0.5, 0.08])  # DSR, SET, RigL

    def fake_time_fn(fn, repeats=5, warmup=1):
        assert repeats == 3
        observe(fn)
        return next(updates)

    monkeypatch.setattr(suite, "time_alternately", fake_alternately)
    monkeypatch.setattr(suite, "time_fn", fake_time_fn)
    result = suite.run(quick=True, repeats=3)
    assert [(row["measure"], row["method"], row["seconds"]) for row in result.rows] == [
        ("train_step", "", 0.02), ("train_step", "RigL", 0.025), ("mask_update", "DSR", 0.03),
        ("mask_update", "SET", 0.5), ("mask_update", "RigL", 0.08)]
    # The plain step trains the plain model, the recording step the twin whose layers record.
    assert [t["steps"] for t in timed[:2]] == [[1, 0], [0, 1]]
    assert timed[0]["recording"] == [False, True]
    assert all(t["changed"] == [0, 0] for t in timed[:2])
    # A timed update rewires masks without adding or dropping a connection, and trains nothing:
    # DSR and SET on the plain model, RigL on the recording twin.
    for t, model in zip(timed[2:], (0, 0, 1)):
        assert t["steps"] == [0, 0] and t["changed"][model] > 0 and t["changed"][1 - model] == 0
        assert all(t["nonzeros_kept"])
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
