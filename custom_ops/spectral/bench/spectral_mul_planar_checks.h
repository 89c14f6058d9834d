// Correctness checks of the SpectralMulPlanar CUDA kernel
// (cc/kernels/spectral_mul_planar_gpu.cu.h) against a double-precision CPU
// reference, through the CUDA runtime API only: run on a GPU by
// spectral_mul_bench.cu and on the CPU by spectral_mul_emulated.cc. Each
// case pre-fills the output with NaN (an unwritten element is caught) and
// runs every mode on sizes that give several blocks along i and j and a
// reduction that is not a multiple of the kernel's staging depth.
#ifndef TFCOMPRESS_SPECTRAL_MUL_PLANAR_CHECKS_H_
#define TFCOMPRESS_SPECTRAL_MUL_PLANAR_CHECKS_H_

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "../cc/kernels/spectral_mul_planar_gpu.cu.h"
#include "spectral_mul_checks.h"

namespace spectral_check {

using tensorflow::functor::PlanarGemm;
using tensorflow::functor::PlanarMode;
using tensorflow::functor::PlanarStrides;
using tensorflow::functor::spectral_gpu::LaunchSpectralMulPlanar;

// Element (row, col) of a planar operand with strides s at coefficient
// (p, q) of g.
inline std::complex<double> PlanarAt(const PlanarGemm& g, const float* m,
                                     const PlanarStrides& s, int64_t p,
                                     int64_t q, int64_t row, int64_t col) {
  const float* e =
      m + g.Offset(s, p, q, g.BandIndex(p, q)) + row * s.row + col * s.col;
  return {e[0], e[s.plane]};
}

// Max |got - reference| / max |reference| over every output of g (zero
// outside g's band; dw has no slot there).
inline double PlanarRelativeError(const PlanarGemm& g, const float* a,
                                  const float* b, const float* got) {
  double err = 0.0, scale = 1e-30;
  for (int64_t p = 0; p < g.p; ++p) {
    for (int64_t q = 0; q < g.q; ++q) {
      if (!g.InBand(p, q) && g.out.band != 0) continue;
      for (int64_t i = 0; i < g.i; ++i) {
        for (int64_t j = 0; j < g.j; ++j) {
          std::complex<double> sum = 0.0;
          for (int64_t r = 0; g.InBand(p, q) && r < g.r; ++r) {
            const auto y = PlanarAt(g, b, g.b, p, q, r, j);
            sum += PlanarAt(g, a, g.a, p, q, i, r) *
                   (g.conj_b ? std::conj(y) : y);
          }
          const auto o = PlanarAt(g, got, g.out, p, q, i, j);
          err = std::max(err, std::abs(o - sum));
          scale = std::max(scale, std::abs(sum));
        }
      }
    }
  }
  return err / scale;
}

// Complex pairs of an [n, p, 2, q, l] planar operand (w: [1, K, 2, 1, C F]).
inline size_t PlanarPairs(int64_t n, int64_t p, int64_t q, int64_t l) {
  return static_cast<size_t>(n * p * q * l);
}

// K: the coefficients the band `columns` holds (sum(columns); p x q for the
// whole box, empty columns).
inline int64_t BandSize(const std::vector<int64_t>& columns, int64_t p,
                        int64_t q) {
  int64_t size = columns.empty() ? p * q : 0;
  for (const int64_t count : columns) size += count;
  return size;
}

// `columns` copied to device memory (free with cudaFree); null when empty.
inline int64_t* ColumnsOnDevice(const std::vector<int64_t>& columns) {
  if (columns.empty()) return nullptr;
  int64_t* device_columns = nullptr;
  CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&device_columns),
                        columns.size() * sizeof(int64_t)));
  CUDA_CHECK(cudaMemcpy(device_columns, columns.data(),
                        columns.size() * sizeof(int64_t),
                        cudaMemcpyHostToDevice));
  return device_columns;
}

// One mode at batch n, p x q coefficients, c channels, f filters, over the
// band `columns` (empty: the whole box); prints a line and returns whether
// it passed.
inline bool CheckPlanarMode(PlanarMode mode, const char* name, int64_t n,
                            int64_t p, int64_t q, int64_t c, int64_t f,
                            const std::vector<int64_t>& columns) {
  int64_t* device_columns = ColumnsOnDevice(columns);
  const int64_t band_size = BandSize(columns, p, q);
  PlanarGemm g =
      PlanarGemm::For(mode, n, p, q, c, f, device_columns, band_size);
  const size_t x = PlanarPairs(n, p, q, c), y = PlanarPairs(n, p, q, f),
               w = PlanarPairs(1, band_size, 1, c * f);
  const size_t a_size = mode == PlanarMode::kGradX ? y : x;
  const size_t b_size = mode == PlanarMode::kGradW ? y : w;
  const size_t out_size = mode == PlanarMode::kForward ? y
                          : mode == PlanarMode::kGradX ? x
                                                       : w;
  const auto a = RandomComplex(a_size, 11), b = RandomComplex(b_size, 12);
  DeviceArray da(a), db(b), out(out_size);
  out.FillNaN();
  CUDA_CHECK(LaunchSpectralMulPlanar(g, da.floats(), db.floats(),
                                     out.floats(), nullptr));
  CUDA_CHECK(cudaDeviceSynchronize());
  const auto got = out.ToHost();
  if (device_columns != nullptr) CUDA_CHECK(cudaFree(device_columns));
  g.columns = columns.empty() ? nullptr : columns.data();  // for the reference
  const int64_t non_finite = CountNonFinite(got);
  const double error =
      non_finite ? NAN
                 : PlanarRelativeError(
                       g, reinterpret_cast<const float*>(a.data()),
                       reinterpret_cast<const float*>(b.data()),
                       reinterpret_cast<const float*>(got.data()));
  const bool ok = non_finite == 0 && error < kTolerance;
  std::printf("  %-7s N=%ld P=%ld Q=%ld C=%ld F=%ld %-6s unwritten %ld  "
              "err %.1e%s\n", name, static_cast<long>(n), static_cast<long>(p),
              static_cast<long>(q), static_cast<long>(c), static_cast<long>(f),
              columns.empty() ? "box" : "band", static_cast<long>(non_finite),
              error, ok ? "" : "  FAIL");
  return ok;
}

