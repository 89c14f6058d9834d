// The CPU spectral_mul product, whole-vector path: for every k, a complex
// GEMM
//   out[i, j, k] = sum_r a(i, r, k) * b(j, r, k),
// computed by the register tile of spectral_mul_cpu_tile.h with its SIMD
// lanes along K, the innermost axis (C = W/2). It is the fastest path when K
// fills whole vectors (or nearly); spectral_mul_cpu_small_k.h is the path for
// the other K, and spectral_mul_kernels.cc picks one per call.
//
// Memory. Rows of a, b and out are K complex values long (5.3 KB at K = 684)
// and a tile needs a few vectors of k from each of many rows, so reading them
// in place touches one page per row: at 4 KB pages that costs a TLB miss per
// row visited, and the rows of one reduction step of a transposed operand (both
// gradients) are 2*K*C floats apart, a multiple of 2 or 4 KB at ResNet-18's
// shapes, so they also share a few cache sets. Hence a work unit takes
// kUnitBytes of k from each row it visits (two cache lines, several vectors)
// and packs a and b into the order its tiles read them, in L2 and L1.
//
// Cache blocking. A work unit is kUnitBytes of k and a block of at most
// kJBlock columns j (blocks of equal size). It walks i in blocks of
// kBlockRows and r in blocks of kRBlock; for each, it packs those rows of a
// (PackBlock: kBlockRows x kRBlock rows of kUnitBytes, 256 KB, in L2), then
// for each TJ columns packs their strip of b (PackStrip, in L1, prefetching
// the next strip's rows) and runs the tiles of every i and vector of k. So b
// and out are read from memory once and a once per block of j, a row at a
// time for kUnitBytes of k, which matters at 64 channels, where the whole
// product does only about 16 flops per byte of operands.
#ifndef TFCOMPRESS_SPECTRAL_MUL_CPU_H_
#define TFCOMPRESS_SPECTRAL_MUL_CPU_H_

#include <algorithm>
#include <cstdint>

#include "spectral_mul_cpu_tile.h"

namespace tensorflow {
namespace functor {
namespace spectral_cpu {

// Bytes of k that one work unit reads from every row of a, b and out (a
// multiple of the widest vector), and rows i of a per packed block. Measured
// at ResNet-18's shapes with AVX2 and AVX-512: 128 bytes per row took 20-30%
// less time than 64 (one vector of AVX-512) and about as much as 256.
constexpr int64_t kUnitBytes = 128;
constexpr int64_t kBlockRows = 32;

// Vectors of k in one work unit, for vectors of `lanes` complex values.
inline int64_t UnitChunks(int64_t lanes) { return kUnitBytes / (8 * lanes); }

// Number of work units for vectors of `lanes` complex values.
inline int64_t NumUnits(const Plan& g, int64_t lanes) {
  return CeilDiv(CeilDiv(g.k, lanes), UnitChunks(lanes)) * NumJBlocks(g);
}

// Floats of the block PackBlock fills.
constexpr int64_t kBlockFloats = kBlockRows * kRBlock * kUnitBytes / 4;

// Copies the vectors of a that the tiles of rows i_begin .. i_end - 1 read
// for chunks q_begin .. q_end - 1, reduction steps t.r0 .. t.r0 + t.rn - 1,
// into block, [chunk][i tile][r][TI vectors] with chunk_floats per chunk
// (rows past i_end left unset: no tile stores them), so that the tiles of
// every column stream it with unit stride. Each row's chunks are read
// together: whole cache lines.
template <int W, int TI>
TFC_INLINE void PackBlock(const Plan& g, int64_t i_begin, int64_t i_end,
                          int64_t q_begin, int64_t q_end, int64_t chunk_floats,
                          const TileAt& t, float* block) {
  typedef Vec<W> V;
  // The floats of the unit's k in a row, first and last: the lines to fetch
  // kPrefetchSteps reduction steps ahead (rows far apart, so the hardware
  // prefetchers would not).
  constexpr int64_t kPrefetchSteps = 8;
  const int64_t first = 2 * ChunkK0(g, q_begin, W / 2);
  const int64_t last = 2 * ChunkK0(g, q_end - 1, W / 2) + W - 1;
  for (int64_t i0 = i_begin; i0 < i_end; i0 += TI) {
    const int ti = static_cast<int>(std::min<int64_t>(TI, i_end - i0));
    for (int64_t r = 0; r < t.rn; ++r) {
      const float* src = g.a + i0 * g.sai + (t.r0 + r) * g.sar;
      float* dst = block + ((i0 - i_begin) * t.rn + r * TI) * W;
      for (int x = 0; x < ti; ++x) {
        const float* ahead = src + x * g.sai + kPrefetchSteps * g.sar;
        __builtin_prefetch(ahead + first);
        __builtin_prefetch(ahead + last);
        for (int64_t q = q_begin; q < q_end; ++q) {
          V::Store(dst + (q - q_begin) * chunk_floats + x * W,
                   V::Load(src + x * g.sai + 2 * ChunkK0(g, q, W / 2)));
        }
      }
    }
  }
}

// Runs work units [begin, end). Requires k >= W / 2.
template <int W, int TI, int TJ>
TFC_INLINE void RunUnits(const Plan& g, int64_t begin, int64_t end) {
  constexpr int64_t kLanes = W / 2;
  const int64_t unit_chunks = UnitChunks(kLanes);
  const int64_t chunks = CeilDiv(g.k, kLanes);
  const int64_t j_blocks = NumJBlocks(g);
  const int64_t j_block = CeilDiv(g.j, j_blocks);
  const int64_t r_blocks = NumRBlocks(g);
  float* block = ThreadBuffer(kBlockFloats);
  alignas(64) float strip[kStripFloats<W, TJ>];
  TileAt t;
  t.i_end = g.i;
  t.a_x = W;
  t.a_r = TI * W;
  for (int64_t unit = begin; unit < end; ++unit) {
    const int64_t q_begin = (unit / j_blocks) * unit_chunks;
    const int64_t q_end = std::min(chunks, q_begin + unit_chunks);
    const int64_t j_begin = (unit % j_blocks) * j_block;
    const int64_t j_end = std::min(g.j, j_begin + j_block);
    for (int64_t i_begin = 0; i_begin < g.i; i_begin += kBlockRows) {
      const int64_t i_end = std::min(g.i, i_begin + kBlockRows);
      for (int64_t rb = 0; rb < r_blocks; ++rb) {
        AtRBlock(g, rb, &t);
        const int64_t chunk_floats =
            CeilDiv(i_end - i_begin, TI) * TI * t.rn * W;
        PackBlock<W, TI>(g, i_begin, i_end, q_begin, q_end, chunk_floats, t,
                         block);
        for (t.j0 = j_begin; t.j0 < j_end; t.j0 += TJ) {
          const int tj = static_cast<int>(std::min<int64_t>(TJ, j_end - t.j0));
          for (int64_t q = q_begin; q < q_end; ++q) {
            const int64_t k0 = ChunkK0(g, q, kLanes);
            t.koff = 2 * k0;
            t.lane0 = static_cast<int>(q * kLanes - k0);
            PackStrip<W, kLanes>(g, tj, strip, &t);
            const float* a = block + (q - q_begin) * chunk_floats;
            for (t.i0 = i_begin; t.i0 < i_end; t.i0 += TI) {
              const int ti =
                  static_cast<int>(std::min<int64_t>(TI, i_end - t.i0));
              t.a = a + (t.i0 - i_begin) * t.rn * W;
              EdgeTile<W, kLanes, TI, TJ>(ti, tj, g, t);
            }
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
