// Correctness checks of the spectral_mul CUDA kernel against a
// double-precision CPU reference, through the CUDA runtime API only: the GPU
// harness (spectral_mul_bench.cu) runs them on a GPU, and
// spectral_mul_emulated.cc runs them with the CPU emulation of
// emulation/cuda_runtime.h.
//
// Every case pre-fills the output and the workspace with NaN, so an output
// element the kernel does not write is caught, and covers all 16 attribute
// combinations (transpose/conjugate a and b) on both kernel configurations
// (narrow and wide K), with grids of several blocks along k, i and j and a
// reduction length that is not a multiple of RB, unsplit and split.
#ifndef TFCOMPRESS_SPECTRAL_MUL_CHECKS_H_
#define TFCOMPRESS_SPECTRAL_MUL_CHECKS_H_

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "../cc/kernels/spectral_mul_gpu.cu.h"

#define CUDA_CHECK(call)                                                  \
  do {                                                                    \
    const cudaError_t e = (call);                                         \
    if (e != cudaSuccess) {                                               \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call,   \
                   cudaGetErrorString(e));                                \
      std::exit(2);                                                       \
    }                                                                     \
  } while (0)

namespace spectral_check {

using tensorflow::functor::SpectralMulDims;
using tensorflow::functor::spectral_gpu::LaunchSpectralMul;
using tensorflow::functor::spectral_gpu::PlanWithSplits;
using tensorflow::functor::spectral_gpu::SpectralMulPlan;
typedef std::complex<float> cfloat;

// Relative error a case must stay under (float sums of up to ~512 terms
// against a double reference).
constexpr double kTolerance = 1e-5;

inline std::vector<cfloat> RandomComplex(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal;
  std::vector<cfloat> v(n);
  for (auto& z : v) z = cfloat(normal(gen), normal(gen));
  return v;
}

// A device array of complex values, freed at scope exit.
struct DeviceArray {
  cfloat* ptr = nullptr;
  size_t size = 0;
  explicit DeviceArray(size_t n) : size(n) {
    CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&ptr),
                          std::max<size_t>(1, n) * sizeof(cfloat)));
  }
  explicit DeviceArray(const std::vector<cfloat>& host)
      : DeviceArray(host.size()) {
    CUDA_CHECK(cudaMemcpy(ptr, host.data(), size * sizeof(cfloat),
                          cudaMemcpyHostToDevice));
  }
  ~DeviceArray() { cudaFree(ptr); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  float2* f2() const { return reinterpret_cast<float2*>(ptr); }
  // The values as floats: what the planar kernel reads and writes.
  float* floats() const { return reinterpret_cast<float*>(ptr); }
  // Every float becomes NaN (all bits set), the "not written" sentinel.
  void FillNaN() const {
    CUDA_CHECK(cudaMemset(ptr, 0xFF, size * sizeof(cfloat)));
  }
  std::vector<cfloat> ToHost() const {
    std::vector<cfloat> host(size);
    CUDA_CHECK(cudaMemcpy(host.data(), ptr, size * sizeof(cfloat),
                          cudaMemcpyDeviceToHost));
    return host;
  }
};

// Outputs that are NaN or infinite: left unwritten (sentinel) or broken.
inline int64_t CountNonFinite(const std::vector<cfloat>& v) {
  return std::count_if(v.begin(), v.end(), [](const cfloat& z) {
    return !std::isfinite(z.real()) || !std::isfinite(z.imag());
  });
}

// Largest |got - reference| over the outputs at the k in `ks`, relative to
// the largest |reference| there; reference in double precision. Callers
// check CountNonFinite first: a NaN never raises this maximum.
inline double RelativeError(const SpectralMulDims& d,
                            const std::vector<cfloat>& a,
                            const std::vector<cfloat>& b,
                            const std::vector<cfloat>& got,
                            const std::vector<int64_t>& ks) {
  double err = 0.0, scale = 1e-30;
  for (int64_t i = 0; i < d.i; ++i) {
    for (int64_t j = 0; j < d.j; ++j) {
      for (int64_t k : ks) {
        std::complex<double> sum = 0.0;
        for (int64_t r = 0; r < d.r; ++r) {
          std::complex<double> x =
              a[(i * d.a_stride_i + r * d.a_stride_r) * d.k + k];
          std::complex<double> y =
              b[(j * d.b_stride_j + r * d.b_stride_r) * d.k + k];
          sum += (d.conj_a ? std::conj(x) : x) * (d.conj_b ? std::conj(y) : y);
        }
        const std::complex<double> g = got[(i * d.j + j) * d.k + k];
        err = std::max(err, std::abs(g - sum));
        scale = std::max(scale, std::abs(sum));
      }
    }
  }
  return err / scale;
}

inline std::vector<int64_t> AllK(int64_t k) {
  std::vector<int64_t> ks(k);
  for (int64_t x = 0; x < k; ++x) ks[x] = x;
  return ks;
}

