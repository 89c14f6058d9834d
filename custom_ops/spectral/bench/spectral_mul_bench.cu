// Standalone check and timing of the spectral_mul CUDA kernel (no TensorFlow).
//
// It includes the kernel the op runs (cc/kernels/spectral_mul_gpu.cu.h) and
//  1. runs the checks of spectral_mul_checks.h: every attribute variant
//     (transpose/conjugate a and b) on both kernel configurations (narrow
//     and wide K), multi-block grids, unsplit and with a split reduction,
//     outputs pre-filled with NaN, against a double-precision CPU reference;
//  2. checks and times the forward product x[N,C,K] . conj(w[F,C,K]) ->
//     y[N,F,K] at ResNet-18 CIFAR shapes, with the plan the op would use on
//     this GPU (split reduction from its SM count) and unsplit, against
//     cublasCgemmStridedBatched and cublasCgemm3mStridedBatched computing the
//     same K products from K-major copies ([K][N][C], [K][F][C]: cuBLAS needs
//     unit stride inside each matrix, which the op's K-innermost layout has
//     not; the copies are made once and not timed);
//  3. runs the checks of spectral_mul_planar_checks.h (SpectralMulPlanar,
//     every mode, whole box and band) and times its three modes at the same
//     layers' r = 0.5 boxes and bands, as the layer calls them.
// Every launch, timed ones included, has its return code checked. Prints
// GFLOP/s (8*N*C*F*K flops per product) and ours / cuBLAS; exits non-zero
// when a check fails.
//
// Usage: spectral_mul_bench [--batch=32] [--repeats=20]
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <complex>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "spectral_mul_checks.h"
#include "spectral_mul_planar_checks.h"

using spectral_check::ColumnsOnDevice;
using spectral_check::CountNonFinite;
using spectral_check::DeviceArray;
using spectral_check::Outcome;
using spectral_check::RandomComplex;
using spectral_check::RelativeError;
using spectral_check::RunAndCompare;
using spectral_check::RunAttributeChecks;
using spectral_check::RunPlanarChecks;
using tensorflow::functor::PlanarGemm;
using tensorflow::functor::PlanarMode;
using tensorflow::functor::spectral_gpu::LaunchSpectralMulPlanar;
using spectral_check::cfloat;
using tensorflow::functor::SpectralMulDims;
using tensorflow::functor::spectral_gpu::LaunchSpectralMul;
using tensorflow::functor::spectral_gpu::PlanSpectralMul;
using tensorflow::functor::spectral_gpu::PlanWithSplits;
using tensorflow::functor::spectral_gpu::SpectralMulPlan;

