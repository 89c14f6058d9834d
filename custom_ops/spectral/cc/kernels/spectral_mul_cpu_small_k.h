// The CPU spectral_mul product for K that does not fill whole vectors: few
// kept coefficients (K = 10..42 at ResNet-18's 8x8 and 4x4 stages) or K just
// past a multiple of the vector (K = 84).
//
// The whole-vector path (spectral_mul_cpu.h) runs its lanes along k only, so K
// is rounded up to whole vectors (K = 10 fills 16 lanes of AVX-512) and its
// time stops falling with K. Here the tile of spectral_mul_cpu_tile.h runs
// vectors of G row groups of C < W/2 consecutive k: K is rounded up to a
// multiple of C only, and i to a multiple of G.
//
// a is first packed, chunk of C k by chunk, into exactly the vectors the
// tile reads, zero rows past i:
//   packed[chunk][i tile][r][vector][row group][C complex],
// so the tile streams it with unit stride. That copies i*r*K values, a small
// fraction of the i*j*r*K multiply-adds (j >= 64 at ResNet-18's shapes). b
// is copied strip by strip (PackStrip, C values per row, broadcast by the
// tile) and out written in place (C values per row group).
//
// Cache blocking. A work unit is a block of at most kIBlock rows i, kJBlock
// columns j and kKBlock k (fewer k when there are too few blocks to keep
// every thread busy). It walks r in blocks of kRBlock steps; under each, a
// TJ x kRBlock strip of b (the unit's k) stays in L1 while the tile walks
// the unit's chunks of k and i tiles, whose packed vectors (kIBlock x
// kRBlock x kKBlock values) stay in L2. So b and out are read from memory
// once and packed a once per block of j.
#ifndef TFCOMPRESS_SPECTRAL_MUL_CPU_SMALL_K_H_
#define TFCOMPRESS_SPECTRAL_MUL_CPU_SMALL_K_H_

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "spectral_mul_cpu_tile.h"

namespace tensorflow {
namespace functor {
namespace spectral_cpu {

constexpr int64_t kKBlock = 16;

// How one call packs a and splits into work units, for vectors of w floats
// in row groups of c k, i tiles of ti vectors, and at least min_units units
// where k has enough chunks for that.
struct Layout {
  int64_t group;      // C: consecutive k per row group
  int64_t tile_rows;  // ti * W / (2*C): rows of a per i tile
  int64_t step;       // ti * W: packed floats per r step of an i tile
  int64_t chunks;     // ceil(k / C)
  int64_t i_tiles;    // ceil(i / tile_rows)
  int64_t r;
  int64_t i_blocks, j_blocks, j_block, q_blocks, q_block;

  Layout(const Plan& g, int64_t w, int64_t c, int64_t ti, int64_t min_units)
      : group(c), tile_rows(ti * w / (2 * c)), step(ti * w),
        chunks(CeilDiv(g.k, c)), i_tiles(CeilDiv(g.i, tile_rows)), r(g.r),
        i_blocks(CeilDiv(g.i, kIBlock)), j_blocks(NumJBlocks(g)),
        j_block(CeilDiv(g.j, j_blocks)) {
    q_blocks = std::clamp<int64_t>(CeilDiv(min_units, i_blocks * j_blocks), 1,
                                   chunks);
    q_block = std::min(CeilDiv(chunks, q_blocks),
                       std::max<int64_t>(1, kKBlock / c));
    q_blocks = CeilDiv(chunks, q_block);
  }

