"""`import tfcompress` is cheap and reaches every sub-package on first use."""
import subprocess
import sys

import pytest

import tfcompress

CHECK = """
import sys, tfcompress
assert "tensorflow" not in sys.modules, "import tfcompress alone must not import TensorFlow"
for name in tfcompress.SUBPACKAGES:
    assert getattr(tfcompress, name).__name__ == "tfcompress." + name, name
print(tfcompress.data.describe("digits").num_classes)
"""


def test_every_sub_package_is_reachable_from_a_plain_import():
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "10"


def test_an_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'datasets'"):
        tfcompress.datasets  # noqa: B018 (the attribute access is the test)
