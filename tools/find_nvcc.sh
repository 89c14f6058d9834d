#!/usr/bin/env bash
# Prints the nvcc that builds the CUDA kernel, preferring a CUDA 12 one: the
# TensorFlow wheel runs the CUDA 12.5 runtime, and a CUDA 12 driver can JIT
# only PTX from a CUDA 12 compiler.
#
# Usage: tools/find_nvcc.sh          (used by configure.sh and bench/Makefile)
#   NVCC=/path/to/nvcc   use this one, whatever its version
# Else the first CUDA 12 nvcc among $CUDA_HOME/bin, PATH, /usr/local/cuda-12*
# (newest first) and /usr/local/cuda/bin; else any nvcc found there, with a
# note on stderr. Exits 1 when there is none.
#
# PyPI has no CUDA 12 nvcc: the nvidia-cuda-nvcc-cu12 wheels (12.1 to 12.9)
# ship ptxas, libnvvm and libdevice, but neither the nvcc driver nor its
# front end (cudafe++, cicc), so they cannot compile a .cu file.
set -uo pipefail

# The CUDA release of an nvcc ("12.5"), empty if it does not run.
release() { "$1" --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\),.*/\1/p'; }

if [[ -n "${NVCC:-}" ]]; then
  command -v "${NVCC}" || { echo "find_nvcc: NVCC=${NVCC} is not an executable" >&2; exit 1; }
  exit 0
fi

candidates=()
[[ -n "${CUDA_HOME:-}" ]] && candidates+=("${CUDA_HOME}/bin/nvcc")
command -v nvcc >/dev/null && candidates+=("$(command -v nvcc)")
mapfile -t cuda12 < <(ls -d /usr/local/cuda-12*/bin/nvcc 2>/dev/null | sort -rV)
candidates+=("${cuda12[@]}" /usr/local/cuda/bin/nvcc)

fallback=""
for nvcc in "${candidates[@]}"; do
  [[ -x "${nvcc}" ]] || continue
  version=$(release "${nvcc}")
  if [[ "${version}" == 12.* ]]; then
    echo "${nvcc}"
    exit 0
  fi
  [[ -z "${fallback}" && -n "${version}" ]] && fallback="${nvcc}" fallback_version="${version}"
done

if [[ -z "${fallback}" ]]; then
  echo "find_nvcc: no nvcc found (set NVCC=/path/to/nvcc or CUDA_HOME)" >&2
  exit 1
fi
cat >&2 <<EOF
find_nvcc: no CUDA 12 nvcc found; using ${fallback} (CUDA ${fallback_version}).
  Its cubins and PTX target CUDA ${fallback_version%%.*} drivers (CUDA 13 writes cubins with ELF
  ABI version 8, CUDA 12.5 with 7, and PTX ISA 9.0): expect the op's GPU kernel
  to fail to launch on older drivers. To match the wheel's CUDA 12.5, install
  NVIDIA's cuda-nvcc-12-5 and set NVCC=/usr/local/cuda-12.5/bin/nvcc (PyPI's
  nvidia-cuda-nvcc-cu12 has no nvcc).
EOF
echo "${fallback}"
