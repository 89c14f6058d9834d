// GPU functor of SpectralMul: launches the shared CUDA kernel of
// spectral_mul_gpu.cu.h on the op's stream.
#if GOOGLE_CUDA

#define EIGEN_USE_GPU

#include "spectral_mul.h"
#include "spectral_mul_gpu.cu.h"
#include "unsupported/Eigen/CXX11/Tensor"

namespace tensorflow {
namespace functor {

typedef Eigen::GpuDevice GPUDevice;

template <>
const char* SpectralMulFunctor<GPUDevice>::operator()(
    const GPUDevice& device, const SpectralMulDims& dims,
    const std::complex<float>* a, const std::complex<float>* b,
    std::complex<float>* out) {
  // std::complex<float> and float2 share their layout (re, im).
  const cudaError_t error = spectral_gpu::LaunchSpectralMul(
      dims, reinterpret_cast<const float2*>(a),
      reinterpret_cast<const float2*>(b), reinterpret_cast<float2*>(out),
      device.stream());
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

}  // namespace functor
}  // namespace tensorflow

#endif  // GOOGLE_CUDA
