// The channels-last spectral product, SpectralMulPlanar, shared by its CPU
// kernel, its CUDA kernel and the standalone CUDA harness (no TensorFlow
// header here).
//
// A spectrum is float32 and channels-last, with real and imaginary parts in
// two planes: x[N, P, 2, Q, C] holds x(n, k, c) for the P x Q coefficients
// k = (p, q) as x[n, p, 0, q, c] + i x[n, p, 1, q, c]. That is the layout in
// which GEMMs on a channels-last (NHWC) input write a separable DFT, rows of
// (frequency, re/im) by columns of (frequency, channel), so that the layer
// needs no transpose between NHWC and a channels-first spectrum. The kernel's
// spectrum is w[K, 2, C, F] (see the band below). Three modes, each a complex GEMM per
// coefficient, close the product under differentiation:
//
//   forward: y[n, k, f]  = sum_c x[n, k, c] * conj(w[k, c, f])   [N,P,2,Q,F]
//   grad_x:  dx[n, k, c] = sum_f dy[n, k, f] * w[k, c, f]        [N,P,2,Q,C]
//   grad_w:  dw[k, c, f] = sum_n x[n, k, c] * conj(dy[n, k, f])  [K,2,C,F]
//
// Every mode is one generic product, out_k(i, j) = sum_r a_k(i, r) b_k(r, j)
// (b conjugated when conj_b), with strides that read each operand in place.
//
// The band: with columns[P] given, only the coefficients q < columns[p] of
// each row p are computed; the forward and grad_x modes write zeros at the
// others (the product of operands that are zero outside the band, whose
// gradients are products over the same band). A layer's band is a half disk:
// its box of rows x columns holds about 4/pi of it, which this skips.
//
// The kernel's spectrum w, and dw, hold only the coefficients that are
// computed: w[K, 2, C, F], the band's K coefficients (all P x Q without
// columns) in row-major order, coefficient (p, q) at row
// columns[0] + ... + columns[p - 1] + q. So the kernel's DFT, grad_w and the
// DFT's backward pass never touch the box's corners, and what backward keeps
// of w is the band.
#ifndef TFCOMPRESS_SPECTRAL_MUL_PLANAR_H_
#define TFCOMPRESS_SPECTRAL_MUL_PLANAR_H_

#include <cstdint>

// The index helpers below run in CUDA kernels too.
#ifdef __CUDACC__
#define TFC_PLANAR_HOST_DEVICE __host__ __device__
#else
#define TFC_PLANAR_HOST_DEVICE
#endif

namespace tensorflow {
namespace functor {

enum class PlanarMode { kForward, kGradX, kGradW };

// Float strides of one operand of the per-coefficient product: element
// (row, col) of coefficient (p, q) has its real part at
// row * row + col * col + p * p + q * q + band * (its row in w, see above),
// its imaginary part plane floats on. An operand laid out like w (band != 0)
// has no element outside the band.
struct PlanarStrides {
  int64_t row, col, p, q, band, plane;
};

// Sizes and strides of one SpectralMulPlanar call: for every coefficient
// (p, q), out(i, j) = sum_r a(i, r) * b(r, j) (conj(b) when conj_b). out's
// col stride is 1 in every mode, which the kernels rely on.
struct PlanarGemm {
  int64_t i, j, r, p, q;
  PlanarStrides a, b, out;
  bool conj_b;
  // K: the coefficients w and dw hold (the band's, or P x Q).
  int64_t band_size;
  // Coefficients computed per row p (see the band above); null: all q. In
  // the memory of the device that runs the kernel (int64, which TensorFlow
  // keeps in GPU memory for a GPU kernel, unlike int32).
  const int64_t* columns = nullptr;

  TFC_PLANAR_HOST_DEVICE bool InBand(int64_t p_at, int64_t q_at) const {
    return columns == nullptr || q_at < columns[p_at];
  }

  // The row of coefficient (p_at, q_at) in w and dw (meaningful in the band).
  TFC_PLANAR_HOST_DEVICE int64_t BandIndex(int64_t p_at, int64_t q_at) const {
    if (columns == nullptr) return p_at * q + q_at;
    int64_t index = q_at;
    for (int64_t row = 0; row < p_at; ++row) index += columns[row];
    return index;
  }

  // Where coefficient (p_at, q_at), at row band_index of w (BandIndex, found
  // once per coefficient by the caller), of an operand with strides s starts.
  TFC_PLANAR_HOST_DEVICE static int64_t Offset(const PlanarStrides& s,
                                               int64_t p_at, int64_t q_at,
                                               int64_t band_index) {
    return p_at * s.p + q_at * s.q + band_index * s.band;
  }

  // The strides of a spectrum [M, P, 2, Q, L] (batch layout: x, y, dx, dy)
  // and [K, 2, M, L] (band layout: w, dw), read as (m, l) matrices.
  static PlanarStrides Batch(int64_t p, int64_t q, int64_t l) {
    return {p * 2 * q * l, 1, 2 * q * l, l, 0, q * l};
  }
  static PlanarStrides Band(int64_t m, int64_t l) {
    return {l, 1, 0, 0, 2 * m * l, m * l};
  }
  static PlanarStrides Transposed(PlanarStrides s) {
    const int64_t row = s.row;
    s.row = s.col;
    s.col = row;
    return s;
  }

  // The product of `mode` for batch n, coefficients p x q, c input channels
  // and f filters, over the band `columns` (null: the whole box) of
  // band_size coefficients.
  static PlanarGemm For(PlanarMode mode, int64_t n, int64_t p, int64_t q,
                        int64_t c, int64_t f, const int64_t* columns,
                        int64_t band_size) {
    const PlanarStrides x = Batch(p, q, c), y = Batch(p, q, f),
                        w = Band(c, f);
    switch (mode) {
      case PlanarMode::kForward:  // (n, c) . conj((c, f)) -> (n, f)
        return {n, f, c, p, q, x, w, y, true, band_size, columns};
      case PlanarMode::kGradX:  // (n, f) . (c, f)^T -> (n, c)
        return {n, c, f, p, q, y, Transposed(w), x, false, band_size, columns};
      case PlanarMode::kGradW:  // (n, c)^T . conj((n, f)) -> (c, f)
      default:
        return {c, f, n, p, q, Transposed(x), y, w, true, band_size, columns};
    }
  }
};

// Computes out from a and b (float32, see PlanarGemm) on Device. Returns
// nullptr on success, else a static description of the failure.
template <typename Device>
struct SpectralMulPlanarFunctor {
  const char* operator()(const Device& device, const PlanarGemm& g,
                         const float* a, const float* b, float* out);
};

}  // namespace functor
}  // namespace tensorflow

#endif  // TFCOMPRESS_SPECTRAL_MUL_PLANAR_H_
