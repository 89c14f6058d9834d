// The CPU spectral_mul product, in-place path: for every k, a complex GEMM
//   out[i, j, k] = sum_r a(i, r, k) * b(j, r, k),
// computed by the register tile of spectral_mul_cpu_tile.h with its SIMD
// lanes along K, the innermost axis (C = W/2), so rows of a, b and out are
// read in place with unit stride and nothing is packed or permuted. It is
// the fastest path when K fills whole vectors (or nearly);
// spectral_mul_cpu_small_k.h is the path for the other K, and
// spectral_mul_kernels.cc picks one per call.
//
// Cache blocking. A work unit is one vector of k and a block of at most
// kJBlock columns j (blocks of equal size); it walks i in blocks of kIBlock
// and r in blocks of kRBlock so that the kIBlock x kRBlock rows of a (256 KB
// of 64-byte vectors) stay in L2 while each TJ x kRBlock strip of b stays in
// L1. So b and out are read from memory once and a once per block of j,
// which matters at 64 channels, where the whole product does only about 16
// flops per byte of operands.
#ifndef TFCOMPRESS_SPECTRAL_MUL_CPU_H_
#define TFCOMPRESS_SPECTRAL_MUL_CPU_H_

#include <algorithm>
#include <cstdint>

#include "spectral_mul_cpu_tile.h"

namespace tensorflow {
namespace functor {
namespace spectral_cpu {

// Number of work units for vectors of `lanes` complex values.
inline int64_t NumUnits(const Plan& g, int64_t lanes) {
  return CeilDiv(g.k, lanes) * NumJBlocks(g);
}

// Runs work units [begin, end). Requires k >= W / 2.
template <int W, int TI, int TJ>
TFC_INLINE void RunUnits(const Plan& g, int64_t begin, int64_t end) {
  constexpr int64_t kLanes = W / 2;
  const int64_t j_blocks = NumJBlocks(g);
  const int64_t j_block = CeilDiv(g.j, j_blocks);
  const int64_t r_blocks = NumRBlocks(g);
  for (int64_t unit = begin; unit < end; ++unit) {
    const int64_t chunk = unit / j_blocks;
    const int64_t j_begin = (unit % j_blocks) * j_block;
    const int64_t j_end = std::min(g.j, j_begin + j_block);
    const int64_t k0 = std::min(chunk * kLanes, g.k - kLanes);
    TileAt t;
    t.i_end = g.i;
    t.koff = 2 * k0;
    t.lane0 = static_cast<int>(chunk * kLanes - k0);
    t.a_x = g.sai;
    t.a_r = g.sar;
    for (int64_t i_begin = 0; i_begin < g.i; i_begin += kIBlock) {
      const int64_t i_end = std::min(g.i, i_begin + kIBlock);
      for (int64_t rb = 0; rb < r_blocks; ++rb) {
        AtRBlock(g, rb, &t);
        for (t.j0 = j_begin; t.j0 < j_end; t.j0 += TJ) {
          const int tj = static_cast<int>(std::min<int64_t>(TJ, j_end - t.j0));
          for (t.i0 = i_begin; t.i0 < i_end; t.i0 += TI) {
            const int ti =
                static_cast<int>(std::min<int64_t>(TI, i_end - t.i0));
            t.a = g.a + t.i0 * g.sai + t.r0 * g.sar + t.koff;
            EdgeTile<W, kLanes, TI, TJ>(ti, tj, g, t);
          }
        }
      }
    }
  }
}

}  // namespace spectral_cpu
}  // namespace functor
}  // namespace tensorflow

#endif  // TFCOMPRESS_SPECTRAL_MUL_CPU_H_
