// SpectralMulPlanar OpKernel: the channels-last spectral product of
// spectral_mul_planar.h, on the CPU (spectral_mul_planar_cpu.h, sharded over
// TF's intra-op thread pool) and on the GPU (spectral_mul_planar_gpu.cu.h).
#define EIGEN_USE_THREADS
#if GOOGLE_CUDA
#define EIGEN_USE_GPU
#endif  // GOOGLE_CUDA

#include <string>
#include <type_traits>

#include "spectral_mul_cpu_isa.h"
#include "spectral_mul_planar.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor.h"
#include "unsupported/Eigen/CXX11/Tensor"

namespace tensorflow {

typedef Eigen::ThreadPoolDevice CPUDevice;
typedef Eigen::GpuDevice GPUDevice;

namespace functor {

template <>
const char* SpectralMulPlanarFunctor<CPUDevice>::operator()(
    const CPUDevice& device, const PlanarGemm& g, const float* a,
    const float* b, float* out) {
  using namespace spectral_cpu;  // NOLINT(build/namespaces)
  const Isa* isa = PickIsa();
  if (isa == nullptr) return kBadMaxIsa;
  const PlanarCall call{g, a, b, out};
  // About one cycle per complex multiply-add.
  const int64_t cost = std::min(g.i, kPlanarIBlock) * g.j * g.r;
  device.parallelFor(PlanarUnits(g), Eigen::TensorOpCost(0, 0, cost),
                     [&call, isa](Eigen::Index begin, Eigen::Index end) {
                       isa->planar(call, begin, end);
                     });
  return nullptr;
}

#if GOOGLE_CUDA
// Defined in spectral_mul_kernels.cu.cc.
template <>
const char* SpectralMulPlanarFunctor<GPUDevice>::operator()(
    const GPUDevice& device, const PlanarGemm& g, const float* a,
    const float* b, float* out);
#endif  // GOOGLE_CUDA

}  // namespace functor

// See the op's documentation in spectral_ops.cc.
template <typename Device>
class SpectralMulPlanarOp : public OpKernel {
 public:
  explicit SpectralMulPlanarOp(OpKernelConstruction* context)
      : OpKernel(context) {
    std::string mode;
    OP_REQUIRES_OK(context, context->GetAttr("mode", &mode));
    OP_REQUIRES_OK(context, context->GetAttr("band_size", &band_size_));
    mode_ = mode == "forward"  ? functor::PlanarMode::kForward
            : mode == "grad_x" ? functor::PlanarMode::kGradX
                               : functor::PlanarMode::kGradW;
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& a = context->input(0);
    const Tensor& b = context->input(1);
    const Tensor& columns = context->input(2);
    const bool b_is_w = mode_ != functor::PlanarMode::kGradW;
    OP_REQUIRES(context,
                a.dims() == 5 && a.dim_size(2) == 2 &&
                    b.dims() == (b_is_w ? 4 : 5),
                errors::InvalidArgument(
                    "SpectralMulPlanar expects a planar spectrum a [N, P, 2, "
                    "Q, channels] and b [K, 2, C, F] (forward, grad_x) or "
                    "[N, P, 2, Q, F] (grad_w), got a of shape ",
                    a.shape().DebugString(), " and b of shape ",
                    b.shape().DebugString()));
    // x (or dy) is a; the other operand is w [K, 2, C, F], or dy.
    const int64_t n = a.dim_size(0), p = a.dim_size(1), q = a.dim_size(3);
    OP_REQUIRES(context,
                columns.dims() == 1 &&
                    (columns.dim_size(0) == 0 || columns.dim_size(0) == p),
                errors::InvalidArgument(
                    "SpectralMulPlanar: columns must be empty (the whole box) "
                    "or hold one count per row P = ", p, ", got shape ",
                    columns.shape().DebugString()));
    OP_REQUIRES_OK(context, CheckBandSize(columns, p, q));
    int64_t c, f;
    TensorShape expected_b, out_shape;
    switch (mode_) {
      case functor::PlanarMode::kForward:
        c = a.dim_size(4), f = b.dim_size(3);
        expected_b = TensorShape({band_size_, 2, c, f});
        out_shape = TensorShape({n, p, 2, q, f});
        break;
      case functor::PlanarMode::kGradX:
        f = a.dim_size(4), c = b.dim_size(2);
        expected_b = TensorShape({band_size_, 2, c, f});
        out_shape = TensorShape({n, p, 2, q, c});
        break;
      default:
        c = a.dim_size(4), f = b.dim_size(4);
        expected_b = TensorShape({n, p, 2, q, f});
        out_shape = TensorShape({band_size_, 2, c, f});
    }
    OP_REQUIRES(context, b.shape() == expected_b,
                errors::InvalidArgument(
                    "SpectralMulPlanar: b must have shape ",
                    expected_b.DebugString(), " for a of shape ",
                    a.shape().DebugString(), " and band_size ", band_size_,
                    ", got ", b.shape().DebugString()));
    Tensor* out = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, out_shape, &out));
    if (out->NumElements() == 0) return;
    const char* error = functor::SpectralMulPlanarFunctor<Device>()(
        context->eigen_device<Device>(),
        functor::PlanarGemm::For(
            mode_, n, p, q, c, f,
            columns.NumElements() ? columns.flat<int64_t>().data() : nullptr,
            band_size_),
        a.flat<float>().data(),
        b.flat<float>().data(), out->flat<float>().data());
    OP_REQUIRES(context, error == nullptr,
                errors::Internal("SpectralMulPlanar kernel failed: ",
                                 error == nullptr ? "" : error));
  }

 private:
  // band_size must be P x Q without columns, else the band's size. On the
  // GPU, columns is in device memory: there it must not exceed P x Q, and
  // the kernel writes NaN, rather than read past w, for a band larger than
  // band_size.
  absl::Status CheckBandSize(const Tensor& columns, int64_t p, int64_t q) const {
    if (columns.NumElements() == 0 || !std::is_same<Device, CPUDevice>::value) {
      const bool ok = columns.NumElements() == 0 ? band_size_ == p * q
                                                 : band_size_ <= p * q;
      return ok ? absl::OkStatus() : errors::InvalidArgument(
          "SpectralMulPlanar: band_size must be ",
          columns.NumElements() == 0 ? "" : "at most ", "P x Q = ", p * q,
          ", got ", band_size_);
    }
    int64_t size = 0;
    const auto counts = columns.flat<int64_t>();
    for (int64_t row = 0; row < p; ++row) {
      if (counts(row) < 0 || counts(row) > q) {
        return errors::InvalidArgument(
            "SpectralMulPlanar: columns[", row, "] must be in [0, Q = ", q,
            "], got ", counts(row));
      }
      size += counts(row);
    }
    if (size != band_size_) {
      return errors::InvalidArgument(
          "SpectralMulPlanar: band_size must be the band's size, sum(columns) "
          "= ", size, ", got ", band_size_);
    }
    return absl::OkStatus();
  }

  functor::PlanarMode mode_;
  int64_t band_size_;
};

REGISTER_KERNEL_BUILDER(Name("SpectralMulPlanar").Device(DEVICE_CPU),
                        SpectralMulPlanarOp<CPUDevice>);
#if GOOGLE_CUDA
REGISTER_KERNEL_BUILDER(Name("SpectralMulPlanar").Device(DEVICE_GPU),
                        SpectralMulPlanarOp<GPUDevice>);
#endif  // GOOGLE_CUDA

}  // namespace tensorflow
