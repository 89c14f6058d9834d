#!/usr/bin/env bash
# Configures the offline Bazel build of custom_ops/ against the installed
# TensorFlow wheel (see the comment at the top of WORKSPACE).
#
# Usage: PY=.venv/bin/python ./configure.sh [--force]
#   PY    the Python with TensorFlow installed (default: .venv/bin/python, else python3)
#   NVCC  nvcc for --config=cuda (default: tools/find_nvcc.sh, which prefers a
#         CUDA 12 nvcc, matching the TensorFlow wheel's CUDA 12.5 runtime)
# It links third_party/tensorflow_local/ to the wheel's headers and
# libtensorflow_framework.so.2, writes their compile flags to
# third_party/tensorflow_local/build_defs.bzl and nvcc's path to
# .tf_configure.bazelrc; re-running with the same wheel does nothing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if [[ -z "${PY:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
fi
# Quietly here: tools/build_ops.sh shows find_nvcc's note when it builds CUDA.
if [[ -z "${NVCC:-}" ]] && found=$(tools/find_nvcc.sh 2>/dev/null); then
  export NVCC="${found}"
fi
exec "${PY}" tools/configure_bazel.py "$@"
