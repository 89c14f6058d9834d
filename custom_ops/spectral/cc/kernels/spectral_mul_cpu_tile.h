// The register tile of the CPU spectral_mul product, shared by its two
// paths: spectral_mul_cpu.h (whole vectors, lanes along k) and
// spectral_mul_cpu_small_k.h (a packed, lanes in row groups).
//
// A vector of W floats holds W/2 complex lanes (interleaved re, im) in
// G = W / (2*C) row groups of C consecutive k: lanes g*C .. g*C + C - 1 are
// row i + g of a at k0 .. k0 + C - 1, and b's C values at (j, r, k0..) are
// broadcast to every group (once per strip of b, by PackStrip). With
// C = W/2 (G = 1) the lanes run along k only; smaller C wastes fewer lanes
// when few k are kept (K = 10 rounds up to 16 lanes of AVX-512 with C = 8, to
// 10 with C = 2).
//
// A tile of TI x TJ vectors (TI*G rows i, TJ columns j) accumulates, over r,
//   P += a * b          = (ar*br, ai*bi)
//   Q += a * swap(b)    = (ar*bi, ai*br)
// which costs one shuffle per loaded b and two FMAs per (vector, j).
// Conjugation of either operand only flips signs when P and Q are combined
// at the end:  re = P.re + sp * P.im,   im = sq0 * Q.re + sq1 * Q.im.
// The vector code uses GCC/Clang vector extensions, so one template serves
// every instruction set; spectral_mul_kernels.cc compiles it for AVX-512,
// AVX2 and the baseline and picks one at run time.
#ifndef TFCOMPRESS_SPECTRAL_MUL_CPU_TILE_H_
#define TFCOMPRESS_SPECTRAL_MUL_CPU_TILE_H_

#include <algorithm>
#include <complex>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>

#include "spectral_mul.h"

#define TFC_INLINE inline __attribute__((always_inline))
// Fully unrolls the loops over a tile so its accumulators live in registers
// (GCC does not at -O2, Bazel's -c opt).
#define TFC_UNROLL _Pragma("GCC unroll 16")

namespace tensorflow {
namespace functor {
namespace spectral_cpu {

// W floats (W/2 complex lanes) held in one GCC/Clang vector.
template <int W>
struct Vec {
  typedef float type __attribute__((vector_size(4 * W)));

  static TFC_INLINE type Load(const float* p) {
    type v;
    std::memcpy(&v, p, sizeof(v));  // unaligned vector load
    return v;
  }
  static TFC_INLINE void Store(float* p, const type& v) {
    std::memcpy(p, &v, sizeof(v));
  }
  // (re, im) -> (im, re) in every lane.
  static TFC_INLINE type Swap(const type& v) {
    return SwapImpl(v, std::make_index_sequence<W>());
  }
  // The C complex values at p, repeated W / (2*C) times. Written in the forms
  // for which GCC emits broadcast loads (other forms go through the stack):
  // a complex value is one 64-bit integer, broadcast by adding it to a zero
  // vector, and two are blended from two such broadcasts.
  template <int C>
  static TFC_INLINE type Broadcast(const float* p) {
    if constexpr (2 * C == W) {
      return Load(p);
    } else if constexpr (C <= 2) {
      typedef int64_t itype __attribute__((vector_size(4 * W)));
      int64_t v[C];
      std::memcpy(v, p, sizeof(v));
      const itype lo = itype{} + v[0];
      if constexpr (C == 1) {
        return reinterpret_cast<type>(lo);
      } else {
        const itype hi = itype{} + v[1];
        const itype odd = OddMask<itype>(std::make_index_sequence<W / 2>());
        return reinterpret_cast<type>((lo & ~odd) | (hi & odd));
      }
    } else {
      return Twice(Vec<W / 2>::template Broadcast<C>(p),
                   std::make_index_sequence<W / 2>());
    }
  }
  // Even floats (re) from e, odd floats (im) from o.
  static TFC_INLINE type Merge(const type& e, const type& o) {
    return MergeImpl(e, o, std::make_index_sequence<W>());
  }

 private:
  template <std::size_t... I>
  static TFC_INLINE type SwapImpl(const type& v, std::index_sequence<I...>) {
    return __builtin_shufflevector(v, v, (I ^ 1)...);
  }
  template <typename T, std::size_t... I>
  static TFC_INLINE T OddMask(std::index_sequence<I...>) {
    return T{-static_cast<int64_t>(I & 1)...};
  }
  template <typename Half, std::size_t... I>
  static TFC_INLINE type Twice(const Half& v, std::index_sequence<I...>) {
    return __builtin_shufflevector(v, v, I..., I...);
  }
  template <std::size_t... I>
  static TFC_INLINE type MergeImpl(const type& e, const type& o,
                                   std::index_sequence<I...>) {
    return __builtin_shufflevector(e, o, ((I & 1) ? I + W : I)...);
  }
};

// One call's operands with strides in floats, and the signs that apply the
// conjugations.
struct Plan {
  const float* a;
  const float* b;
  float* out;
  int64_t i, j, r, k;
  int64_t sai, sar, sbj, sbr;  // operand row strides, floats
  int64_t soi, soj;            // out row strides, floats
  float sp, sq0, sq1;

