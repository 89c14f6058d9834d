// SpectralMul OpKernel and its CPU functor (see spectral_mul.h for the
// product, spectral_mul_cpu_tile.h for the vectorised register tile and
// spectral_mul_cpu.h / spectral_mul_cpu_small_k.h for its two paths), and the
// per-instruction-set entry points of both CPU kernels, SpectralMulPlanar's
// too (spectral_mul_cpu_isa.h).
#define EIGEN_USE_THREADS
// The vector helpers of spectral_mul_cpu_tile.h return AVX vectors from
// functions compiled for the baseline ISA, which GCC flags (-Wpsabi) as an
// ABI change across calls; they are always inlined into the AVX entry points
// below.
#pragma GCC diagnostic ignored "-Wpsabi"
#if GOOGLE_CUDA
#define EIGEN_USE_GPU
#endif  // GOOGLE_CUDA

#include <cstdlib>
#include <cstring>

#include "spectral_mul.h"
#include "spectral_mul_cpu.h"
#include "spectral_mul_cpu_isa.h"
#include "spectral_mul_cpu_small_k.h"
#include "spectral_mul_planar_cpu.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor.h"
#include "unsupported/Eigen/CXX11/Tensor"

namespace tensorflow {

typedef Eigen::ThreadPoolDevice CPUDevice;
typedef Eigen::GpuDevice GPUDevice;

namespace functor {
namespace spectral_cpu {

// One entry point per instruction set and path: the same templates,
// compiled for the widest vectors the CPU has (chosen at run time, so the
// library stays portable and needs no -march flag). Tiles: W floats x TI x
// TJ, sized so that the 2*TI*TJ accumulators stay in registers (32 zmm / 16
// ymm / 16 xmm). Grouped<C>: the small-K path with row groups of C k.
// Planar: SpectralMulPlanar's tiles of PI rows x PJ vectors (2*PI*PJ
// accumulators, 2*PJ vectors of b and two broadcasts).
#define TFC_ISA_ENTRIES(NAME, TARGET, W, TI, TJ, PI, PJ)                  \
  TARGET void Units##NAME(const Plan& g, int64_t begin, int64_t end) {    \
    RunUnits<W, TI, TJ>(g, begin, end);                                   \
  }                                                                       \
  template <int C>                                                        \
  TARGET void Grouped##NAME(const Plan& g, const Layout& lay,             \
                            const float* packed, int64_t begin,           \
                            int64_t end) {                                \
    RunGroupedUnits<W, C, TI, TJ>(g, lay, packed, begin, end);            \
  }                                                                       \
  TARGET void Planar##NAME(const PlanarCall& c, int64_t begin,            \
                           int64_t end) {                                 \
    RunPlanarUnits<W, PI, PJ>(c, begin, end);                             \
  }
#if defined(__x86_64__)
TFC_ISA_ENTRIES(Avx512, __attribute__((target("avx512f,avx512vl,fma"))), 16,
                4, 3, 4, 2)
TFC_ISA_ENTRIES(Avx2, __attribute__((target("avx2,fma"))), 8, 2, 3, 2, 2)
#endif  // __x86_64__
TFC_ISA_ENTRIES(128, , 4, 2, 3, 2, 2)
#undef TFC_ISA_ENTRIES

bool Always() { return true; }
#if defined(__x86_64__)
bool HasAvx512() {
  return __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
}
bool HasAvx2() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif  // __x86_64__

// Widest first; the last, the baseline, is always supported.
constexpr Isa kIsas[] = {
#if defined(__x86_64__)
    {"avx512", 8, 4, HasAvx512, UnitsAvx512,
     {GroupedAvx512<4>, GroupedAvx512<2>, GroupedAvx512<1>}, PlanarAvx512},
    {"avx2", 4, 2, HasAvx2, UnitsAvx2,
     {GroupedAvx2<2>, GroupedAvx2<1>, nullptr}, PlanarAvx2},
#endif  // __x86_64__
    {"baseline", 2, 2, Always, Units128, {Grouped128<1>, nullptr, nullptr},
     Planar128},
};
constexpr const Isa* kIsasEnd = kIsas + sizeof(kIsas) / sizeof(kIsas[0]);

const char kMaxIsaVariable[] = "TFCOMPRESS_MAX_CPU_ISA";
const char kBadMaxIsa[] =
    "TFCOMPRESS_MAX_CPU_ISA must name an instruction set of this build: "
#if defined(__x86_64__)
    "avx512, avx2 or "
#endif  // __x86_64__
    "baseline";

const Isa* PickIsa() {
  const char* name = std::getenv(kMaxIsaVariable);
  const Isa* isa = kIsas;
  if (name != nullptr && *name != '\0') {
    while (isa != kIsasEnd && std::strcmp(name, isa->name) != 0) ++isa;
    if (isa == kIsasEnd) return nullptr;
  }
  while (!isa->supported()) ++isa;
  return isa;
}

