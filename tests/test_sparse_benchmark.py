"""bin/benchmark.py --suite=sparse: mask-update cost amortised over update_every steps."""
from tfcompress import sparse
from tfcompress.benchmarks import sparse as suite


def test_quick_sparse_suite_times_a_step_and_each_method_update():
    result = suite.run(quick=True, repeats=1)
    measures = [(row["measure"], row["method"]) for row in result.rows]
    assert measures == [("train_step", ""), ("mask_update", "DSR"), ("mask_update", "SET"),
                        ("mask_update", "RigL")]
    assert all(row["seconds"] > 0 for row in result.rows)
    step = result.rows[0]["seconds"]
    for row, ratio in zip(result.rows[1:], result.ratios):
        assert ratio["value"] == row["seconds"] / (suite.UPDATE_EVERY * step)
        assert ratio["target"] == "<= 0.05"


def test_timed_updates_keep_the_total_number_of_non_zeros_for_dsr():
    model, _ = suite._model(quick=True)
    before = sparse.stats(model)["total"]["nonzeros"]
    callback = sparse.DynamicSparsity(sparse.DSR(500), update_every=suite.UPDATE_EVERY)
    callback.set_model(model)
    callback.on_train_begin()
    callback.update_now(suite.UPDATE_EVERY)
    assert sparse.stats(model)["total"]["nonzeros"] == before