  explicit Plan(const SpectralMulDims& d, const std::complex<float>* a_in,
                const std::complex<float>* b_in, std::complex<float>* out_in)
      : a(reinterpret_cast<const float*>(a_in)),
        b(reinterpret_cast<const float*>(b_in)),
        out(reinterpret_cast<float*>(out_in)),
        i(d.i), j(d.j), r(d.r), k(d.k),
        sai(2 * d.k * d.a_stride_i), sar(2 * d.k * d.a_stride_r),
        sbj(2 * d.k * d.b_stride_j), sbr(2 * d.k * d.b_stride_r),
        soi(2 * d.k * d.j), soj(2 * d.k),
        sp(d.conj_a != d.conj_b ? 1.0f : -1.0f),
        sq0(d.conj_b ? -1.0f : 1.0f),
        sq1(d.conj_a ? -1.0f : 1.0f) {}
};

// Where one tile sits: rows i0.. (those before i_end are written), columns
// j0.., reduction r0..r0+rn, k from float koff on, of which lanes lane0..C-1
// of each row group are written; a points at the tile's first vector of a
// for r0, a_x and a_r are the float strides between its vectors and per r;
// b at its first vector of b for r0 (in a strip, see PackStrip), b_y and b_r
// the float strides between its columns and per r; accumulate adds to out
// (later reduction blocks) instead of overwriting it.
struct TileAt {
  int64_t i0, i_end, j0, r0, rn, koff;
  int lane0;
  bool accumulate;
  const float* a;
  int64_t a_x, a_r;
  const float* b;
  int64_t b_y, b_r;
};

// Writes (or adds) row group Grp of v (lanes Grp*C .. Grp*C + C - 1) to row
// o + Grp * row_stride of out, if Grp < groups.
template <int W, int C, int Grp, std::size_t... I>
TFC_INLINE void StoreGroup(const typename Vec<W>::type& v, float* o,
                           int64_t row_stride, int64_t groups, bool accumulate,
                           std::index_sequence<I...>) {
  typedef Vec<2 * C> Part;
  if (Grp > 0 && Grp >= groups) return;  // row group 0 is always in i
  float* row = o + Grp * row_stride;
  typename Part::type part =
      __builtin_shufflevector(v, v, (2 * C * Grp + I)...);
  if (accumulate) part += Part::Load(row);
  Part::Store(row, part);
}

template <int W, int C, std::size_t... Grp>
TFC_INLINE void StoreWholeGroups(const typename Vec<W>::type& v, float* o,
                                 int64_t row_stride, int64_t groups,
                                 bool accumulate,
                                 std::index_sequence<Grp...>) {
  (StoreGroup<W, C, Grp>(v, o, row_stride, groups, accumulate,
                         std::make_index_sequence<2 * C>()),
   ...);
}

// Writes (or adds) res, whose lanes are W / (2*C) row groups of C k each, to
// rows o, o + row_stride, ... of out: the first `rows` groups, lanes lane0..C-1.
template <int W, int C>
TFC_INLINE void StoreGroups(const typename Vec<W>::type& res, float* o,
                            int64_t row_stride, int64_t rows, int lane0,
                            bool accumulate) {
  constexpr int kGroups = W / (2 * C);
  if (lane0 == 0) {
    StoreWholeGroups<W, C>(res, o, row_stride, rows, accumulate,
                           std::make_index_sequence<kGroups>());
    return;
  }
  float tmp[W];  // the last chunk of k overlaps the one before:
  Vec<W>::Store(tmp, res);  // skip the lanes already written
  const int groups =
      kGroups == 1 ? 1 : static_cast<int>(std::min<int64_t>(kGroups, rows));
  for (int grp = 0; grp < groups; ++grp) {
    float* row = o + grp * row_stride;
    const float* src = tmp + 2 * C * grp;
    for (int l = 2 * lane0; l < 2 * C; ++l) {
      row[l] = accumulate ? row[l] + src[l] : src[l];
    }
  }
}

// TI x TJ vectors of out.
template <int W, int C, int TI, int TJ>
TFC_INLINE void Tile(const Plan& g, const TileAt& t) {
  typedef Vec<W> V;
  constexpr int kGroups = W / (2 * C);
  typename V::type p[TI][TJ], q[TI][TJ];
  TFC_UNROLL for (int x = 0; x < TI; ++x) {
    TFC_UNROLL for (int y = 0; y < TJ; ++y) {
      p[x][y] = q[x][y] = typename V::type{};
    }
  }
  const float* ap = t.a;
  const float* bp = t.b;
  for (int64_t r = 0; r < t.rn; ++r, ap += t.a_r, bp += t.b_r) {
    typename V::type av[TI];
    TFC_UNROLL for (int x = 0; x < TI; ++x) av[x] = V::Load(ap + x * t.a_x);
    TFC_UNROLL for (int y = 0; y < TJ; ++y) {
      const typename V::type bv = V::Load(bp + y * t.b_y);
      const typename V::type bs = V::Swap(bv);
      TFC_UNROLL for (int x = 0; x < TI; ++x) {
        p[x][y] += av[x] * bv;
        q[x][y] += av[x] * bs;
      }
    }
  }
  TFC_UNROLL for (int x = 0; x < TI; ++x) {
    const int64_t row = t.i0 + x * kGroups;
    TFC_UNROLL for (int y = 0; y < TJ; ++y) {
      const typename V::type res =
          V::Merge(p[x][y] + g.sp * V::Swap(p[x][y]),
                   g.sq1 * q[x][y] + g.sq0 * V::Swap(q[x][y]));
      StoreGroups<W, C>(res, g.out + row * g.soi + (t.j0 + y) * g.soj + t.koff,
                        g.soi, t.i_end - row, t.lane0, t.accumulate);
    }
  }
}

// A tile of ti x tj <= TI x TJ vectors (edges of i and j).
template <int W, int C, int TI, int TJ>
TFC_INLINE void EdgeTile(int ti, int tj, const Plan& g, const TileAt& t) {
  if constexpr (TI > 1) {
    if (ti < TI) return EdgeTile<W, C, TI - 1, TJ>(ti, tj, g, t);
  }
  if constexpr (TJ > 1) {
    if (tj < TJ) return EdgeTile<W, C, TI, TJ - 1>(ti, tj, g, t);
  }
  Tile<W, C, TI, TJ>(g, t);
}

// Cache blocks shared by both paths (see their headers).
constexpr int64_t kJBlock = 64;
constexpr int64_t kIBlock = 64;
constexpr int64_t kRBlock = 64;

// At least n floats, 64-byte aligned, owned by the calling thread and kept
// for its later calls (a buffer allocated per call would fault its pages in
// again each time).
inline float* ThreadBuffer(int64_t n) {
  constexpr int64_t kAlign = 64 / sizeof(float);
  thread_local std::unique_ptr<float[]> buffer;
  thread_local int64_t size = 0;
  if (size < n) {
    buffer.reset(new float[n + kAlign]);
    size = n;
  }
  const auto address = reinterpret_cast<std::uintptr_t>(buffer.get());
  return buffer.get() + (-address / sizeof(float)) % kAlign;
}

// Floats of the strip PackStrip fills for tiles of TJ columns.
template <int W, int TJ>
constexpr int64_t kStripFloats = TJ * kRBlock * W;

// Copies the strip of b that the tiles of columns t->j0 .. t->j0 + tj - 1
// read (C complex values at k from t->koff, reduction steps t->r0 ..
// t->r0 + t->rn - 1) into strip as the vectors the tiles load, [r][j][W
// floats] (the C values repeated to every row group), points t->b at it, and
// prefetches the rows of the next strip. In place, the strip's rows are far
// apart: when b is transposed (both gradients) one reduction step is 2*K*C
// floats, a multiple of 2 or 4 KB at ResNet-18's shapes, so every step falls
// in the same few cache sets and on another page, and each tile of rows i
// would miss again. Packed, the tiles of every i block reuse it from L1, and
// broadcast once (C = 2 takes three instructions with AVX2).
template <int W, int C>
TFC_INLINE void PackStrip(const Plan& g, int tj, float* strip, TileAt* t) {
  typedef Vec<W> V;
  const float* src = g.b + t->j0 * g.sbj + t->r0 * g.sbr + t->koff;
  float* dst = strip;
  for (int64_t r = 0; r < t->rn; ++r, src += g.sbr) {
    for (int y = 0; y < tj; ++y, dst += W) {
      V::Store(dst, V::template Broadcast<C>(src + y * g.sbj));
      __builtin_prefetch(src + (y + tj) * g.sbj);
    }
  }
  t->b = strip;
  t->b_y = W;
  t->b_r = W * tj;
}

inline int64_t CeilDiv(int64_t x, int64_t y) { return (x + y - 1) / y; }

// First k of chunk q of c consecutive k: the last chunk overlaps the one
// before when c does not divide k (requires k >= c).
inline int64_t ChunkK0(const Plan& g, int64_t q, int64_t c) {
  return std::min(q * c, g.k - c);
}

inline int64_t NumJBlocks(const Plan& g) { return CeilDiv(g.j, kJBlock); }

inline int64_t NumRBlocks(const Plan& g) {
  return std::max<int64_t>(1, CeilDiv(g.r, kRBlock));
}

// Points t at reduction block rb: the first overwrites out, later ones add.
inline void AtRBlock(const Plan& g, int64_t rb, TileAt* t) {
  t->r0 = rb * kRBlock;
  t->rn = std::min(kRBlock, g.r - t->r0);
  t->accumulate = rb > 0;
}

}  // namespace spectral_cpu
}  // namespace functor
}  // namespace tensorflow

#endif  // TFCOMPRESS_SPECTRAL_MUL_CPU_TILE_H_