#define CUBLAS_CHECK(call)                                                \
  do {                                                                    \
    const cublasStatus_t s = (call);                                      \
    if (s != CUBLAS_STATUS_SUCCESS) {                                     \
      std::fprintf(stderr, "%s:%d %s: cuBLAS status %d\n", __FILE__,      \
                   __LINE__, #call, static_cast<int>(s));                 \
      std::exit(2);                                                       \
    }                                                                     \
  } while (0)

namespace {

// Median milliseconds of one call of `fn` over `repeats` timed calls; `fn`
// launches and returns the launch's cudaError_t, checked every time.
template <typename Fn>
float MedianMs(Fn fn, int repeats) {
  cudaEvent_t start, stop;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  for (int w = 0; w < 3; ++w) CUDA_CHECK(fn());  // warm up
  std::vector<float> ms(repeats);
  for (auto& m : ms) {
    CUDA_CHECK(cudaEventRecord(start));
    CUDA_CHECK(fn());
    CUDA_CHECK(cudaEventRecord(stop));
    CUDA_CHECK(cudaEventSynchronize(stop));
    CUDA_CHECK(cudaEventElapsedTime(&m, start, stop));
  }
  CUDA_CHECK(cudaEventDestroy(start));
  CUDA_CHECK(cudaEventDestroy(stop));
  std::nth_element(ms.begin(), ms.begin() + repeats / 2, ms.end());
  return ms[repeats / 2];
}

// [rows, cols, k] -> [k, rows, cols].
std::vector<cfloat> KMajor(const std::vector<cfloat>& v, int64_t rows,
                           int64_t cols, int64_t k) {
  std::vector<cfloat> out(v.size());
  for (int64_t x = 0; x < rows * cols; ++x) {
    for (int64_t z = 0; z < k; ++z) out[z * rows * cols + x] = v[x * k + z];
  }
  return out;
}

struct Shape {
  int64_t n, c, f, k;
};

// Checks and times one forward shape on a GPU with `num_sms` SMs; returns
// false when a check fails.
bool BenchForward(cublasHandle_t handle, const Shape& s, int num_sms,
                  int repeats) {
  const SpectralMulDims d = SpectralMulDims::FromShapes(
      s.n, s.c, s.f, s.c, s.k, false, false, false, true);
  const SpectralMulPlan plan = PlanSpectralMul(d, num_sms);
  const SpectralMulPlan unsplit = PlanWithSplits(d, 1);
  const auto x = RandomComplex(s.n * s.c * s.k, 3);
  const auto w = RandomComplex(s.f * s.c * s.k, 4);
  const std::vector<int64_t> ks = {0, 1, s.k / 2, s.k - 2, s.k - 1};
  const Outcome ours = RunAndCompare(d, plan, x, w, ks);
  const Outcome ours_unsplit = RunAndCompare(d, unsplit, x, w, ks);

  DeviceArray dx(x), dw(w), dy(s.n * s.f * s.k),
      workspace(plan.WorkspaceSize(d));
  const auto launch = [&](const SpectralMulPlan& p) {
    return [&, p] {
      return LaunchSpectralMul(d, p, dx.f2(), dw.f2(), dy.f2(),
                               workspace.f2(), nullptr);
    };
  };
  const float ours_ms = MedianMs(launch(plan), repeats);
  const float unsplit_ms = MedianMs(launch(unsplit), repeats);

  // cuBLAS, column-major per k: Y_k^T (F x N) = conj(W_k) (F x C) . X_k^T
  // (C x N), where the K-major copies hold W_k^T (C x F) and X_k^T (C x N).
  DeviceArray xk(KMajor(x, s.n, s.c, s.k)), wk(KMajor(w, s.f, s.c, s.k));
  DeviceArray yk(s.n * s.f * s.k);
  const cuComplex one = make_cuComplex(1.0f, 0.0f),
                  zero = make_cuComplex(0.0f, 0.0f);
  const auto a_ptr = reinterpret_cast<const cuComplex*>(wk.ptr);
  const auto b_ptr = reinterpret_cast<const cuComplex*>(xk.ptr);
  const auto c_ptr = reinterpret_cast<cuComplex*>(yk.ptr);
  const int m = s.f, n = s.n, kk = s.c, batch = s.k;
  const auto gemm = [&] {
    CUBLAS_CHECK(cublasCgemmStridedBatched(
        handle, CUBLAS_OP_C, CUBLAS_OP_N, m, n, kk, &one, a_ptr, kk,
        int64_t{kk} * m, b_ptr, kk, int64_t{kk} * n, &zero, c_ptr, m,
        int64_t{m} * n, batch));
    return cudaGetLastError();
  };
  const auto gemm3m = [&] {
    CUBLAS_CHECK(cublasCgemm3mStridedBatched(
        handle, CUBLAS_OP_C, CUBLAS_OP_N, m, n, kk, &one, a_ptr, kk,
        int64_t{kk} * m, b_ptr, kk, int64_t{kk} * n, &zero, c_ptr, m,
        int64_t{m} * n, batch));
    return cudaGetLastError();
  };
  yk.FillNaN();
  CUDA_CHECK(gemm());
  CUDA_CHECK(cudaDeviceSynchronize());
  // Y_k^T column-major is [k][n][f] row-major: bring it back to [n, f, k].
  const auto yk_host = yk.ToHost();
  std::vector<cfloat> y_cublas(yk_host.size());
  for (int64_t z = 0; z < s.k; ++z) {
    for (int64_t x2 = 0; x2 < s.n * s.f; ++x2) {
      y_cublas[x2 * s.k + z] = yk_host[z * s.n * s.f + x2];
    }
  }
  const Outcome cublas = {CountNonFinite(y_cublas),
                          RelativeError(d, x, w, y_cublas, ks)};
  const float gemm_ms = MedianMs(gemm, repeats);
  const float gemm3m_ms = MedianMs(gemm3m, repeats);

  const double gflop = 8.0 * s.n * s.c * s.f * s.k * 1e-9;
  const float best_ms = std::min(gemm_ms, gemm3m_ms);
  const bool ok = ours.ok() && ours_unsplit.ok() && cublas.ok();
  std::printf(
      "%4ld %4ld %4ld %5ld %6s %2d | %8.1f %8.1f %8.1f %8.1f | %6.2f %6.2f |"
      " %.1e %.1e %.1e%s\n",
      static_cast<long>(s.n), static_cast<long>(s.c), static_cast<long>(s.f),
      static_cast<long>(s.k), plan.wide_k ? "wide" : "narrow", plan.splits,
      gflop / ours_ms * 1e3, gflop / unsplit_ms * 1e3, gflop / gemm_ms * 1e3,
      gflop / gemm3m_ms * 1e3, gemm_ms / ours_ms, best_ms / ours_ms,
      ours.error, ours_unsplit.error, cublas.error, ok ? "" : "  FAIL");
  return ok;
}

// Times SpectralMulPlanar's three modes at batch n on a p x q box with C = F
// = channels, over a band that tapers from q columns in the first row to
// about 1 in the last (like the layer's half disk); prints GFLOP/s over the
// band (8*N*C*F flops per kept coefficient).
void BenchPlanar(int64_t n, int64_t p, int64_t q, int64_t channels,
                 int repeats) {
  std::vector<int64_t> columns(p);
  int64_t kept = 0;
  for (int64_t x = 0; x < p; ++x) {  // a half-disk-like taper from q to 1
    columns[x] = std::max<int64_t>(1, q - x * q / p);
    kept += columns[x];
  }
  int64_t* device_columns = ColumnsOnDevice(columns);
  const size_t x_pairs = n * p * q * channels, w_pairs = kept * channels * channels;
  DeviceArray x(RandomComplex(x_pairs, 7)), w(RandomComplex(w_pairs, 8)),
      y(x_pairs), dw(w_pairs);
  const double gflop = 8.0 * n * channels * channels * kept * 1e-9;
  std::printf("%4ld %3ldx%-3ld %4ld %5ld |", static_cast<long>(n),
              static_cast<long>(p), static_cast<long>(q),
              static_cast<long>(channels), static_cast<long>(kept));
  for (const PlanarMode mode :
       {PlanarMode::kForward, PlanarMode::kGradX, PlanarMode::kGradW}) {
    const PlanarGemm g =
        PlanarGemm::For(mode, n, p, q, channels, channels, device_columns,
                        kept);
    // forward (x, w) -> y; grad_x (y as dy, w) -> x; grad_w (x, y as dy) -> dw.
    const float* a = (mode == PlanarMode::kGradX ? y : x).floats();
    const float* b = (mode == PlanarMode::kGradW ? y : w).floats();
    float* out = (mode == PlanarMode::kForward ? y
                  : mode == PlanarMode::kGradX ? x
                                               : dw).floats();
    const float ms = MedianMs(
        [&] { return LaunchSpectralMulPlanar(g, a, b, out, nullptr); },
        repeats);
    std::printf(" %8.1f", gflop / ms * 1e3);
  }
  std::printf("\n");
  CUDA_CHECK(cudaFree(device_columns));
}

long FlagValue(int argc, char** argv, const char* name, long fallback) {
  const std::string prefix = std::string("--") + name + "=";
  for (int x = 1; x < argc; ++x) {
    if (std::strncmp(argv[x], prefix.c_str(), prefix.size()) == 0) {
      return std::strtol(argv[x] + prefix.size(), nullptr, 10);
    }
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const long batch = FlagValue(argc, argv, "batch", 32);
  const int repeats = static_cast<int>(FlagValue(argc, argv, "repeats", 20));
  if (batch < 1 || repeats < 1) {
    std::fprintf(stderr, "--batch and --repeats must be >= 1, got %ld, %d\n",
                 batch, repeats);
    return 2;
  }
  cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s\n", prop.name);

  // I, J > 32 and K over two lanes' widths: several blocks along every axis
  // on both configurations; R = 41 is not a multiple of RB, and 3 splits
  // leave a short last range.
  bool ok = RunAttributeChecks({37, 45, 41, 13, 64, {1, 3}}) == 0;

  cublasHandle_t handle;
  CUBLAS_CHECK(cublasCreate(&handle));
  std::printf(
      "\nforward at ResNet-18 CIFAR shapes on %d SMs (GFLOP/s, 8*N*C*F*K "
      "flops; ours with the op's plan, and unsplit)\n"
      "   N    C    F     K config splits |  ours  unsplit  cgemm  cgemm3m |"
      " ours/cgemm ours/best | err ours unsplit cublas\n",
      prop.multiProcessorCount);
  for (int64_t size : {32, 16, 8, 4}) {
    const int64_t channels = 64 * 32 / size;
    // 3x3 'same' on the layer's default "minimal" grid, and with next_power2.
    for (int64_t fft : {size + 1, int64_t{2} * size}) {
      ok = BenchForward(handle, {batch, channels, channels,
                                 fft * (fft / 2 + 1)},
                        prop.multiProcessorCount, repeats) && ok;
    }
  }
  CUBLAS_CHECK(cublasDestroy(handle));

  std::printf("\n");
  ok = RunPlanarChecks(37, 4, 3, 35, 45) == 0 && ok;
  std::printf(
      "\nSpectralMulPlanar at the r = 0.5 boxes of ResNet-18 CIFAR layers "
      "(GFLOP/s over the band)\n"
      "   N   box    C  band |  forward   grad_x   grad_w\n");
  // The separable boxes of the default grid at r = 0.5 (see
  // transforms.separable_box): 27x14, 13x7, 7x4, 5x3.
  const int64_t boxes[][3] = {{27, 14, 64}, {13, 7, 128}, {7, 4, 256},
                              {5, 3, 512}};
  for (const auto& box : boxes) {
    BenchPlanar(batch, box[0], box[1], box[2], repeats);
  }
  std::printf("%s\n", ok ? "all checks passed" : "SOME CHECKS FAILED");
  return ok ? 0 : 1;
}
