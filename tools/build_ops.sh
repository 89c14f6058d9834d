#!/usr/bin/env bash
# Builds the custom-op library with Bazel (offline, see WORKSPACE) and installs
# it as tfcompress/lib/_spectral_ops.so, where tfcompress looks for it first.
#
# Usage (the Makefile's `make build`): PY=.venv/bin/python bash tools/build_ops.sh
#   PY=...        the Python with TensorFlow (default .venv/bin/python, else python3)
#   STRICT=1      any failure exits non-zero (CI); by default a failure is reported
#                 and tfcompress runs its pure-TensorFlow path instead
#   CUDA=1        build and install the library with its CUDA kernel (--config=cuda)
#   CUDA_CHECK=1  also compile and link the CUDA variant (nvcc, no GPU needed)
#                 without installing it
#   NVCC=...      nvcc for either (default: tools/find_nvcc.sh, a CUDA 12 nvcc
#                 if there is one, else e.g. CUDA 13's with a note)
# Either CUDA build is then checked to hold sm_80 and sm_90 SASS and compute_90
# PTX (tools/check_cuda_archs.sh).
# Installs Debian's bazel-bootstrap with apt-get when bazel is missing and the
# user is root. A rebuild with nothing changed takes about a second.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TARGET=//custom_ops/spectral:spectral_ops.so
BUILT=bazel-bin/custom_ops/spectral/spectral_ops.so
INSTALLED=tfcompress/lib/_spectral_ops.so
STRICT=${STRICT:-0}

step() { echo "build_ops: $*"; }

# Reports a failed step; exits 1 under STRICT=1, else 0 (pure-TF fallback).
fail() {
  echo "build_ops: FAILED: $*" >&2
  if [[ -e "${INSTALLED}" ]]; then
    echo "build_ops: tfcompress keeps using the library built earlier, ${INSTALLED}" >&2
  else
    echo "build_ops: tfcompress will use its pure-TensorFlow path (no compiled op)" >&2
  fi
  if [[ "${STRICT}" == 1 ]]; then exit 1; fi
  exit 0
}

if ! command -v bazel >/dev/null; then
  if [[ "$(id -u)" == 0 ]]; then
    step "bazel not found: apt-get install -y bazel-bootstrap"
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends bazel-bootstrap; } \
      || fail "apt-get install bazel-bootstrap"
  else
    step "bazel not found; to build the op library, run:"
    echo "    sudo apt-get install -y bazel-bootstrap && make build"
    fail "bazel is not installed"
  fi
fi

config=()
if [[ "${CUDA:-0}" == 1 ]]; then config=(--config=cuda); fi
if [[ "${CUDA:-0}" == 1 || "${CUDA_CHECK:-0}" == 1 ]]; then
  if NVCC=$(tools/find_nvcc.sh); then
    export NVCC
    step "nvcc: ${NVCC} ($("${NVCC}" --version | sed -n 's/.*\(release [0-9.]*\).*/\1/p'))"
  elif [[ "${CUDA:-0}" == 1 ]]; then
    fail "no nvcc for CUDA=1 (set NVCC=/path/to/nvcc)"
  fi
fi

step "configure: ./configure.sh (PY=${PY:-.venv/bin/python or python3})"
./configure.sh || fail "./configure.sh"

step "bazel build ${config[*]} ${TARGET}"
bazel build "${config[@]}" "${TARGET}" || fail "bazel build ${config[*]} ${TARGET}"
if [[ "${CUDA:-0}" == 1 ]]; then
  tools/check_cuda_archs.sh "${BUILT}" || fail "GPU architectures of ${BUILT}"
fi

step "install ${BUILT} -> ${INSTALLED}"
mkdir -p "$(dirname "${INSTALLED}")"
install -m 0755 "${BUILT}" "${INSTALLED}" || fail "install ${INSTALLED}"

if [[ "${CUDA_CHECK:-0}" == 1 && "${CUDA:-0}" != 1 ]]; then
  step "CUDA check: bazel build --config=cuda ${TARGET} (not installed)"
  # bazel-bin now points at the --config=cuda outputs.
  if ! { bazel build --config=cuda "${TARGET}" && tools/check_cuda_archs.sh "${BUILT}"; }; then
    echo "build_ops: FAILED: CUDA check (the installed CPU library is unaffected)" >&2
    if [[ "${STRICT}" == 1 ]]; then exit 1; fi
  fi
fi
step "done: ${INSTALLED}"
