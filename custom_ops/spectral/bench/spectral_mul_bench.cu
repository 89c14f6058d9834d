// Standalone check and timing of the spectral_mul CUDA kernel (no TensorFlow).
//
// It includes the kernel the op runs (cc/kernels/spectral_mul_gpu.cu.h) and
//  1. checks every attribute variant (transpose/conjugate a and b) on small
//     odd shapes, and the forward product at ResNet-18 CIFAR shapes, against
//     a double-precision CPU reference;
//  2. times the forward product x[N,C,K] . conj(w[F,C,K]) -> y[N,F,K] against
//     cublasCgemmStridedBatched and cublasCgemm3mStridedBatched computing the
//     same K products from K-major copies ([K][N][C], [K][F][C]: cuBLAS needs
//     unit stride inside each matrix, which the op's K-innermost layout has
//     not; the copies are made once and not timed).
// Prints GFLOP/s (8*N*C*F*K flops per product) and ours / cuBLAS; exits
// non-zero when a check fails.
//
// Usage: spectral_mul_bench [--batch=32] [--repeats=20]
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <complex>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../cc/kernels/spectral_mul_gpu.cu.h"

using tensorflow::functor::SpectralMulDims;
using tensorflow::functor::spectral_gpu::LaunchSpectralMul;
typedef std::complex<float> cfloat;

#define CUDA_CHECK(call)                                                  \
  do {                                                                    \
    const cudaError_t e = (call);                                         \
    if (e != cudaSuccess) {                                               \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call,   \
                   cudaGetErrorString(e));                                \
      std::exit(2);                                                       \
    }                                                                     \
  } while (0)
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

std::vector<cfloat> RandomComplex(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal;
  std::vector<cfloat> v(n);
  for (auto& z : v) z = cfloat(normal(gen), normal(gen));
  return v;
}

