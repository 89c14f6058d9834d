// SpectralMul OpKernel and its CPU functor (see spectral_mul.h for the
// product and spectral_mul_cpu.h for the vectorised tiles).
#define EIGEN_USE_THREADS
// The vector helpers of spectral_mul_cpu.h return AVX vectors from functions
// compiled for the baseline ISA, which GCC flags (-Wpsabi) as an ABI change
// across calls; they are always inlined into the AVX entry points below.
#pragma GCC diagnostic ignored "-Wpsabi"
#if GOOGLE_CUDA
#define EIGEN_USE_GPU
#endif  // GOOGLE_CUDA

#include "spectral_mul.h"
#include "spectral_mul_cpu.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor.h"
#include "unsupported/Eigen/CXX11/Tensor"

namespace tensorflow {

typedef Eigen::ThreadPoolDevice CPUDevice;
typedef Eigen::GpuDevice GPUDevice;

namespace functor {
namespace spectral_cpu {

typedef void (*UnitsFn)(const Plan&, int64_t, int64_t);

// One entry point per instruction set: the same template, compiled for the
// widest vectors the CPU has (chosen at run time, so the library stays
// portable and needs no -march flag). Tiles: W floats x TI x TJ, sized so
// that the 2*TI*TJ accumulators stay in registers (32 zmm / 16 ymm / 16 xmm).
#if defined(__x86_64__)
__attribute__((target("avx512f,avx512vl,fma"))) void UnitsAvx512(
    const Plan& g, int64_t begin, int64_t end) {
  RunUnits<16, 4, 3>(g, begin, end);
}
__attribute__((target("avx2,fma"))) void UnitsAvx2(const Plan& g,
                                                   int64_t begin,
                                                   int64_t end) {
  RunUnits<8, 2, 3>(g, begin, end);
}
#endif  // __x86_64__
void Units128(const Plan& g, int64_t begin, int64_t end) {
  RunUnits<4, 2, 3>(g, begin, end);
}
void Units64(const Plan& g, int64_t begin, int64_t end) {
  RunUnits<2, 2, 3>(g, begin, end);
}

// The widest entry point the CPU supports whose vector of k fits in k.
void PickUnits(int64_t k, UnitsFn* fn, int64_t* lanes) {
#if defined(__x86_64__)
  if (k >= 8 && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512vl")) {
    *fn = UnitsAvx512;
    *lanes = 8;
    return;
  }
  if (k >= 4 && __builtin_cpu_supports("avx2") &&
      __builtin_cpu_supports("fma")) {
    *fn = UnitsAvx2;
    *lanes = 4;
    return;
  }
#endif  // __x86_64__
  if (k >= 2) {
    *fn = Units128;
    *lanes = 2;
  } else {
    *fn = Units64;
    *lanes = 1;
  }
}

}  // namespace spectral_cpu

// CPU functor: work units (a vector of k x a block of j, disjoint outputs)
// sharded over TF's intra-op thread pool, which the op context's
// ThreadPoolDevice wraps.
template <>
const char* SpectralMulFunctor<CPUDevice>::operator()(
    const CPUDevice& device, const SpectralMulDims& dims,
    const std::complex<float>* a, const std::complex<float>* b,
    std::complex<float>* out) {
  using namespace spectral_cpu;  // NOLINT(build/namespaces)
  const Plan plan(dims, a, b, out);
  UnitsFn units;
  int64_t lanes;
  PickUnits(dims.k, &units, &lanes);
  // Cost of one unit in cycles, about one per complex multiply-add.
  const int64_t cost = std::max<int64_t>(
      1, dims.i * std::min(dims.j, kJBlock) * std::max<int64_t>(dims.r, 1) *
             lanes);
  device.parallelFor(NumUnits(plan, lanes), Eigen::TensorOpCost(0, 0, cost),
                     [&plan, units](Eigen::Index begin, Eigen::Index end) {
                       units(plan, begin, end);
                     });
  return nullptr;
}

#if GOOGLE_CUDA
// Defined in spectral_mul_kernels.cu.cc.
template <>
const char* SpectralMulFunctor<GPUDevice>::operator()(
    const GPUDevice& device, const SpectralMulDims& dims,
    const std::complex<float>* a, const std::complex<float>* b,
    std::complex<float>* out);
#endif  // GOOGLE_CUDA

}  // namespace functor

// out[i, j, k] = sum_r opA(i, r, k) * opB(j, r, k) for complex64 a, b of
// rank 3 (see the op's documentation in spectral_ops.cc).
template <typename Device>
class SpectralMulOp : public OpKernel {
 public:
  explicit SpectralMulOp(OpKernelConstruction* context) : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("transpose_a", &transpose_a_));
    OP_REQUIRES_OK(context, context->GetAttr("transpose_b", &transpose_b_));
    OP_REQUIRES_OK(context, context->GetAttr("conj_a", &conj_a_));
    OP_REQUIRES_OK(context, context->GetAttr("conj_b", &conj_b_));
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& a = context->input(0);
    const Tensor& b = context->input(1);
    OP_REQUIRES(context, a.dims() == 3 && b.dims() == 3,
                errors::InvalidArgument(
                    "SpectralMul expects rank-3 operands [rows, reduction, K] "
                    "(or [reduction, rows, K] when transposed), got a of "
                    "shape ",
                    a.shape().DebugString(), " and b of shape ",
                    b.shape().DebugString()));
    const auto dims = functor::SpectralMulDims::FromShapes(
        a.dim_size(0), a.dim_size(1), b.dim_size(0), b.dim_size(1),
        a.dim_size(2), transpose_a_, transpose_b_, conj_a_, conj_b_);
    const int64_t b_reduction = transpose_b_ ? b.dim_size(0) : b.dim_size(1);
    OP_REQUIRES(context, dims.r == b_reduction,
                errors::InvalidArgument(
                    "SpectralMul reduction sizes differ: a of shape ",
                    a.shape().DebugString(), " reduces over ", dims.r,
                    " but b of shape ", b.shape().DebugString(),
                    " reduces over ", b_reduction));
    OP_REQUIRES(context, b.dim_size(2) == dims.k,
                errors::InvalidArgument(
                    "SpectralMul frequency sizes K differ: a of shape ",
                    a.shape().DebugString(), " and b of shape ",
                    b.shape().DebugString()));
    Tensor* out = nullptr;
    OP_REQUIRES_OK(context,
                   context->allocate_output(
                       0, TensorShape({dims.i, dims.j, dims.k}), &out));
    if (out->NumElements() == 0) return;
    const char* error = functor::SpectralMulFunctor<Device>()(
        context->eigen_device<Device>(), dims, a.flat<complex64>().data(),
        b.flat<complex64>().data(), out->flat<complex64>().data());
    OP_REQUIRES(context, error == nullptr,
                errors::Internal("SpectralMul kernel failed: ",
                                 error == nullptr ? "" : error));
  }

 private:
  bool transpose_a_, transpose_b_, conj_a_, conj_b_;
};

REGISTER_KERNEL_BUILDER(Name("SpectralMul").Device(DEVICE_CPU),
                        SpectralMulOp<CPUDevice>);

#if GOOGLE_CUDA
REGISTER_KERNEL_BUILDER(Name("SpectralMul").Device(DEVICE_GPU),
                        SpectralMulOp<GPUDevice>);
#endif  // GOOGLE_CUDA

}  // namespace tensorflow
