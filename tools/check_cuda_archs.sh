#!/usr/bin/env bash
# Checks that a binary built with --config=cuda holds the GPU code
# third_party/cuda.bzl asks for: SASS for sm_80 and sm_90 and compute_90 PTX.
#
# Usage: PY=.venv/bin/python tools/check_cuda_archs.sh <object, library or executable>
# cuobjdump comes from PATH, else beside nvcc, else from the pinned
# nvidia-cuda-cuobjdump wheel (0.3 MB; PyPI has it for CUDA 13 only, and it
# reads CUDA 12 binaries too), installed with pip into build/cuda_tools/.
set -uo pipefail
binary=${1:?usage: tools/check_cuda_archs.sh <binary>}
[[ -f "${binary}" ]] || { echo "check_cuda_archs: ${binary} does not exist" >&2; exit 1; }
binary=$(readlink -f "${binary}")
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CUOBJDUMP_WHEEL=nvidia-cuda-cuobjdump==13.2.51
TOOLS=build/cuda_tools
WANTED=(sm_80.cubin sm_90.cubin sm_90.ptx)  # cuobjdump names compute_90 PTX sm_90.ptx

cuobjdump=$(command -v cuobjdump)
if [[ -z "${cuobjdump}" && -n "${NVCC:-}" ]]; then
  beside="$(dirname "$(readlink -f "${NVCC}")")/cuobjdump"
  [[ -x "${beside}" ]] && cuobjdump=${beside}
fi
if [[ -z "${cuobjdump}" ]]; then
  cuobjdump=$(ls "${TOOLS}"/nvidia/cu*/bin/cuobjdump 2>/dev/null | head -n 1)
fi
if [[ -z "${cuobjdump}" ]]; then
  py=${PY:-.venv/bin/python}
  [[ -x "${py}" ]] || py=python3
  echo "check_cuda_archs: no cuobjdump; pip install ${CUOBJDUMP_WHEEL} into ${TOOLS}/"
  "${py}" -m pip install --quiet --no-deps --target "${TOOLS}" "${CUOBJDUMP_WHEEL}" \
    || { echo "check_cuda_archs: pip install ${CUOBJDUMP_WHEEL} failed" >&2; exit 1; }
  cuobjdump=$(ls "${TOOLS}"/nvidia/cu*/bin/cuobjdump | head -n 1)
fi

listing=$("${cuobjdump}" --list-elf --list-ptx "${binary}") \
  || { echo "check_cuda_archs: ${cuobjdump} cannot read ${binary}" >&2; exit 1; }
found=$(sed -n 's/.*\.\(sm_[0-9a-z]*\.\(cubin\|ptx\)\)$/\1/p' <<<"${listing}" | sort -u | tr '\n' ' ')
echo "check_cuda_archs: ${binary}: ${found}"
for want in "${WANTED[@]}"; do
  if ! grep -qw "${want}" <<<"${found}"; then
    echo "check_cuda_archs: ${binary} lacks ${want} (wanted ${WANTED[*]})" >&2
    exit 1
  fi
done