// Time per lane of the small-K path with G = 2^n row groups (n = 1..3),
// relative to G = 2: out is stored one group at a time. And how many more
// lanes the whole-vector path may compute than the small-K path, which packs
// all of a first, and still be taken. Lanes: k rounded up to whole chunks of
// C, times rows i rounded up to whole tiles. Measured at ResNet-18's shapes
// (bin/benchmark.py --suite=spectral, AVX-512, and since both paths pack
// their operands, the CPU time of each product with AVX2 and AVX-512): the
// whole-vector path wins where K fills whole vectors or nearly (K = 40, 220,
// 684, and K = 84 on AVX-512: 88 lanes in 0.8x the time of the small-K path's
// 84), the small-K path where the whole-vector one wastes 9% of its lanes or
// more (K = 42, 21, 20, 10 on AVX-512; by 40% at K = 21), and G = 4 and G = 8
// run about 1.08x and 1.5x slower per lane than G = 2. Below kMinGroupedR
// reduction steps (the gradient of the weights at batch sizes under 32) the
// stores of row groups cost more than the lanes saved.
constexpr double kGroupsCost[] = {0.0, 1.0, 1.08, 1.5};
constexpr double kWholeVectorExtraLanes = 1.05;
constexpr int64_t kMinGroupedR = 32;

// The path for dims on isa: n = 0 for the whole-vector path, else the small-K
// path with row groups of C = lanes >> n k.
int PickPath(const Isa& isa, const SpectralMulDims& dims) {
  const auto lanes = [&](int n) {
    const int64_t c = isa.lanes >> n, tile_rows = isa.ti << n;
    return static_cast<double>(CeilDiv(dims.k, c) * c *
                               CeilDiv(dims.i, tile_rows) * tile_rows);
  };
  int best = 0;
  for (int n = 1; n < 4 && isa.grouped[n - 1] != nullptr; ++n) {
    if (dims.k >= (isa.lanes >> n) &&
        (best == 0 ||
         kGroupsCost[n] * lanes(n) < kGroupsCost[best] * lanes(best))) {
      best = n;
    }
  }
  const bool whole_vectors =
      dims.k >= isa.lanes &&
      (dims.r < kMinGroupedR ||
       lanes(0) <= kWholeVectorExtraLanes * lanes(best));
  return whole_vectors ? 0 : best;
}

}  // namespace spectral_cpu

// CPU functor: work units (blocks of disjoint outputs) sharded over TF's
// intra-op thread pool, which the op context's ThreadPoolDevice wraps; the
// small-K path packs a first, sharded likewise.
template <>
const char* SpectralMulFunctor<CPUDevice>::operator()(
    const CPUDevice& device, const SpectralMulDims& dims,
    const std::complex<float>* a, const std::complex<float>* b,
    std::complex<float>* out) {
  using namespace spectral_cpu;  // NOLINT(build/namespaces)
  const Isa* isa_or_null = PickIsa();
  if (isa_or_null == nullptr) return kBadMaxIsa;
  const Isa& isa = *isa_or_null;
  const Plan plan(dims, a, b, out);
  const int n = PickPath(isa, dims);
  const int64_t r = std::max<int64_t>(dims.r, 1);
  // Costs in cycles, about one per complex multiply-add or value copied.
  if (n == 0) {
    const int64_t cost = dims.i * std::min(dims.j, kJBlock) * r *
                         UnitChunks(isa.lanes) * isa.lanes;
    device.parallelFor(NumUnits(plan, isa.lanes),
                       Eigen::TensorOpCost(0, 0, cost),
                       [&plan, &isa](Eigen::Index begin, Eigen::Index end) {
                         isa.units(plan, begin, end);
                       });
    return nullptr;
  }
  const int64_t c = isa.lanes >> n;
  const Layout lay(plan, 2 * isa.lanes, c, isa.ti, 4 * device.numThreads());
  float* packed = static_cast<float*>(device.allocate(
      sizeof(float) * std::max<int64_t>(1, lay.PackedFloats())));
  if (packed == nullptr) return "out of memory for the packed operand";
  device.parallelFor(lay.NumPieces(),
                     Eigen::TensorOpCost(0, 0, r * lay.tile_rows * c),
                     [&](Eigen::Index begin, Eigen::Index end) {
                       Pack(plan, lay, packed, begin, end);
                     });
  const GroupedFn units = isa.grouped[n - 1];
  device.parallelFor(
      lay.NumUnits(),
      Eigen::TensorOpCost(0, 0,
                          std::min(dims.i, kIBlock) * lay.j_block * r *
                              lay.q_block * c),
      [&](Eigen::Index begin, Eigen::Index end) {
        units(plan, lay, packed, begin, end);
      });
  device.deallocate(packed);
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

// The name of the instruction set SpectralMul's CPU kernel dispatches to
// now, from the same choice (PickIsa).
class SpectralMulCpuIsaOp : public OpKernel {
 public:
  using OpKernel::OpKernel;

  void Compute(OpKernelContext* context) override {
    const functor::spectral_cpu::Isa* isa = functor::spectral_cpu::PickIsa();
    OP_REQUIRES(context, isa != nullptr,
                errors::InvalidArgument(functor::spectral_cpu::kBadMaxIsa,
                                        ", got \"",
                                        std::getenv(functor::spectral_cpu::
                                                        kMaxIsaVariable),
                                        "\""));
    Tensor* out = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, TensorShape({}), &out));
    out->scalar<tstring>()() = isa->name;
  }
};

REGISTER_KERNEL_BUILDER(Name("SpectralMulCpuIsa").Device(DEVICE_CPU),
                        SpectralMulCpuIsaOp);

#if GOOGLE_CUDA
REGISTER_KERNEL_BUILDER(Name("SpectralMul").Device(DEVICE_GPU),
                        SpectralMulOp<GPUDevice>);
#endif  // GOOGLE_CUDA

}  // namespace tensorflow
