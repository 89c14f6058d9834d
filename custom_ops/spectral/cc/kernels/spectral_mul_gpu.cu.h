// The CUDA spectral_mul kernel, shared by the TensorFlow GPU functor
// (spectral_mul_kernels.cu.cc) and the standalone harness (bench/), so the
// harness times and checks the very kernel the op runs. No TensorFlow here;
// only CUDA runtime API calls, so bench/emulation/ can run it on the CPU.
//
// A thread block computes out[i0 : i0+BI, j0 : j0+BJ, k0 : k0+KB] over one
// range of the reduction axis r. Threads are (KB lanes along k) x
// (micro-tiles of TI x TJ outputs). For each block of RB reduction steps the
// block stages a[BI rows, RB, KB] and b[BJ rows, RB, KB] in shared memory,
// loaded along k (the contiguous axis, so global reads coalesce) with the
// conjugations applied, then every thread accumulates its TI x TJ complex
// outputs at its lane of k from shared memory: TI + TJ shared loads per
// 4 * TI * TJ FMAs.
//
// Split reduction: when the grid has fewer blocks than the GPU holds at once
// (ResNet-18 shapes at batch 32: 32-80 blocks below 32x32, on 132 SMs), the
// r axis is cut into `splits` ranges, one per block along grid.z. Split 0
// writes out, split s > 0 writes its partial sums to workspace[s - 1], and a
// second kernel adds the partials to out in the order s = 1, 2, ...: no
// atomics, so the result is deterministic for a given plan (the plan depends
// on the SM count, so two GPU models may round differently).
#ifndef TFCOMPRESS_SPECTRAL_MUL_GPU_CU_H_
#define TFCOMPRESS_SPECTRAL_MUL_GPU_CU_H_

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "spectral_mul.h"

namespace tensorflow {
namespace functor {
namespace spectral_gpu {

// Tile sizes of one kernel configuration. kPad floats2 pad each shared row
// of KB values so that the micro-tiles that share a warp (when KB < 32)
// read different banks. kMinBlocks blocks of kThreads must fit on one SM:
// __launch_bounds__ then caps registers at 65536 / (kMinBlocks * kThreads).
template <int KB_, int BI_, int BJ_, int TI_, int TJ_, int RB_, int kPad_>
struct Config {
  static constexpr int KB = KB_, BI = BI_, BJ = BJ_, TI = TI_, TJ = TJ_,
                       RB = RB_, kPad = kPad_;
  static constexpr int kTiles = (BI / TI) * (BJ / TJ);
  static constexpr int kThreads = KB * kTiles;
  static constexpr int kRow = KB + kPad;
  static constexpr int kMinBlocks = 2;
};

// Wide along k: K >= 32 with little waste (coalesced 256-byte rows).
typedef Config<32, 16, 16, 4, 8, 4, 0> WideK;
// Narrow along k for small K (the 4x4 and 8x8 layers): 8 lanes, more rows.
typedef Config<8, 32, 32, 4, 8, 4, 2> NarrowK;
static_assert(WideK::kThreads == 256 && NarrowK::kThreads == 256,
              "both configurations are tuned for 256-thread blocks");
static_assert(WideK::RB == NarrowK::RB, "r_chunk is shared by both");

// A split range of r holds at least this many steps (8 shared-memory
// stages), so that the second pass stays small against the product.
constexpr int64_t kMinStepsPerSplit = 8 * WideK::RB;
constexpr int kMaxSplits = 16;

// How one call is launched: the configuration, and the reduction split.
struct SpectralMulPlan {
  bool wide_k;      // WideK, else NarrowK
  int splits;       // ranges of r, one per block along grid.z (1: no split)
  int64_t r_chunk;  // steps of r per split, a multiple of RB