// A device copy of a host vector, freed at scope exit.
struct DeviceArray {
  cfloat* ptr = nullptr;
  size_t size = 0;
  explicit DeviceArray(const std::vector<cfloat>& host) : size(host.size()) {
    CUDA_CHECK(cudaMalloc(&ptr, std::max<size_t>(1, size) * sizeof(cfloat)));
    CUDA_CHECK(cudaMemcpy(ptr, host.data(), size * sizeof(cfloat),
                          cudaMemcpyHostToDevice));
  }
  explicit DeviceArray(size_t n) : size(n) {
    CUDA_CHECK(cudaMalloc(&ptr, std::max<size_t>(1, n) * sizeof(cfloat)));
  }
  ~DeviceArray() { cudaFree(ptr); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  float2* f2() const { return reinterpret_cast<float2*>(ptr); }
  std::vector<cfloat> ToHost() const {
    std::vector<cfloat> host(size);
    CUDA_CHECK(cudaMemcpy(host.data(), ptr, size * sizeof(cfloat),
                          cudaMemcpyDeviceToHost));
    return host;
  }
};

// Largest |got - reference| over the outputs at the k in `ks`, relative to
// the largest |reference| there; reference in double precision.
double RelativeError(const SpectralMulDims& d, const std::vector<cfloat>& a,
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

std::vector<int64_t> AllK(int64_t k) {
  std::vector<int64_t> ks(k);
  for (int64_t x = 0; x < k; ++x) ks[x] = x;
  return ks;
}

// Runs the kernel for a[a0, a1, k], b[b0, b1, k] with the given attributes
// and returns its relative error against the reference.
double CheckVariant(int64_t a0, int64_t a1, int64_t b0, int64_t b1,
                    int64_t k, bool ta, bool tb, bool ca, bool cb) {
  const SpectralMulDims d =
      SpectralMulDims::FromShapes(a0, a1, b0, b1, k, ta, tb, ca, cb);
  const auto a = RandomComplex(a0 * a1 * k, 1);
  const auto b = RandomComplex(b0 * b1 * k, 2);
  DeviceArray da(a), db(b), dout(d.i * d.j * d.k);
  CUDA_CHECK(LaunchSpectralMul(d, da.f2(), db.f2(), dout.f2(), nullptr));
  CUDA_CHECK(cudaDeviceSynchronize());
  return RelativeError(d, a, b, dout.ToHost(), AllK(k));
}

// Median milliseconds of one call of `fn` over `repeats` timed calls.
template <typename Fn>
float MedianMs(Fn fn, int repeats) {
  cudaEvent_t start, stop;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  for (int w = 0; w < 3; ++w) fn();  // warm up
  std::vector<float> ms(repeats);
  for (auto& m : ms) {
    CUDA_CHECK(cudaEventRecord(start));
    fn();
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

// Checks and times one forward shape; returns false when a check fails.
bool BenchForward(cublasHandle_t handle, const Shape& s, int repeats) {
  const SpectralMulDims d = SpectralMulDims::FromShapes(
      s.n, s.c, s.f, s.c, s.k, false, false, false, true);
  const auto x = RandomComplex(s.n * s.c * s.k, 3);
  const auto w = RandomComplex(s.f * s.c * s.k, 4);
  DeviceArray dx(x), dw(w), dy(s.n * s.f * s.k);
  const std::vector<int64_t> ks = {0, 1, s.k / 2, s.k - 2, s.k - 1};

  CUDA_CHECK(LaunchSpectralMul(d, dx.f2(), dw.f2(), dy.f2(), nullptr));
  CUDA_CHECK(cudaDeviceSynchronize());
  const double ours_err = RelativeError(d, x, w, dy.ToHost(), ks);
  const float ours_ms = MedianMs(
      [&] { LaunchSpectralMul(d, dx.f2(), dw.f2(), dy.f2(), nullptr); },
      repeats);

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
  };
  const auto gemm3m = [&] {
    CUBLAS_CHECK(cublasCgemm3mStridedBatched(
        handle, CUBLAS_OP_C, CUBLAS_OP_N, m, n, kk, &one, a_ptr, kk,
        int64_t{kk} * m, b_ptr, kk, int64_t{kk} * n, &zero, c_ptr, m,
        int64_t{m} * n, batch));
  };
  const float gemm_ms = MedianMs(gemm, repeats);
  gemm();
  CUDA_CHECK(cudaDeviceSynchronize());
  // Y_k^T column-major is [k][n][f] row-major: bring it back to [n, f, k].
  const auto yk_host = yk.ToHost();
  std::vector<cfloat> y_cublas(yk_host.size());
  for (int64_t z = 0; z < s.k; ++z) {
    for (int64_t x2 = 0; x2 < s.n * s.f; ++x2) {
      y_cublas[x2 * s.k + z] = yk_host[z * s.n * s.f + x2];
    }
  }
  const double cublas_err = RelativeError(d, x, w, y_cublas, ks);
  const float gemm3m_ms = MedianMs(gemm3m, repeats);

  const double gflop = 8.0 * s.n * s.c * s.f * s.k * 1e-9;
  const float best_ms = std::min(gemm_ms, gemm3m_ms);
  std::printf(
      "%4ld %4ld %4ld %5ld | %9.1f %9.1f %9.1f | %6.2f %6.2f | %.1e %.1e\n",
      static_cast<long>(s.n), static_cast<long>(s.c), static_cast<long>(s.f),
      static_cast<long>(s.k), gflop / ours_ms * 1e3, gflop / gemm_ms * 1e3,
      gflop / gemm3m_ms * 1e3, gemm_ms / ours_ms, best_ms / ours_ms, ours_err,
      cublas_err);
  return ours_err < 1e-5 && cublas_err < 1e-5;
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

  bool ok = true;
  std::printf("variants (I=5 J=7 R=9; K=3, 13, 70): max relative error\n");
  for (int v = 0; v < 16; ++v) {
    const bool ta = v & 1, tb = v & 2, ca = v & 4, cb = v & 8;
    for (int64_t k : {3, 13, 70}) {
      const double err = CheckVariant(ta ? 9 : 5, ta ? 5 : 9, tb ? 9 : 7,
                                      tb ? 7 : 9, k, ta, tb, ca, cb);
      ok = ok && err < 1e-5;
      std::printf("  transpose_a=%d transpose_b=%d conj_a=%d conj_b=%d K=%-3ld"
                  " %.1e%s\n", ta, tb, ca, cb, static_cast<long>(k), err,
                  err < 1e-5 ? "" : "  FAIL");
    }
  }
  const double n1 = CheckVariant(1, 3, 2, 3, 1, false, false, false, true);
  ok = ok && n1 < 1e-5;
  std::printf("  N=1 C=3 F=2 K=1 %.1e\n", n1);

  cublasHandle_t handle;
  CUBLAS_CHECK(cublasCreate(&handle));
  std::printf(
      "\nforward at ResNet-18 CIFAR shapes (GFLOP/s, 8*N*C*F*K flops)\n"
      "   N    C    F     K |      ours    cgemm  cgemm3m | ours/cgemm "
      "ours/best | err ours cublas\n");
  for (int64_t size : {32, 16, 8, 4}) {
    const int64_t channels = 64 * 32 / size;
    for (int64_t fft : {size + 2, int64_t{2} * size}) {  // 3x3, next_power2
      ok = BenchForward(handle, {batch, channels, channels,
                                 fft * (fft / 2 + 1)}, repeats) && ok;
    }
  }
  CUBLAS_CHECK(cublasDestroy(handle));
  std::printf("%s\n", ok ? "all checks passed" : "SOME CHECKS FAILED");
  return ok ? 0 : 1;
}
