"""The transforms of the band-limited convolution: the cost model's choices, what backward keeps.

Exactness of every transform (against tf.nn.convolution, the NumPy reference
and numerical gradients) is tested in test_spectral_layers.py.
"""
import numpy as np
import pytest
import tensorflow as tf

from tfcompress.spectral import transforms
from tfcompress.spectral.fft_conv import apply_plan, make_plan
from tfcompress.spectral.transform_cost import transform_costs


@pytest.mark.parametrize("size,rates,expected", [
    (32, (0.0, 0.5, 0.75), "separable"), (16, (0.0, 0.5), "separable"), (16, (0.75,), "direct"),
    (8, (0.0, 0.5, 0.75), "direct"), (4, (0.0, 0.5, 0.75), "direct")])
def test_documented_choices_at_resnet18_cifar_shapes(size, rates, expected):
    for rate in rates:
        plan = make_plan((size, size), (3, 3), (1, 1), "same", rate)
        assert plan.transform == expected
        costs = transform_costs(plan)
        assert costs[expected] == min(costs.values())


def test_long_1d_signals_use_the_fft_and_short_ones_the_direct_dft():
    assert make_plan((1024,), (64,), (1,), "same", 0.5).transform == "fft"
    assert make_plan((150,), (8,), (1,), "same", 0.5).transform == "direct"
    assert make_plan((150,), (8,), (1,), "same", 0.5, transform="fft").transform == "fft"


def test_bad_transforms_are_errors():
    with pytest.raises(ValueError, match="transform must be one of.*'pruned'"):
        make_plan((8, 8), (3, 3), (1, 1), "same", 0.5, transform="pruned")
    with pytest.raises(ValueError, match="separable.*2 spatial axes"):
        make_plan((8,), (3,), (1,), "same", 0.5, transform="separable")


def _spectra_kept_for_backward(plan, x, kernel):
    """Sizes, in complex values, of the forward spectra that the backward graph reads: complex64
    tensors, or planar float32 ones (rank 5, re/im planes)."""
    @tf.function
    def step(x, kernel):
        with tf.GradientTape() as tape:
            tape.watch([x, kernel])
            y = apply_plan(x, kernel, plan, implementation="tf")[0]
        return tape.gradient(y, [x, kernel], output_gradients=tf.ones_like(y))

    graph = step.get_concrete_function(x, kernel).graph
    kept = set()
    for op in graph.get_operations():
        if "gradient_tape/" not in op.name:
            continue
        for t in op.inputs:
            if "gradient_tape/" in t.op.name:
                continue
            if t.dtype == tf.complex64:
                kept.add((t.name, t.shape.num_elements()))
            elif t.dtype == tf.float32 and t.shape.rank == 5:
                kept.add((t.name, t.shape.num_elements() // 2))
    return [size for _, size in kept]


@pytest.mark.parametrize("transform", ["fft", "direct", "separable"])
def test_backward_keeps_only_the_band(transform):
    """The complex tensors backward reads are spectral_mul's operands, over the band only."""
    x = tf.random.normal([2, 12, 12, 3])
    kernel = tf.random.normal([3, 3, 3, 4])
    full = make_plan((12, 12), (3, 3), (1, 1), "same", 0.0, transform=transform)
    plan = make_plan((12, 12), (3, 3), (1, 1), "same", 0.75, transform=transform)
    kept = _spectra_kept_for_backward(plan, x, kernel)
    coefficients = transforms.coefficients(plan).size
    assert kept and max(kept) <= max(2 * 3, 4 * 3) * coefficients
    assert coefficients <= 0.4 * full.num_coefficients  # the band, not the whole spectrum
    assert sum(kept) < 0.4 * sum(_spectra_kept_for_backward(full, x, kernel))


def test_separable_box_holds_the_band():
    plan = make_plan((32, 32), (3, 3), (1, 1), "same", 0.5, transform="separable")
    indices = transforms.coefficients(plan)
    assert np.isin(plan.kept, indices).all()
    # The band is a half disk; its bounding box holds about 4 / pi of it, plus the box's edges
    # (33x33 grid: 378 coefficients for the 280 kept).
    assert indices.size < 1.4 * plan.kept.size
