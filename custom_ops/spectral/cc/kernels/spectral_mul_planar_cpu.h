// The CPU SpectralMulPlanar product (spectral_mul_planar.h): for every
// coefficient, a complex GEMM out(i, j) = sum_r a(i, r) * b(r, j) on planar
// (re, im) operands, with SIMD lanes along j, the contiguous axis of out.
//
// A work unit is one coefficient and a block of kPlanarIBlock rows i. It runs
// register tiles of TI rows x TJ vectors over blocks of kPlanarRBlock
// reduction steps, whose strip of b (16 KB with AVX-512) stays in L1 for
// every tile of rows. The tiles read b in place when its rows are contiguous
// (forward, grad_w) and j is whole tiles; otherwise (grad_x reads w
// transposed) each block of kPlanarJBlock columns is first packed, conjugated
// as asked, into [r][re/im][column], zero past j. A tile broadcasts
// a(i, r) from its place in a (no copy: each row is read at unit or constant
// stride) and accumulates
//   re += ar * br - ai * bi,   im += ar * bi + ai * br,
// four FMAs per vector and row. The vector code uses GCC/Clang vector
// extensions (Vec<W> of spectral_mul_cpu_tile.h), compiled for every
// instruction set by spectral_mul_kernels.cc.
#ifndef TFCOMPRESS_SPECTRAL_MUL_PLANAR_CPU_H_
#define TFCOMPRESS_SPECTRAL_MUL_PLANAR_CPU_H_

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "spectral_mul_cpu_tile.h"
#include "spectral_mul_planar.h"

