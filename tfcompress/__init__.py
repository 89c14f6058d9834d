"""tfcompress: cheaper CNN training and serving inside ordinary Keras code.

Importing the package selects Keras 2 (``tf_keras``) for TensorFlow, because
tensorflow-model-optimization does not support Keras 3. Code in the library
imports ``tf_keras as keras``, never ``tensorflow.keras``.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
if os.environ["TF_USE_LEGACY_KERAS"] not in ("1", "true", "True"):
    raise ImportError(
        "tfcompress needs TF_USE_LEGACY_KERAS=1 (Keras 2 via tf_keras); "
        f"the environment has TF_USE_LEGACY_KERAS={os.environ['TF_USE_LEGACY_KERAS']!r}")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

# Public names resolved on first use, so that `import tfcompress` stays cheap
# and sub-packages can import each other without cycles.
_LAZY = {
    "SpectralConv1D": "tfcompress.spectral.layers",
    "SpectralConv2D": "tfcompress.spectral.layers",
    "HebbianSparseConv2D": "tfcompress.hebbian",
}
SUBPACKAGES = ("benchmarks", "data", "export", "folding", "hebbian", "models", "ops", "pruning", "reports",
               "sparse", "spectral", "training")


def __getattr__(name: str):
    """Import public layers and sub-packages (`tfcompress.data.load(...)`) lazily (PEP 562)."""
    import importlib
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in SUBPACKAGES:
        return importlib.import_module(f"tfcompress.{name}")
    raise AttributeError(f"module 'tfcompress' has no attribute {name!r}")