// Outcome of one launch against the reference.
struct Outcome {
  int64_t non_finite;
  double error;
  bool ok() const { return non_finite == 0 && error < kTolerance; }
};

// Runs the kernel with `plan` into NaN-filled out and workspace, checks
// every output is written, and compares those at `ks` with the reference.
inline Outcome RunAndCompare(const SpectralMulDims& d,
                             const SpectralMulPlan& plan,
                             const std::vector<cfloat>& a,
                             const std::vector<cfloat>& b,
                             const std::vector<int64_t>& ks) {
  DeviceArray da(a), db(b), out(d.i * d.j * d.k),
      workspace(plan.WorkspaceSize(d));
  out.FillNaN();
  workspace.FillNaN();
  CUDA_CHECK(LaunchSpectralMul(d, plan, da.f2(), db.f2(), out.f2(),
                               workspace.f2(), nullptr));
  CUDA_CHECK(cudaDeviceSynchronize());
  const std::vector<cfloat> got = out.ToHost();
  const int64_t non_finite = CountNonFinite(got);
  return {non_finite, non_finite ? NAN : RelativeError(d, a, b, got, ks)};
}

// Sizes of the attribute checks: a is [I, R, K] ([R, I, K] transposed), b
// is [J, R, K] ([R, J, K]). Each K must select the configuration named
// beside it (checked), and I, J, K should give several blocks per axis.
struct CheckSizes {
  int64_t i, j, r;
  int64_t narrow_k, wide_k;
  std::vector<int> splits;  // plans to try, e.g. {1, 3}
};

// One attribute combination on one configuration with one split; prints a
// line and returns whether it passed.
inline bool CheckCase(const CheckSizes& s, int64_t k, bool wide, int splits,
                      bool ta, bool tb, bool ca, bool cb) {
  const SpectralMulDims d = SpectralMulDims::FromShapes(
      ta ? s.r : s.i, ta ? s.i : s.r, tb ? s.r : s.j, tb ? s.j : s.r, k, ta,
      tb, ca, cb);
  const SpectralMulPlan plan = PlanWithSplits(d, splits);
  const auto a = RandomComplex(s.i * s.r * k, 1);
  const auto b = RandomComplex(s.j * s.r * k, 2);
  const Outcome o = RunAndCompare(d, plan, a, b, AllK(k));
  const bool path_ok = plan.wide_k == wide && plan.splits == splits;
  const bool ok = o.ok() && path_ok;
  std::printf("  %-6s K=%-3ld splits=%d  transpose_a=%d transpose_b=%d "
              "conj_a=%d conj_b=%d  unwritten %ld  err %.1e%s%s\n",
              wide ? "wide" : "narrow", static_cast<long>(k), plan.splits, ta,
              tb, ca, cb, static_cast<long>(o.non_finite), o.error,
              path_ok ? "" : "  (wrong path)", ok ? "" : "  FAIL");
  return ok;
}

// All 16 attribute combinations x {narrow, wide} x s.splits, plus the edge
// cases (K=1, an empty reduction); returns the number of failures.
inline int RunAttributeChecks(const CheckSizes& s) {
  std::printf("attribute checks: I=%ld J=%ld R=%ld, narrow K=%ld, wide K=%ld"
              " (NaN-filled outputs; max relative error)\n",
              static_cast<long>(s.i), static_cast<long>(s.j),
              static_cast<long>(s.r), static_cast<long>(s.narrow_k),
              static_cast<long>(s.wide_k));
  int failures = 0;
  for (const bool wide : {false, true}) {
    for (const int splits : s.splits) {
      for (int v = 0; v < 16; ++v) {
        const bool ta = v & 1, tb = v & 2, ca = v & 4, cb = v & 8;
        failures += !CheckCase(s, wide ? s.wide_k : s.narrow_k, wide, splits,
                               ta, tb, ca, cb);
      }
    }
  }
  const struct {
    const char* name;
    int64_t a0, a1, b0, b1, k;
  } edges[] = {{"N=1 C=3 F=2 K=1", 1, 3, 2, 3, 1},
               {"N=5 C=0 F=7 K=13 (empty sum: zeros)", 5, 0, 7, 0, 13}};
  for (const auto& e : edges) {
    const SpectralMulDims d = SpectralMulDims::FromShapes(
        e.a0, e.a1, e.b0, e.b1, e.k, false, false, false, true);
    const Outcome o =
        RunAndCompare(d, PlanWithSplits(d, 1), RandomComplex(e.a0 * e.a1 * e.k, 3),
                      RandomComplex(e.b0 * e.b1 * e.k, 4), AllK(e.k));
    failures += !o.ok();
    std::printf("  %s  unwritten %ld  err %.1e%s\n", e.name,
                static_cast<long>(o.non_finite), o.error, o.ok() ? "" : "  FAIL");
  }
  return failures;
}

}  // namespace spectral_check

#endif  // TFCOMPRESS_SPECTRAL_MUL_CHECKS_H_