namespace tensorflow {
namespace functor {
namespace spectral_cpu {

constexpr int64_t kPlanarIBlock = 64;
constexpr int64_t kPlanarJBlock = 64;
constexpr int64_t kPlanarRBlock = 64;

// One call's operands and sizes.
struct PlanarCall {
  const PlanarGemm& g;
  const float* a;
  const float* b;
  float* out;
};

// Work units of a call: one per coefficient and block of kPlanarIBlock rows.
inline int64_t PlanarUnits(const PlanarGemm& g) {
  return g.p * g.q * CeilDiv(g.i, kPlanarIBlock);
}

// Swaps the off-diagonal D x D blocks of every 2D x 2D block of the W x W
// floats v[row][lane]; the stages D = 1, 2, ..., W / 2 transpose it.
template <int W, int D, std::size_t... L>
TFC_INLINE void TransposeStage(typename Vec<W>::type* v,
                               std::index_sequence<L...>) {
  TFC_UNROLL for (int x = 0; x < W; ++x) {
    if (x & D) continue;
    const typename Vec<W>::type a = v[x], b = v[x + D];
    v[x] = __builtin_shufflevector(a, b, ((L & D) ? W + L - D : L)...);
    v[x + D] = __builtin_shufflevector(a, b, ((L & D) ? W + L : L + D)...);
  }
}

template <int W, int D = 1>
TFC_INLINE void Transpose(typename Vec<W>::type* v) {
  TransposeStage<W, D>(v, std::make_index_sequence<W>());
  if constexpr (2 * D < W) Transpose<W, 2 * D>(v);
}

// Copies columns j0 .. j0 + jn - 1 of b at coefficient offset `at` into
// packed [r][re, im][jpad] (conj applied, zeros past jn). When b is read
// transposed (its r contiguous: grad_x's w), whole W x W blocks go through
// registers (Transpose): copied a float at a time, strided, grad_x took
// 1.3-1.4x as long at batch 32 (32x32x64 and 4x4x512, AVX-512).
template <int W>
TFC_INLINE void PackPlanar(const PlanarCall& c, int64_t at, int64_t j0,
                           int64_t jn, int64_t jpad, float* packed) {
  typedef Vec<W> V;
  const PlanarStrides& s = c.g.b;
  const float sign = c.g.conj_b ? -1.0f : 1.0f;
  const float* b = c.b + at + j0 * s.col;
  // Rows below r_whole and columns below j_whole are whole blocks.
  const bool blocks = s.row == 1;
  const int64_t r_whole = blocks ? c.g.r / W * W : 0;
  const int64_t j_whole = blocks ? jn / W * W : 0;
  // Blocks of W columns outermost: each column of b (a row of w) is then read
  // front to back, W streams at a time, which the hardware prefetchers follow.
  for (int64_t j = 0; j < j_whole; j += W) {
    for (int64_t r0 = 0; r0 < r_whole; r0 += W) {
      for (int plane = 0; plane < 2; ++plane) {
        typename V::type v[W];
        const float* src = b + j * s.col + r0 + plane * s.plane;
        TFC_UNROLL for (int x = 0; x < W; ++x) v[x] = V::Load(src + x * s.col);
        Transpose<W>(v);
        float* dst = packed + 2 * r0 * jpad + plane * jpad + j;
        const float f = plane ? sign : 1.0f;
        TFC_UNROLL for (int x = 0; x < W; ++x) {
          V::Store(dst + 2 * x * jpad, f * v[x]);
        }
      }
    }
  }
  for (int64_t r = 0; r < c.g.r; ++r) {
    float* re = packed + 2 * r * jpad;
    float* im = re + jpad;
    const float* src = b + r * s.row;
    for (int64_t j = r < r_whole ? j_whole : 0; j < jn; ++j) {
      re[j] = src[j * s.col];
      im[j] = sign * src[j * s.col + s.plane];
    }
    std::fill(re + jn, re + jpad, 0.0f);
    std::fill(im + jn, im + jpad, 0.0f);
  }
}

// Rows i0 .. i0 + ti - 1 (ti <= TI; the tile computes TI, reading the last
// row again for the missing ones) by TJ vectors of columns from column j of
// out, over reduction steps r0 .. r0 + rn - 1, reading b's real rows at
// b_re + r * b_r, its imaginary rows b_im floats on, conjugated if Conj;
// adds to out unless `first`.
template <int W, int TI, int TJ, bool Conj>
TFC_INLINE void PlanarTile(const PlanarCall& c, int64_t a_at, int64_t out_at,
                           int64_t i0, int ti, int64_t j, const float* b_re,
                           int64_t b_im, int64_t b_r, int64_t r0, int64_t rn,
                           bool first) {
  typedef Vec<W> V;
  typedef typename V::type T;
  const PlanarGemm& g = c.g;
  const float* rows[TI];
  TFC_UNROLL for (int x = 0; x < TI; ++x) {
    rows[x] = c.a + a_at + (i0 + std::min(x, ti - 1)) * g.a.row + r0 * g.a.col;
  }
  T re[TI][TJ], im[TI][TJ];
  TFC_UNROLL for (int x = 0; x < TI; ++x) {
    TFC_UNROLL for (int y = 0; y < TJ; ++y) re[x][y] = im[x][y] = T{};
  }
  const float* bp = b_re + r0 * b_r;
  const int64_t plane = g.a.plane;
  for (int64_t r = 0; r < rn; ++r, bp += b_r) {
    T br[TJ], bi[TJ];
    TFC_UNROLL for (int y = 0; y < TJ; ++y) {
      br[y] = V::Load(bp + y * W);
      bi[y] = V::Load(bp + b_im + y * W);
    }
    TFC_UNROLL for (int x = 0; x < TI; ++x) {
      const float* ap = rows[x] + r * g.a.col;
      // x - 0 is x for every float (unlike x + 0 for -0), so this is a
      // plain broadcast.
      const T ar = ap[0] - T{};
      const T ai = ap[plane] - T{};
      TFC_UNROLL for (int y = 0; y < TJ; ++y) {
        re[x][y] += ar * br[y];
        im[x][y] += ai * br[y];
        if constexpr (Conj) {  // a * conj(b)
          re[x][y] += ai * bi[y];
          im[x][y] -= ar * bi[y];
        } else {
          re[x][y] -= ai * bi[y];
          im[x][y] += ar * bi[y];
        }
      }
    }
  }
  for (int x = 0; x < ti; ++x) {
    float* o = c.out + out_at + (i0 + x) * g.out.row + j;
    TFC_UNROLL for (int y = 0; y < TJ; ++y) {
      const int64_t n = std::min<int64_t>(W, g.j - (j + y * W));
      if (n <= 0) break;
      float* ore = o + y * W;
      float* oim = ore + g.out.plane;
      if (n == W) {
        V::Store(ore, first ? re[x][y] : re[x][y] + V::Load(ore));
        V::Store(oim, first ? im[x][y] : im[x][y] + V::Load(oim));
        continue;
      }
      float tr[W], tm[W];
      V::Store(tr, re[x][y]);
      V::Store(tm, im[x][y]);
      for (int64_t l = 0; l < n; ++l) {
        ore[l] = first ? tr[l] : ore[l] + tr[l];
        oim[l] = first ? tm[l] : oim[l] + tm[l];
      }
    }
  }
}

// The tiles of rows i_begin .. i_end - 1 and columns j0 .. j0 + jn - 1 over
// every reduction step, reading b at b_re (see PlanarTile).
template <int W, int TI, int TJ, bool Conj>
TFC_INLINE void PlanarTiles(const PlanarCall& c, int64_t a_at, int64_t out_at,
                            int64_t i_begin, int64_t i_end, int64_t j0,
                            int64_t jn, const float* b_re, int64_t b_im,
                            int64_t b_r) {
  for (int64_t r0 = 0; r0 < c.g.r; r0 += kPlanarRBlock) {
    const int64_t rn = std::min(kPlanarRBlock, c.g.r - r0);
    for (int64_t i0 = i_begin; i0 < i_end; i0 += TI) {
      const int ti = static_cast<int>(std::min<int64_t>(TI, i_end - i0));
      for (int64_t j = 0; j < jn; j += TJ * W) {
        PlanarTile<W, TI, TJ, Conj>(c, a_at, out_at, i0, ti, j0 + j, b_re + j,
                                    b_im, b_r, r0, rn, r0 == 0);
      }
    }
  }
}

// Runs work units [begin, end) (see PlanarUnits). Where b's rows are
// contiguous and j is whole tiles, the tiles read b in place; otherwise
// blocks of its columns are packed first.
template <int W, int TI, int TJ>
TFC_INLINE void RunPlanarUnits(const PlanarCall& c, int64_t begin,
                               int64_t end) {
  const PlanarGemm& g = c.g;
  constexpr int64_t kTileCols = TJ * W;
  const bool in_place = g.b.col == 1 && g.j % kTileCols == 0;
  const int64_t jblock = std::min(kPlanarJBlock, CeilDiv(g.j, kTileCols) * kTileCols);
  const int64_t jpad = CeilDiv(jblock, kTileCols) * kTileCols;
  float* packed = in_place ? nullptr : ThreadBuffer(2 * std::max<int64_t>(g.r, 1) * jpad);
  const int64_t i_blocks = CeilDiv(g.i, kPlanarIBlock);
  for (int64_t unit = begin; unit < end; ++unit) {
    const int64_t k = unit / i_blocks;
    const int64_t p = k / g.q, q = k % g.q;
    const int64_t i_begin = (unit % i_blocks) * kPlanarIBlock;
    const int64_t i_end = std::min(g.i, i_begin + kPlanarIBlock);
    if (!g.InBand(p, q) && g.out.band != 0) continue;  // dw: no such slot
    const int64_t index = g.BandIndex(p, q);
    const int64_t a_at = g.Offset(g.a, p, q, index);
    const int64_t out_at = g.Offset(g.out, p, q, index);
    const int64_t b_at = g.Offset(g.b, p, q, index);
    if (g.r == 0 || !g.InBand(p, q)) {  // an empty sum, or outside the band
      for (int64_t i = i_begin; i < i_end; ++i) {
        std::fill_n(c.out + out_at + i * g.out.row, g.j, 0.0f);
        std::fill_n(c.out + out_at + i * g.out.row + g.out.plane, g.j, 0.0f);
      }
      continue;
    }
    if (in_place) {
      const float* b = c.b + b_at;
      if (g.conj_b) {
        PlanarTiles<W, TI, TJ, true>(c, a_at, out_at, i_begin, i_end, 0, g.j,
                                     b, g.b.plane, g.b.row);
      } else {
        PlanarTiles<W, TI, TJ, false>(c, a_at, out_at, i_begin, i_end, 0, g.j,
                                      b, g.b.plane, g.b.row);
      }
      continue;
    }
    for (int64_t jb = 0; jb < g.j; jb += jblock) {
      const int64_t jn = std::min(jblock, g.j - jb);
      PackPlanar<W>(c, b_at, jb, jn, jpad, packed);
      PlanarTiles<W, TI, TJ, false>(c, a_at, out_at, i_begin, i_end, jb, jn,
                                    packed, jpad, 2 * jpad);
    }
  }
}

}  // namespace spectral_cpu
}  // namespace functor
}  // namespace tensorflow

#endif  // TFCOMPRESS_SPECTRAL_MUL_PLANAR_CPU_H_