  // Complex values of scratch memory LaunchSpectralMul needs (partial sums
  // of splits 1 .. splits-1); 0 without a split.
  int64_t WorkspaceSize(const SpectralMulDims& d) const {
    return (splits - 1) * d.i * d.j * d.k;
  }
};

// The wide configuration unless rounding K up to 32 wastes more than 1/8.
inline bool UseWideK(int64_t k) {
  const int64_t padded = (k + WideK::KB - 1) / WideK::KB * WideK::KB;
  return (padded - k) * 8 <= k;
}

// Blocks of the unsplit grid (k blocks x i blocks x j blocks).
inline int64_t GridBlocks(const SpectralMulDims& d, bool wide_k) {
  const int kb = wide_k ? WideK::KB : NarrowK::KB;
  const int bi = wide_k ? WideK::BI : NarrowK::BI;
  const int bj = wide_k ? WideK::BJ : NarrowK::BJ;
  return ((d.k + kb - 1) / kb) * ((d.i + bi - 1) / bi) *
         ((d.j + bj - 1) / bj);
}

// A plan that cuts r into about `splits` ranges (fewer when r is short:
// every range is a whole number of RB steps and none is empty).
inline SpectralMulPlan PlanWithSplits(const SpectralMulDims& d, int splits) {
  const int64_t rb = WideK::RB;
  const int64_t wanted = std::max<int64_t>(1, splits);
  const int64_t steps = std::max<int64_t>(1, (d.r + rb - 1) / rb);
  const int64_t chunk = (steps + wanted - 1) / wanted * rb;
  SpectralMulPlan plan;
  plan.wide_k = UseWideK(d.k);
  plan.r_chunk = chunk;
  plan.splits = static_cast<int>(std::max<int64_t>(1, (d.r + chunk - 1) / chunk));
  return plan;
}

// The plan for a GPU with `num_sms` SMs: split r only when the grid would
// not fill the GPU (kMinBlocks blocks per SM), into as many ranges as fill
// it, each of at least kMinStepsPerSplit steps.
inline SpectralMulPlan PlanSpectralMul(const SpectralMulDims& d, int num_sms) {
  const bool wide_k = UseWideK(d.k);
  const int64_t resident = int64_t{WideK::kMinBlocks} * std::max(1, num_sms);
  const int64_t blocks = std::max<int64_t>(1, GridBlocks(d, wide_k));
  const int64_t by_grid = resident / blocks;
  const int64_t by_r = d.r / kMinStepsPerSplit;
  const int64_t splits =
      std::max<int64_t>(1, std::min({by_grid, by_r, int64_t{kMaxSplits}}));
  return PlanWithSplits(d, static_cast<int>(splits));
}

// Stages kRows x RB x KB values of one operand into shared memory `dst`
// (zero outside the operand or past r_end), conjugated when `conj`. Thread
// tid loads lane k0 + tid % KB of rows tid / KB + m * kRowsPerPass (m <
// kRows / kRowsPerPass) at every r0 + rr, rr < RB.
template <typename C, int kRows>
__device__ __forceinline__ void StageTile(float2* dst,
                                          const float2* __restrict__ src,
                                          int64_t row0, int64_t n_rows,
                                          int64_t stride_row,
                                          int64_t stride_r, int64_t r0,
                                          int64_t r_end, int64_t k0, int64_t k,
                                          bool conj, int tid) {
  constexpr int kRowsPerPass = C::kThreads / C::KB;
  static_assert(C::kThreads % C::KB == 0 && kRows % kRowsPerPass == 0,
                "every thread stages whole rows of the tile");
  const int kk = tid % C::KB;
  const int64_t g_k = k0 + kk;
#pragma unroll
  for (int m = 0; m < kRows / kRowsPerPass; ++m) {
    const int row = tid / C::KB + m * kRowsPerPass;
    const int64_t g_row = row0 + row;
    const bool row_ok = g_row < n_rows && g_k < k;
    const float2* src_row = src + g_row * stride_row * k + g_k;
#pragma unroll
    for (int rr = 0; rr < C::RB; ++rr) {
      const int64_t g_r = r0 + rr;
      float2 v = make_float2(0.0f, 0.0f);
      if (row_ok && g_r < r_end) {
        v = src_row[g_r * stride_r * k];
        if (conj) v.y = -v.y;
      }
      dst[(rr * kRows + row) * C::kRow + kk] = v;
    }
  }
}

// out (split 0) or workspace[split - 1] at [i0 : i0+BI, j0 : j0+BJ, k0 :
// k0+KB] = the product over r in [split * r_chunk, (split + 1) * r_chunk).
// grid = (k blocks, i blocks, j blocks * splits), block = (KB, kTiles).
template <typename C>
__global__ void __launch_bounds__(C::kThreads, C::kMinBlocks)
    SpectralMulKernel(SpectralMulDims d, int64_t r_chunk,
                      const float2* __restrict__ a,
                      const float2* __restrict__ b, float2* __restrict__ out,
                      float2* __restrict__ workspace) {
  __shared__ float2 a_tile[C::RB * C::BI * C::kRow];
  __shared__ float2 b_tile[C::RB * C::BJ * C::kRow];
  const int lane = threadIdx.x;
  const int tile = threadIdx.y;
  const int tid = tile * C::KB + lane;
  const int ti0 = (tile % (C::BI / C::TI)) * C::TI;
  const int tj0 = (tile / (C::BI / C::TI)) * C::TJ;
  const unsigned blocks_j = static_cast<unsigned>((d.j + C::BJ - 1) / C::BJ);
  const unsigned split = blockIdx.z / blocks_j;
  const int64_t k0 = static_cast<int64_t>(blockIdx.x) * C::KB;
  const int64_t i0 = static_cast<int64_t>(blockIdx.y) * C::BI;
  const int64_t j0 = static_cast<int64_t>(blockIdx.z % blocks_j) * C::BJ;
  const int64_t r_begin = split * r_chunk;
  const int64_t r_end =
      r_begin + r_chunk < d.r ? r_begin + r_chunk : d.r;  // r = 0: no steps

  float2 acc[C::TI][C::TJ];
#pragma unroll
  for (int t = 0; t < C::TI; ++t) {
#pragma unroll
    for (int u = 0; u < C::TJ; ++u) acc[t][u] = make_float2(0.0f, 0.0f);
  }
  for (int64_t r0 = r_begin; r0 < r_end; r0 += C::RB) {
    StageTile<C, C::BI>(a_tile, a, i0, d.i, d.a_stride_i, d.a_stride_r, r0,
                        r_end, k0, d.k, d.conj_a, tid);
    StageTile<C, C::BJ>(b_tile, b, j0, d.j, d.b_stride_j, d.b_stride_r, r0,
                        r_end, k0, d.k, d.conj_b, tid);
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
  float2* dst = split == 0 ? out : workspace + (split - 1) * d.i * d.j * d.k;
#pragma unroll
  for (int t = 0; t < C::TI; ++t) {
    const int64_t g_i = i0 + ti0 + t;
#pragma unroll
    for (int u = 0; u < C::TJ; ++u) {
      const int64_t g_j = j0 + tj0 + u;
      if (g_i < d.i && g_j < d.j) dst[(g_i * d.j + g_j) * d.k + g_k] = acc[t][u];
    }
  }
}

// Second pass of a split reduction: out[e] += partials[0][e] + ... +
// partials[n_partials - 1][e], in that order.
__global__ void __launch_bounds__(256)
    AddPartialsKernel(int64_t n, int n_partials,
                      const float2* __restrict__ partials,
                      float2* __restrict__ out) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       e < n; e += stride) {
    float2 sum = out[e];
    for (int s = 0; s < n_partials; ++s) {
      const float2 p = partials[s * n + e];
      sum.x += p.x;
      sum.y += p.y;
    }
    out[e] = sum;
  }
}

template <typename C>
cudaError_t LaunchConfig(const SpectralMulDims& d, const SpectralMulPlan& plan,
                         const float2* a, const float2* b, float2* out,
                         float2* workspace, cudaStream_t stream) {
  const int64_t blocks_i = (d.i + C::BI - 1) / C::BI;
  const int64_t blocks_jz = (d.j + C::BJ - 1) / C::BJ * plan.splits;
  if (blocks_i > 65535 || blocks_jz > 65535) {
    return cudaErrorInvalidConfiguration;  // grid.y and grid.z limits
  }
  const dim3 grid(static_cast<unsigned>((d.k + C::KB - 1) / C::KB),
                  static_cast<unsigned>(blocks_i),
                  static_cast<unsigned>(blocks_jz));
  const dim3 block(C::KB, C::kTiles);
  int64_t r_chunk = plan.r_chunk;
  // cudaLaunchKernel rather than <<< >>>: plain C++, so the emulation in
  // bench/emulation/ runs this very launch code.
  void* args[] = {const_cast<SpectralMulDims*>(&d), &r_chunk, &a, &b, &out,
                  &workspace};
  return cudaLaunchKernel(SpectralMulKernel<C>, grid, block, args, 0, stream);
}

// Launches out = spectral_mul(a, b) with dims `d` and `plan` on `stream`.
// `workspace` holds plan.WorkspaceSize(d) complex values (may be null when
// that is 0); it must stay allocated until the stream has run the launch.
inline cudaError_t LaunchSpectralMul(const SpectralMulDims& d,
                                     const SpectralMulPlan& plan,
                                     const float2* a, const float2* b,
                                     float2* out, float2* workspace,
                                     cudaStream_t stream) {
  if (d.i == 0 || d.j == 0 || d.k == 0) return cudaSuccess;
  if (plan.splits < 1 || plan.r_chunk < 1 || plan.r_chunk % WideK::RB != 0 ||
      (plan.splits > 1 && workspace == nullptr)) {
    return cudaErrorInvalidValue;
  }
  const cudaError_t error =
      plan.wide_k
          ? LaunchConfig<WideK>(d, plan, a, b, out, workspace, stream)
          : LaunchConfig<NarrowK>(d, plan, a, b, out, workspace, stream);
  if (error != cudaSuccess || plan.splits == 1) return error;
  int64_t n = d.i * d.j * d.k;
  int n_partials = plan.splits - 1;
  const float2* partials = workspace;
  void* args[] = {&n, &n_partials, &partials, &out};
  const unsigned blocks =
      static_cast<unsigned>(std::min<int64_t>((n + 255) / 256, 4096));
  return cudaLaunchKernel(AddPartialsKernel, dim3(blocks), dim3(256), args, 0,
                          stream);
}

}  // namespace spectral_gpu
}  // namespace functor
}  // namespace tensorflow

#endif  // TFCOMPRESS_SPECTRAL_MUL_GPU_CU_H_
