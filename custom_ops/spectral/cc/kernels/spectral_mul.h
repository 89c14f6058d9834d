// The spectral_mul product and its functor, shared by the CPU kernel, the
// CUDA kernel and the standalone CUDA harness (so it includes no TensorFlow
// header).
//
//   out[i, j, k] = sum_r  opA(i, r, k) * opB(j, r, k)
//
// opA(i, r, k) is a[i, r, k] (or a[r, i, k] when transpose_a), conjugated
// when conj_a; opB likewise with b[j, r, k] / b[r, j, k]. K is the innermost,
// contiguous axis of a, b and out, so every variant is a batch over K of
// complex GEMMs: the forward product x[N,C,K] . conj(w[F,C,K]) and both of
// its gradients are the same kernel with other strides and conjugations, and
// no operand is transposed into another tensor (the CPU kernel only copies
// blocks of a and strips of b into cache-sized buffers in the vector layout of
// its register tile; out is written in place).
#ifndef TFCOMPRESS_SPECTRAL_MUL_H_
#define TFCOMPRESS_SPECTRAL_MUL_H_

#include <complex>
#include <cstdint>

namespace tensorflow {
namespace functor {

// Sizes and strides of one spectral_mul call. Element (i, r) of a starts at
// a + (i * a_stride_i + r * a_stride_r) * k complex values, and likewise for
// b; out is a dense [i, j, k] array.
struct SpectralMulDims {
  int64_t i, j, r, k;
  int64_t a_stride_i, a_stride_r;
  int64_t b_stride_j, b_stride_r;
  bool conj_a, conj_b;

  // Dims for a of shape [a0, a1, k] and b of shape [b0, b1, k]; the caller
  // has checked that the reduction sizes agree.
  static SpectralMulDims FromShapes(int64_t a0, int64_t a1, int64_t b0,
                                    int64_t b1, int64_t k, bool transpose_a,
                                    bool transpose_b, bool conj_a,
                                    bool conj_b) {
    SpectralMulDims d;
    d.i = transpose_a ? a1 : a0;
    d.r = transpose_a ? a0 : a1;
    d.j = transpose_b ? b1 : b0;
    d.k = k;
    d.a_stride_i = transpose_a ? 1 : a1;
    d.a_stride_r = transpose_a ? a1 : 1;
    d.b_stride_j = transpose_b ? 1 : b1;
    d.b_stride_r = transpose_b ? b1 : 1;
    d.conj_a = conj_a;
    d.conj_b = conj_b;
    return d;
  }
};

// Computes out (dense [i, j, k]) from a and b on Device. Returns nullptr on
// success, else a static description of the failure (a CUDA launch error).
template <typename Device>
struct SpectralMulFunctor {
  const char* operator()(const Device& device, const SpectralMulDims& dims,
                         const std::complex<float>* a,
                         const std::complex<float>* b,
                         std::complex<float>* out);
};

}  // namespace functor
}  // namespace tensorflow

#endif  // TFCOMPRESS_SPECTRAL_MUL_H_
