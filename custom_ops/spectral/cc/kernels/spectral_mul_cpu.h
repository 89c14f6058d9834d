// The CPU spectral_mul product: a register-tiled complex GEMM whose SIMD
// lanes run along K, the innermost axis, so rows of a, b and out are read in
// place with unit stride and nothing is packed or permuted.
//
// For a vector of L = W/2 consecutive k (interleaved re, im floats), a tile
// of TI x TJ outputs accumulates, over r,
//   P += a * b          = (ar*br, ai*bi)
//   Q += a * swap(b)    = (ar*bi, ai*br)
// which costs one shuffle per loaded b and two FMAs per (i, j). Conjugation
// of either operand only flips signs when P and Q are combined at the end:
//   re = P.re + sp * P.im,   im = sq0 * Q.re + sq1 * Q.im.
// The vector code uses GCC/Clang vector extensions, so one template serves
// every instruction set; spectral_mul_kernels.cc compiles it for AVX-512,
// AVX2 and the baseline and picks one at run time.
#ifndef TFCOMPRESS_SPECTRAL_MUL_CPU_H_
#define TFCOMPRESS_SPECTRAL_MUL_CPU_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
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
  // Even floats (re) from e, odd floats (im) from o.
  static TFC_INLINE type Merge(const type& e, const type& o) {
    return MergeImpl(e, o, std::make_index_sequence<W>());
  }

 private:
  template <std::size_t... I>
  static TFC_INLINE type SwapImpl(const type& v, std::index_sequence<I...>) {
    return __builtin_shufflevector(v, v, (I ^ 1)...);
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

// Where one tile sits: rows i0.., j0.., reduction r0..r0+rn, the vector of
// k starting at float koff of which lanes from lane0 on are written, and
// whether to add to out (later reduction blocks) or overwrite it.
struct TileAt {
  int64_t i0, j0, r0, rn, koff;
  int lane0;
  bool accumulate;
};

template <int W, int TI, int TJ>
TFC_INLINE void Tile(const Plan& g, const TileAt& t) {
  typedef Vec<W> V;
  typename V::type p[TI][TJ], q[TI][TJ];
  TFC_UNROLL for (int x = 0; x < TI; ++x) {
    TFC_UNROLL for (int y = 0; y < TJ; ++y) {
      p[x][y] = q[x][y] = typename V::type{};
    }
  }
  const float* ap = g.a + t.i0 * g.sai + t.r0 * g.sar + t.koff;
  const float* bp = g.b + t.j0 * g.sbj + t.r0 * g.sbr + t.koff;
  for (int64_t r = 0; r < t.rn; ++r, ap += g.sar, bp += g.sbr) {
    typename V::type av[TI];
    TFC_UNROLL for (int x = 0; x < TI; ++x) av[x] = V::Load(ap + x * g.sai);
    TFC_UNROLL for (int y = 0; y < TJ; ++y) {
      const typename V::type bv = V::Load(bp + y * g.sbj);
      const typename V::type bs = V::Swap(bv);
      TFC_UNROLL for (int x = 0; x < TI; ++x) {
        p[x][y] += av[x] * bv;
        q[x][y] += av[x] * bs;
      }
    }
  }
  TFC_UNROLL for (int x = 0; x < TI; ++x) {
    TFC_UNROLL for (int y = 0; y < TJ; ++y) {
      typename V::type res =
          V::Merge(p[x][y] + g.sp * V::Swap(p[x][y]),
                   g.sq1 * q[x][y] + g.sq0 * V::Swap(q[x][y]));
      float* o = g.out + (t.i0 + x) * g.soi + (t.j0 + y) * g.soj + t.koff;
      if (t.lane0 == 0) {
        if (t.accumulate) res += V::Load(o);
        V::Store(o, res);
      } else {  // last vector of k overlaps the one before: skip done lanes
        float tmp[W];
        V::Store(tmp, res);
        for (int l = 2 * t.lane0; l < W; ++l) {
          o[l] = t.accumulate ? o[l] + tmp[l] : tmp[l];
        }
      }
    }
  }
}

// A tile of ti x tj <= TI x TJ outputs (edges of i and j).
template <int W, int TI, int TJ>
TFC_INLINE void EdgeTile(int ti, int tj, const Plan& g, const TileAt& t) {
  if constexpr (TI > 1) {
    if (ti < TI) return EdgeTile<W, TI - 1, TJ>(ti, tj, g, t);
  }
  if constexpr (TJ > 1) {
    if (tj < TJ) return EdgeTile<W, TI, TJ - 1>(ti, tj, g, t);
  }
  Tile<W, TI, TJ>(g, t);
}

// Cache blocking. A work unit is one vector of k and a block of at most
// kJBlock columns j (blocks of equal size); it walks i in blocks of kIBlock
// and r in blocks of kRBlock so that the kIBlock x kRBlock rows of a (256 KB
// of 64-byte vectors) stay in L2 while each TJ x kRBlock strip of b stays in
// L1. So b and out are read from memory once and a once per block of j,
// which matters at 64 channels, where the whole product does only about 16
// flops per byte of operands.
constexpr int64_t kJBlock = 64;
constexpr int64_t kIBlock = 64;
constexpr int64_t kRBlock = 64;

inline int64_t CeilDiv(int64_t x, int64_t y) { return (x + y - 1) / y; }

inline int64_t NumJBlocks(const Plan& g) { return CeilDiv(g.j, kJBlock); }

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
  const int64_t r_blocks = std::max<int64_t>(1, CeilDiv(g.r, kRBlock));
  for (int64_t unit = begin; unit < end; ++unit) {
    const int64_t chunk = unit / j_blocks;
    const int64_t j_begin = (unit % j_blocks) * j_block;
    const int64_t j_end = std::min(g.j, j_begin + j_block);
    const int64_t k0 = std::min(chunk * kLanes, g.k - kLanes);
    TileAt t;
    t.koff = 2 * k0;
    t.lane0 = static_cast<int>(chunk * kLanes - k0);
    for (int64_t i_begin = 0; i_begin < g.i; i_begin += kIBlock) {
      const int64_t i_end = std::min(g.i, i_begin + kIBlock);
      for (int64_t rb = 0; rb < r_blocks; ++rb) {
        t.r0 = rb * kRBlock;
        t.rn = std::min(kRBlock, g.r - t.r0);
        t.accumulate = rb > 0;
        for (t.j0 = j_begin; t.j0 < j_end; t.j0 += TJ) {
          const int tj = static_cast<int>(std::min<int64_t>(TJ, j_end - t.j0));
          for (t.i0 = i_begin; t.i0 < i_end; t.i0 += TI) {
            const int ti =
                static_cast<int>(std::min<int64_t>(TI, i_end - t.i0));
            EdgeTile<W, TI, TJ>(ti, tj, g, t);
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
