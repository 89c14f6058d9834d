"""Shared pytest set-up: Keras 2 before TensorFlow, quiet logs, deterministic seeds."""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tfcompress  # noqa: E402,F401  (sets the Keras 2 rule before TF loads)
