// The CUDA spectral_mul kernel, shared by the TensorFlow GPU functor
// (spectral_mul_kernels.cu.cc) and the standalone harness (bench/), so the
// harness times and checks the very kernel the op runs. No TensorFlow here.
//
// A thread block computes out[i0 : i0+BI, j0 : j0+BJ, k0 : k0+KB]. Threads
// are (KB lanes along k) x (micro-tiles of TI x TJ outputs). For each block
// of RB reduction steps the block stages a[BI rows, RB, KB] and b[BJ rows,
// RB, KB] in shared memory, loaded along k (the contiguous axis, so global
// reads coalesce) with the conjugations applied, then every thread
// accumulates its TI x TJ complex outputs at its lane of k from shared
// memory: TI + TJ shared loads per 4 * TI * TJ FMAs.
#ifndef TFCOMPRESS_SPECTRAL_MUL_GPU_CU_H_
#define TFCOMPRESS_SPECTRAL_MUL_GPU_CU_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "spectral_mul.h"

namespace tensorflow {
namespace functor {
namespace spectral_gpu {

// Tile sizes of one kernel configuration. kPad floats2 pad each shared row
// of KB values so that the micro-tiles that share a warp (when KB < 32)
// read different banks.
template <int KB_, int BI_, int BJ_, int TI_, int TJ_, int RB_, int kPad_>
struct Config {
  static constexpr int KB = KB_, BI = BI_, BJ = BJ_, TI = TI_, TJ = TJ_,
                       RB = RB_, kPad = kPad_;
  static constexpr int kTiles = (BI / TI) * (BJ / TJ);
  static constexpr int kThreads = KB * kTiles;
  static constexpr int kRow = KB + kPad;
};

// Wide along k: K >= 32 with little waste (coalesced 256-byte rows).
typedef Config<32, 16, 16, 4, 8, 4, 0> WideK;
// Narrow along k for small K (the 4x4 and 8x8 layers): 8 lanes, more rows.
typedef Config<8, 32, 32, 4, 8, 4, 2> NarrowK;

// Stages kRows x RB x KB values of one operand into shared memory `dst`
// (zero outside the operand), conjugated when `conj`.
template <typename C, int kRows>
__device__ __forceinline__ void StageTile(float2* dst,
                                          const float2* __restrict__ src,
                                          int64_t row0, int64_t n_rows,
                                          int64_t stride_row,
                                          int64_t stride_r, int64_t r0,
                                          int64_t n_r, int64_t k0, int64_t k,
                                          bool conj, int tid) {
  for (int e = tid; e < C::RB * kRows * C::KB; e += C::kThreads) {
    const int kk = e % C::KB;
    const int row = (e / C::KB) % kRows;
    const int rr = e / (C::KB * kRows);
    const int64_t g_row = row0 + row, g_r = r0 + rr, g_k = k0 + kk;
    float2 v = make_float2(0.0f, 0.0f);
    if (g_row < n_rows && g_r < n_r && g_k < k) {
      v = src[(g_row * stride_row + g_r * stride_r) * k + g_k];
      if (conj) v.y = -v.y;
    }
    dst[(rr * kRows + row) * C::kRow + kk] = v;
  }
}

template <typename C>
__global__ void __launch_bounds__(C::kThreads)
    SpectralMulKernel(SpectralMulDims d, const float2* __restrict__ a,
                      const float2* __restrict__ b, float2* __restrict__ out) {
  __shared__ float2 a_tile[C::RB * C::BI * C::kRow];
  __shared__ float2 b_tile[C::RB * C::BJ * C::kRow];
  const int lane = threadIdx.x;
  const int tile = threadIdx.y;
  const int tid = tile * C::KB + lane;
  const int ti0 = (tile % (C::BI / C::TI)) * C::TI;
  const int tj0 = (tile / (C::BI / C::TI)) * C::TJ;
  const int64_t k0 = static_cast<int64_t>(blockIdx.x) * C::KB;
  const int64_t i0 = static_cast<int64_t>(blockIdx.y) * C::BI;
  const int64_t j0 = static_cast<int64_t>(blockIdx.z) * C::BJ;

  float2 acc[C::TI][C::TJ];
#pragma unroll
  for (int t = 0; t < C::TI; ++t) {
#pragma unroll
    for (int u = 0; u < C::TJ; ++u) acc[t][u] = make_float2(0.0f, 0.0f);
  }
  for (int64_t r0 = 0; r0 < d.r; r0 += C::RB) {
    StageTile<C, C::BI>(a_tile, a, i0, d.i, d.a_stride_i, d.a_stride_r, r0,
                 d.r, k0, d.k, d.conj_a, tid);
    StageTile<C, C::BJ>(b_tile, b, j0, d.j, d.b_stride_j, d.b_stride_r, r0,
                 d.r, k0, d.k, d.conj_b, tid);
    __syncthreads();
#pragma unroll
    for (int rr = 0; rr < C::RB; ++rr) {
      float2 av[C::TI], bv[C::TJ];
#pragma unroll
      for (int t = 0; t < C::TI; ++t) {
        av[t] = a_tile[(rr * C::BI + ti0 + t) * C::kRow + lane];
      }
#pragma unroll
      for (int u = 0; u < C::TJ; ++u) {
        bv[u] = b_tile[(rr * C::BJ + tj0 + u) * C::kRow + lane];
      }
#pragma unroll
      for (int t = 0; t < C::TI; ++t) {
#pragma unroll
        for (int u = 0; u < C::TJ; ++u) {
          acc[t][u].x = fmaf(av[t].x, bv[u].x, acc[t][u].x);
          acc[t][u].x = fmaf(-av[t].y, bv[u].y, acc[t][u].x);
          acc[t][u].y = fmaf(av[t].x, bv[u].y, acc[t][u].y);
          acc[t][u].y = fmaf(av[t].y, bv[u].x, acc[t][u].y);
        }
      }
    }
    __syncthreads();
  }
  const int64_t g_k = k0 + lane;
  if (g_k >= d.k) return;
#pragma unroll
  for (int t = 0; t < C::TI; ++t) {
    const int64_t g_i = i0 + ti0 + t;
#pragma unroll
    for (int u = 0; u < C::TJ; ++u) {
      const int64_t g_j = j0 + tj0 + u;
      if (g_i < d.i && g_j < d.j) out[(g_i * d.j + g_j) * d.k + g_k] = acc[t][u];
    }
  }
}

template <typename C>
cudaError_t LaunchConfig(const SpectralMulDims& d, const float2* a,
                         const float2* b, float2* out, cudaStream_t stream) {
  const int64_t blocks_i = (d.i + C::BI - 1) / C::BI;
  const int64_t blocks_j = (d.j + C::BJ - 1) / C::BJ;
  if (blocks_i > 65535 || blocks_j > 65535) {
    return cudaErrorInvalidConfiguration;  // grid.y and grid.z limits
  }
  const dim3 grid(static_cast<unsigned>((d.k + C::KB - 1) / C::KB),
                  static_cast<unsigned>(blocks_i),
                  static_cast<unsigned>(blocks_j));
  const dim3 block(C::KB, C::kTiles);
  SpectralMulKernel<C><<<grid, block, 0, stream>>>(d, a, b, out);
  return cudaGetLastError();
}

// Launches out = spectral_mul(a, b) with dims `d` on `stream`: the wide
// configuration unless rounding K up to 32 would waste more than 1/8 of it.
inline cudaError_t LaunchSpectralMul(const SpectralMulDims& d, const float2* a,
                                     const float2* b, float2* out,
                                     cudaStream_t stream) {
  if (d.i == 0 || d.j == 0 || d.k == 0) return cudaSuccess;
  const int64_t padded = (d.k + WideK::KB - 1) / WideK::KB * WideK::KB;
  if ((padded - d.k) * 8 <= d.k) {
    return LaunchConfig<WideK>(d, a, b, out, stream);
  }
  return LaunchConfig<NarrowK>(d, a, b, out, stream);
}

}  // namespace spectral_gpu
}  // namespace functor
}  // namespace tensorflow

#endif  // TFCOMPRESS_SPECTRAL_MUL_GPU_CU_H_
