"""The documented coefficient order, the kept set and the energy prefix of tfcompress.spectral.bands."""
import numpy as np
import pytest
import tensorflow as tf

from tfcompress.spectral import bands


def test_order_on_a_4x4_fft_by_hand():
    # rfft2d of 4x4: rows fy = 0, 1, 2, 3 (3 is -1), columns fx = 0, 1, 2; k = 3 fy + fx.
    # distance^2 (square FFT, so plain fy^2 + fx^2): (0,0) 0 | (0,1) 1, (1,0) 1, (-1,0) 1 |
    # (1,1) 2, (-1,1) 2 | (0,2) 4, (2,0) 4 | (1,2) 5, (-1,2) 5, (2,1) 5 | (2,2) 8;
    # ties by |fy|, then fx, then +fy before -fy.
    np.testing.assert_array_equal(bands.frequency_order((4, 4)),
                                  [0, 1, 3, 9, 4, 10, 2, 6, 5, 11, 7, 8])


def test_order_uses_normalised_frequencies_on_rectangular_ffts():
    # 8 x 4 (rfft width 3): fy steps are 1/8 cycle, fx steps 1/4, so (+-1, 0) come before
    # (0, 1), which ties with (+-2, 0) at 1/4 and goes first (|fy| = 0); then (+-1, 1).
    np.testing.assert_array_equal(bands.frequency_order((8, 4))[:8],
                                  [0, 3, 21, 1, 6, 18, 4, 22])


def test_order_1d_is_by_frequency():
    np.testing.assert_array_equal(bands.frequency_order((9,)), np.arange(5))
    np.testing.assert_array_equal(bands.kept_indices((9,), 0.6), [0, 1])


def test_kept_set_never_holds_half_a_conjugate_pair():
    np.testing.assert_array_equal(bands.kept_indices((4, 4), 0.75), [0, 1, 3, 9])  # 3 -> 4
    np.testing.assert_array_equal(bands.kept_indices((4, 4), 0.0), bands.frequency_order((4, 4)))
    assert bands.kept_indices((4, 4), 0.99).tolist() == [0]
    for shape in [(6, 6), (7, 5), (10, 8), (5, 12)]:
        partner = bands.conjugate_partner(shape)
        for rate in np.linspace(0, 0.95, 20):
            kept = set(bands.kept_indices(shape, rate).tolist())
            assert {int(partner[k]) for k in kept} <= kept
            k = bands.num_coefficients(shape)
            assert abs(len(kept) - max(1, round((1 - rate) * k))) <= 1


def test_conjugate_partners_are_conjugates():
    x = np.random.default_rng(0).standard_normal((6, 8))
    spectrum = np.fft.rfft2(x).ravel()
    partner = bands.conjugate_partner((6, 8))
    columns = np.arange(spectrum.size) % 5
    edge = (columns == 0) | (columns == 4)
    np.testing.assert_allclose(spectrum[partner][edge], np.conj(spectrum[edge]), atol=1e-12)
    np.testing.assert_array_equal(partner[~edge], np.arange(spectrum.size)[~edge])


def test_weights_make_parseval_hold():
    x = np.random.default_rng(1).standard_normal((6, 7))
    spectrum = np.fft.rfft2(x)
    energy = (np.abs(spectrum.ravel()) ** 2 * bands.coefficient_weights((6, 7))).sum()
    assert energy == pytest.approx(x.size * (x ** 2).sum())


def test_energy_prefix_mask():
    energy = tf.constant([5.0, 3.0, 1.0, 1.0])
    closed = np.array([True, False, True, True])
    mask = bands.energy_prefix_mask(energy, closed, tf.constant(10.0), 60)
    np.testing.assert_array_equal(mask, [1, 1, 1, 0])  # 50% at 1, 80% at 2 but 2 splits a pair
    np.testing.assert_array_equal(bands.energy_prefix_mask(energy, closed, 10.0, 50), [1, 0, 0, 0])
    np.testing.assert_array_equal(bands.energy_prefix_mask(energy, closed, 20.0, 90), [1, 1, 1, 1])


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, "0.5", True, None])
def test_bad_rates(rate):
    with pytest.raises(ValueError, match=f"compress_rate must be a number in \\[0, 1\\), got {rate!r}"):
        bands.kept_indices((4, 4), rate)


@pytest.mark.parametrize("percent", [0, -5, 100.01, "90"])
def test_bad_energy(percent):
    with pytest.raises(ValueError, match="preserve_energy"):
        bands.check_preserve_energy(percent)


def test_bad_fft_shape():
    with pytest.raises(ValueError, match=r"fft_shape.*\(2, 3, 4\)"):
        bands.frequency_order((2, 3, 4))
