// The checks of spectral_mul_checks.h run on the CPU: the CUDA kernel's
// code compiled by the host compiler against emulation/cuda_runtime.h (see
// there for what is and is not emulated). Also checks the split plans the op
// would choose at the ResNet-18 CIFAR shapes on an A100 (108 SMs) and an
// H100/H200 (132 SMs), and runs one such shape with its plan.
//
//   make -C custom_ops/spectral/bench emulate
#include <cstdio>

#include "spectral_mul_checks.h"
#include "spectral_mul_planar_checks.h"

namespace {

using spectral_check::AllK;
using spectral_check::Outcome;
using spectral_check::RandomComplex;
using spectral_check::RunAndCompare;
using spectral_check::RunAttributeChecks;
using spectral_check::RunPlanarChecks;
using tensorflow::functor::SpectralMulDims;
using tensorflow::functor::spectral_gpu::GridBlocks;
using tensorflow::functor::spectral_gpu::kMaxSplits;
using tensorflow::functor::spectral_gpu::PlanSpectralMul;
using tensorflow::functor::spectral_gpu::SpectralMulPlan;
using tensorflow::functor::spectral_gpu::WideK;

// The forward product's dims at a ResNet-18 CIFAR layer of size x size
// (3x3 'same' kernel on the layer's default "minimal" FFT grid: size + 1;
// all coefficients kept) for batch n.
SpectralMulDims ResNetForward(int64_t n, int64_t size) {
  const int64_t channels = 64 * 32 / size, fft = size + 1;
  return SpectralMulDims::FromShapes(n, channels, channels, channels,
                                     fft * (fft / 2 + 1), false, false, false,
                                     true);
}

// Plans at the four shapes for batch 32: every split range is non-empty and
// whole RB steps, and a split never makes the grid exceed what the GPU holds
// at once; returns the number of failures.
int CheckPlans() {
  int failures = 0;
  std::printf("split plans (batch 32): SMs size config blocks splits r_chunk\n");
  for (const int sms : {108, 132}) {
    for (const int64_t size : {32, 16, 8, 4}) {
      const SpectralMulDims d = ResNetForward(32, size);
      const SpectralMulPlan p = PlanSpectralMul(d, sms);
      const int64_t blocks = GridBlocks(d, p.wide_k);
      const bool ok = p.splits >= 1 && p.splits <= kMaxSplits &&
                      p.r_chunk % WideK::RB == 0 &&
                      (p.splits - 1) * p.r_chunk < d.r &&
                      d.r <= p.splits * p.r_chunk &&
                      (p.splits == 1 ||
                       blocks * p.splits <= WideK::kMinBlocks * sms);
      failures += !ok;
      std::printf("  %3d %2ldx%-2ld %-6s %4ld %2d %4ld%s\n", sms,
                  static_cast<long>(size), static_cast<long>(size),
                  p.wide_k ? "wide" : "narrow", static_cast<long>(blocks),
                  p.splits, static_cast<long>(p.r_chunk), ok ? "" : "  FAIL");
    }
  }
  return failures;
}

}  // namespace

int main() {
  // I, J > 32 (several blocks along i and j on both configurations), K over
  // two lanes' widths, R = 9 (not a multiple of RB; 3 splits of 4, 4, 1).
  int failures = RunAttributeChecks({33, 35, 9, 13, 64, {1, 3}});
  failures += CheckPlans();
  // SpectralMulPlanar: I, J > 32 (two blocks and an edge), R not a multiple
  // of the staging depth, in every mode.
  failures += RunPlanarChecks(37, 4, 3, 35, 45);

  // The 4x4 layer (C = F = 512, K = 15) at batch 4 with the 132-SM plan.
  const SpectralMulDims d = ResNetForward(4, 4);
  const SpectralMulPlan plan = PlanSpectralMul(d, 132);
  const Outcome o = RunAndCompare(d, plan, RandomComplex(d.i * d.r * d.k, 5),
                                  RandomComplex(d.j * d.r * d.k, 6),
                                  AllK(d.k));
  failures += !o.ok();
  std::printf("4x4 layer, N=4, 132-SM plan (%d splits): unwritten %ld err "
              "%.1e%s\n", plan.splits, static_cast<long>(o.non_finite),
              o.error, o.ok() ? "" : "  FAIL");
  std::printf("%s\n", failures ? "SOME CHECKS FAILED" : "all checks passed");
  return failures ? 1 : 0;
}