  int64_t PackedFloats() const { return chunks * i_tiles * r * step; }
  // Packing pieces: one (chunk, i tile) each.
  int64_t NumPieces() const { return chunks * i_tiles; }
  int64_t NumUnits() const { return i_blocks * j_blocks * q_blocks; }
  // First k of chunk q.
  int64_t K0(const Plan& g, int64_t q) const { return ChunkK0(g, q, group); }
  // Offset of the packed vectors of chunk q, i tile it, reduction step r0.
  int64_t Offset(int64_t q, int64_t it, int64_t r0) const {
    return ((q * i_tiles + it) * r + r0) * step;
  }
};

// Packs pieces [begin, end) of a into packed, C complex values at a time.
template <int C>
void PackGroups(const Plan& g, const Layout& lay, float* packed,
                int64_t begin, int64_t end) {
  for (int64_t piece = begin; piece < end; ++piece) {
    const int64_t q = piece / lay.i_tiles, it = piece % lay.i_tiles;
    const float* src = g.a + 2 * lay.K0(g, q);
    float* dst = packed + lay.Offset(q, it, 0);
    for (int64_t r = 0; r < g.r; ++r) {
      for (int64_t v = 0; v < lay.tile_rows; ++v, dst += 2 * C) {
        const int64_t row = it * lay.tile_rows + v;
        if (row < g.i) {
          std::memcpy(dst, src + row * g.sai + r * g.sar,
                      sizeof(float) * 2 * C);
        } else {
          std::memset(dst, 0, sizeof(float) * 2 * C);
        }
      }
    }
  }
}

// Packs pieces [begin, end) of a into packed. lay.group is 1, 2 or 4 (half
// the widest vector).
inline void Pack(const Plan& g, const Layout& lay, float* packed,
                 int64_t begin, int64_t end) {
  if (lay.group == 1) return PackGroups<1>(g, lay, packed, begin, end);
  if (lay.group == 2) return PackGroups<2>(g, lay, packed, begin, end);
  PackGroups<4>(g, lay, packed, begin, end);
}

// Runs work units [begin, end) of vectors of W floats in row groups of C k
// and tiles of TI x TJ vectors, from a packed as lay says.
template <int W, int C, int TI, int TJ>
TFC_INLINE void RunGroupedUnits(const Plan& g, const Layout& lay,
                                const float* packed, int64_t begin,
                                int64_t end) {
  constexpr int64_t kGroups = W / (2 * C);
  static_assert(kIBlock % (TI * kGroups) == 0, "i blocks are whole i tiles");
  const int64_t r_blocks = NumRBlocks(g);
  alignas(64) float strip[kStripFloats<W, TJ>];
  TileAt t;
  t.i_end = g.i;
  t.a_x = W;
  t.a_r = lay.step;
  for (int64_t unit = begin; unit < end; ++unit) {
    const int64_t q_begin = (unit % lay.q_blocks) * lay.q_block;
    const int64_t q_end = std::min(lay.chunks, q_begin + lay.q_block);
    const int64_t ij = unit / lay.q_blocks;
    const int64_t i_begin = (ij / lay.j_blocks) * kIBlock;
    const int64_t i_end = std::min(g.i, i_begin + kIBlock);
    const int64_t j_begin = (ij % lay.j_blocks) * lay.j_block;
    const int64_t j_end = std::min(g.j, j_begin + lay.j_block);
    for (int64_t rb = 0; rb < r_blocks; ++rb) {
      AtRBlock(g, rb, &t);
      for (t.j0 = j_begin; t.j0 < j_end; t.j0 += TJ) {
        const int tj = static_cast<int>(std::min<int64_t>(TJ, j_end - t.j0));
        for (int64_t q = q_begin; q < q_end; ++q) {
          const int64_t k0 = lay.K0(g, q);
          t.koff = 2 * k0;
          t.lane0 = static_cast<int>(q * C - k0);
          PackStrip<W, C>(g, tj, strip, &t);
          for (t.i0 = i_begin; t.i0 < i_end; t.i0 += TI * kGroups) {
            const int ti = static_cast<int>(
                std::min<int64_t>(TI, CeilDiv(i_end - t.i0, kGroups)));
            t.a = packed + lay.Offset(q, t.i0 / (TI * kGroups), t.r0);
            EdgeTile<W, C, TI, TJ>(ti, tj, g, t);
          }
        }
      }
    }
  }
}

}  // namespace spectral_cpu
}  // namespace functor
}  // namespace tensorflow

#endif  // TFCOMPRESS_SPECTRAL_MUL_CPU_SMALL_K_H_