// A band one coefficient larger than band_size (what the GPU op cannot check,
// its columns being in device memory): forward writes NaN at that last
// coefficient and finite values elsewhere, and grad_w writes all band_size
// rows of dw and nothing past them; returns whether both held.
inline bool CheckPlanarShortBand(int64_t n, int64_t p, int64_t q, int64_t c,
                                 int64_t f, const std::vector<int64_t>& band) {
  const int64_t band_size = BandSize(band, p, q) - 1;
  int64_t* device_columns = ColumnsOnDevice(band);
  const size_t w = PlanarPairs(1, band_size, 1, c * f);
  DeviceArray x(RandomComplex(PlanarPairs(n, p, q, c), 21)),
      dy(RandomComplex(PlanarPairs(n, p, q, f), 22)),
      kernel(RandomComplex(w, 23)), y(PlanarPairs(n, p, q, f)),
      dw(w + static_cast<size_t>(c * f));
  y.FillNaN();
  dw.FillNaN();
  CUDA_CHECK(LaunchSpectralMulPlanar(
      PlanarGemm::For(PlanarMode::kForward, n, p, q, c, f, device_columns,
                      band_size),
      x.floats(), kernel.floats(), y.floats(), nullptr));
  CUDA_CHECK(LaunchSpectralMulPlanar(
      PlanarGemm::For(PlanarMode::kGradW, n, p, q, c, f, device_columns,
                      band_size),
      x.floats(), dy.floats(), dw.floats(), nullptr));
  CUDA_CHECK(cudaDeviceSynchronize());
  CUDA_CHECK(cudaFree(device_columns));
  const auto forward = y.ToHost(), grad_w = dw.ToHost();
  // The last band coefficient: n x f outputs, re and im, of y (counted in
  // floats: planar pairs are not adjacent in memory).
  const int64_t missing = 2 * n * f;
  const float* y_floats = reinterpret_cast<const float*>(forward.data());
  const int64_t y_non_finite = std::count_if(
      y_floats, y_floats + 2 * forward.size(),
      [](float v) { return !std::isfinite(v); });
  const std::vector<cfloat> rows(grad_w.begin(), grad_w.begin() + w);
  const std::vector<cfloat> past(grad_w.begin() + w, grad_w.end());
  const bool ok = y_non_finite == missing && CountNonFinite(rows) == 0 &&
                  CountNonFinite(past) == static_cast<int64_t>(past.size());
  std::printf("  band larger than band_size: forward NaN floats %ld "
              "(expected %ld), grad_w: every row written, none past%s\n",
              static_cast<long>(y_non_finite), static_cast<long>(missing),
              ok ? "" : "  FAIL");
  return ok;
}

// Every mode at (n, p, q, c, f) on the whole box and on a band that skips
// some coefficients of every row but the first (q must be >= 2), plus an
// empty reduction (grad_w at N = 0: zeros) and a band larger than
// band_size; returns the number of failures.
inline int RunPlanarChecks(int64_t n, int64_t p, int64_t q, int64_t c,
                           int64_t f) {
  std::printf("planar (channels-last) checks (NaN-filled outputs; max "
              "relative error)\n");
  std::vector<int64_t> band(p);
  for (int64_t x = 0; x < p; ++x) {
    band[x] = std::max<int64_t>(q - x, 0);
  }
  int failures = 0;
  for (const auto& columns : {std::vector<int64_t>(), band}) {
    failures += !CheckPlanarMode(PlanarMode::kForward, "forward", n, p, q, c,
                                 f, columns);
    failures += !CheckPlanarMode(PlanarMode::kGradX, "grad_x", n, p, q, c, f,
                                 columns);
    failures += !CheckPlanarMode(PlanarMode::kGradW, "grad_w", n, p, q, c, f,
                                 columns);
  }
  failures += !CheckPlanarMode(PlanarMode::kGradW, "grad_w", 0, p, q, c, f,
                               band);
  failures += !CheckPlanarShortBand(n, p, q, c, f, band);
  return failures;
}

}  // namespace spectral_check

#endif  // TFCOMPRESS_SPECTRAL_MUL_PLANAR_CHECKS_H_
