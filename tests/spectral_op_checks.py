"""What the tests of the compiled spectral ops share: the fixture for tests that need the op
library, and the comparison to float32 rounding."""
import os

import numpy as np
import pytest

from tfcompress.spectral import op as spectral_op


@pytest.fixture
def compiled_op():
    """Skips (or fails with TFCOMPRESS_REQUIRE_OP=1) when the op library is not loaded."""
    if not spectral_op.op_loaded():
        message = ("compiled spectral op library not built (searched "
                   f"{[str(p) for p in spectral_op.library_candidates()]}); run `make build`")
        if os.environ.get("TFCOMPRESS_REQUIRE_OP") == "1":
            pytest.fail(message)
        pytest.skip(message)


def assert_close(actual, expected, rtol=1e-5):
    """Equal to float32 rounding: max error relative to the largest reference value."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    error = np.abs(actual - expected).max(initial=0.0)
    assert error <= rtol * np.abs(expected).max(initial=1e-30), error
