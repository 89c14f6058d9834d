// GPU functors of SpectralMul and SpectralMulPlanar: launch the shared CUDA
// kernels of spectral_mul_gpu.cu.h and spectral_mul_planar_gpu.cu.h on the
// op's stream.
#if GOOGLE_CUDA

#define EIGEN_USE_GPU

#include "spectral_mul.h"
#include "spectral_mul_gpu.cu.h"
#include "spectral_mul_planar.h"
#include "spectral_mul_planar_gpu.cu.h"
#include "unsupported/Eigen/CXX11/Tensor"

namespace tensorflow {
namespace functor {

typedef Eigen::GpuDevice GPUDevice;

// The split-reduction plan follows the GPU's SM count (Eigen caches the
// device properties, so this is no query per call); its scratch memory comes
// from TensorFlow's allocator through the Eigen device (TensorFlow's
// EigenGpuStreamDevice: frees are ordered on the op's stream, and a failed
// allocation sets ResourceExhausted on the op).
template <>
const char* SpectralMulFunctor<GPUDevice>::operator()(
    const GPUDevice& device, const SpectralMulDims& dims,
    const std::complex<float>* a, const std::complex<float>* b,
    std::complex<float>* out) {
  const spectral_gpu::SpectralMulPlan plan =
      spectral_gpu::PlanSpectralMul(dims, device.getNumGpuMultiProcessors());
  float2* workspace = nullptr;
  if (plan.splits > 1) {
    workspace = static_cast<float2*>(
        device.allocate(plan.WorkspaceSize(dims) * sizeof(float2)));
    if (workspace == nullptr) return "out of GPU memory for the workspace";
  }
  // std::complex<float> and float2 share their layout (re, im).
  const cudaError_t error = spectral_gpu::LaunchSpectralMul(
      dims, plan, reinterpret_cast<const float2*>(a),
      reinterpret_cast<const float2*>(b), reinterpret_cast<float2*>(out),
      workspace, device.stream());
  if (workspace != nullptr) device.deallocate(workspace);
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

// The band's columns (int64) are an input in GPU memory, read by the kernel
// in place.
template <>
const char* SpectralMulPlanarFunctor<GPUDevice>::operator()(
    const GPUDevice& device, const PlanarGemm& g, const float* a,
    const float* b, float* out) {
  const cudaError_t error =
      spectral_gpu::LaunchSpectralMulPlanar(g, a, b, out, device.stream());
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

}  // namespace functor
}  // namespace tensorflow

#endif  // GOOGLE_CUDA
