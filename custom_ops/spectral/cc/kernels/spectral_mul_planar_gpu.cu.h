// The CUDA SpectralMulPlanar kernel (spectral_mul_planar.h), shared by the
// TensorFlow GPU functor (spectral_mul_kernels.cu.cc) and the standalone
// harness (bench/), which also runs it on the CPU through bench/emulation/.
//
// A thread block computes a kBI x kBJ tile of one coefficient's product
// (grid.z runs over the P x Q coefficients; outside the band, zeros, or
// nothing for dw; the band's columns[P] is in device memory). For each block of kRB reduction
// steps it stages a's kBI x kRB and b's kRB x kBJ complex values in shared
// memory (conj(b) applied), each loaded along whichever of its axes is
// contiguous in global memory, so that the reads coalesce in every mode;
// then each of the 256 threads accumulates kTI x kTJ outputs, rows
// ty + 16 t and columns tx + 16 u, and writes them along j, out's contiguous
// axis.
#ifndef TFCOMPRESS_SPECTRAL_MUL_PLANAR_GPU_CU_H_
#define TFCOMPRESS_SPECTRAL_MUL_PLANAR_GPU_CU_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "spectral_mul_planar.h"

namespace tensorflow {
namespace functor {
namespace spectral_gpu {

constexpr int kPlanarThreads = 256;
constexpr int kPlanarTI = 2, kPlanarTJ = 2, kPlanarRB = 16;
constexpr int kPlanarBI = 16 * kPlanarTI, kPlanarBJ = 16 * kPlanarTJ;

// Element (row, col) of one operand at coefficient offset base, as (re, im);
// zero outside rows x cols.
__device__ __forceinline__ float2 PlanarLoad(const float* m,
                                             const PlanarStrides& s,
                                             int64_t row, int64_t col,
                                             int64_t rows, int64_t cols) {
  if (row >= rows || col >= cols) return make_float2(0.0f, 0.0f);
  const float* at = m + row * s.row + col * s.col;
  return make_float2(at[0], at[s.plane]);
}

template <bool kConj>
__global__ void __launch_bounds__(kPlanarThreads)
    SpectralMulPlanarKernel(PlanarGemm g, const float* __restrict__ a,
                            const float* __restrict__ b,
                            float* __restrict__ out) {
  __shared__ float2 a_tile[kPlanarRB][kPlanarBI + 1];
  __shared__ float2 b_tile[kPlanarRB][kPlanarBJ + 1];
  const int64_t p = blockIdx.z / g.q, q = blockIdx.z % g.q;
  // Outside the band the whole block writes zeros, or nothing to dw, which
  // has no such slot (before any barrier). A band coefficient past w's
  // band_size rows (columns larger than band_size, which the op cannot check
  // in device memory) is NaN rather than a read past w.
  const bool in_band = g.InBand(p, q);
  const int64_t index = g.BandIndex(p, q);
  const bool missing = in_band && (index < 0 || index >= g.band_size);
  if ((!in_band || missing) && g.out.band != 0) return;
  const bool compute = in_band && !missing;
  const float* ak = a + (compute ? g.Offset(g.a, p, q, index) : 0);
  const float* bk = b + (compute ? g.Offset(g.b, p, q, index) : 0);
  const int64_t i0 = static_cast<int64_t>(blockIdx.y) * kPlanarBI;
  const int64_t j0 = static_cast<int64_t>(blockIdx.x) * kPlanarBJ;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  // Consecutive threads load consecutive elements of a contiguous axis.
  const bool a_rows_contiguous = g.a.row == 1, b_rows_contiguous = g.b.row == 1;
  const float fill = missing ? nanf("") : 0.0f;
  float2 acc[kPlanarTI][kPlanarTJ];
  for (int t = 0; t < kPlanarTI; ++t) {
    for (int u = 0; u < kPlanarTJ; ++u) acc[t][u] = make_float2(fill, fill);
  }
  for (int64_t r0 = 0; compute && r0 < g.r; r0 += kPlanarRB) {
    for (int e = threadIdx.x; e < kPlanarBI * kPlanarRB; e += kPlanarThreads) {
      const int x = a_rows_contiguous ? e % kPlanarBI : e / kPlanarRB;
      const int y = a_rows_contiguous ? e / kPlanarBI : e % kPlanarRB;
      a_tile[y][x] = PlanarLoad(ak, g.a, i0 + x, r0 + y, g.i, g.r);
    }
    for (int e = threadIdx.x; e < kPlanarRB * kPlanarBJ; e += kPlanarThreads) {
      const int y = b_rows_contiguous ? e % kPlanarRB : e / kPlanarBJ;
      const int x = b_rows_contiguous ? e / kPlanarRB : e % kPlanarBJ;
      float2 v = PlanarLoad(bk, g.b, r0 + y, j0 + x, g.r, g.j);
      if (kConj) v.y = -v.y;
      b_tile[y][x] = v;
    }
    __syncthreads();
    for (int y = 0; y < kPlanarRB; ++y) {
      float2 av[kPlanarTI], bv[kPlanarTJ];
      for (int t = 0; t < kPlanarTI; ++t) av[t] = a_tile[y][ty + 16 * t];
      for (int u = 0; u < kPlanarTJ; ++u) bv[u] = b_tile[y][tx + 16 * u];
      for (int t = 0; t < kPlanarTI; ++t) {
        for (int u = 0; u < kPlanarTJ; ++u) {
          acc[t][u].x = fmaf(av[t].x, bv[u].x, acc[t][u].x);
          acc[t][u].x = fmaf(-av[t].y, bv[u].y, acc[t][u].x);
          acc[t][u].y = fmaf(av[t].x, bv[u].y, acc[t][u].y);
          acc[t][u].y = fmaf(av[t].y, bv[u].x, acc[t][u].y);
        }
      }
    }
    __syncthreads();
  }
  float* o = out + g.Offset(g.out, p, q, index);
  for (int t = 0; t < kPlanarTI; ++t) {
    const int64_t i = i0 + ty + 16 * t;
    for (int u = 0; u < kPlanarTJ; ++u) {
      const int64_t j = j0 + tx + 16 * u;
      if (i < g.i && j < g.j) {
        o[i * g.out.row + j] = acc[t][u].x;
        o[i * g.out.row + j + g.out.plane] = acc[t][u].y;
      }
    }
  }
}

// Launches the product of g on stream (nothing for an empty output); an
// invalid configuration (more than 65535 coefficients or row blocks) is
// reported, not launched.
inline cudaError_t LaunchSpectralMulPlanar(const PlanarGemm& g, const float* a,
                                           const float* b, float* out,
                                           cudaStream_t stream) {
  const int64_t blocks_j = (g.j + kPlanarBJ - 1) / kPlanarBJ;
  const int64_t blocks_i = (g.i + kPlanarBI - 1) / kPlanarBI;
  const int64_t coefficients = g.p * g.q;
  if (blocks_i == 0 || blocks_j == 0 || coefficients == 0) return cudaSuccess;
  if (blocks_i > 65535 || coefficients > 65535 || blocks_j > 2147483647) {
    return cudaErrorInvalidConfiguration;
  }
  const dim3 grid(static_cast<unsigned>(blocks_j),
                  static_cast<unsigned>(blocks_i),
                  static_cast<unsigned>(coefficients));
  // cudaLaunchKernel rather than <<< >>>: plain C++, which bench/emulation
  // runs on the CPU too.
  void* args[] = {const_cast<PlanarGemm*>(&g), &a, &b, &out};
  return cudaLaunchKernel(g.conj_b ? SpectralMulPlanarKernel<true>
                                   : SpectralMulPlanarKernel<false>,
                          grid, dim3(kPlanarThreads), args, 0, stream);
}

}  // namespace spectral_gpu
}  // namespace functor
}  // namespace tensorflow

#endif  // TFCOMPRESS_SPECTRAL_MUL_PLANAR_GPU_CU_H_
