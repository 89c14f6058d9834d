// Registration of SpectralMul, the complex product at the heart of the
// band-limited spectral convolution, and its shape function; and of
// SpectralMulCpuIsa, which names the instruction set its CPU kernel uses.
#include <string>

#include "tensorflow/core/framework/common_shape_fns.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace tensorflow {
namespace {

using shape_inference::DimensionHandle;
using shape_inference::InferenceContext;
using shape_inference::ShapeHandle;

// Merges two dimensions that must agree, failing with a message that names
// them and both shapes.
absl::Status MergeNamed(InferenceContext* c, DimensionHandle x,
                        DimensionHandle y, const std::string& what,
                        DimensionHandle* out) {
  if (c->ValueKnown(x) && c->ValueKnown(y) && c->Value(x) != c->Value(y)) {
    return errors::InvalidArgument(
        "SpectralMul: ", what, " differ: a has shape ",
        c->DebugString(c->input(0)), " and b has shape ",
        c->DebugString(c->input(1)), " (attributes transpose_a/transpose_b "
        "choose which axis of each is the reduction axis)");
  }
  return c->Merge(x, y, out);
}

absl::Status SpectralMulShape(InferenceContext* c) {
  ShapeHandle a, b;
  if (!c->WithRank(c->input(0), 3, &a).ok() ||
      !c->WithRank(c->input(1), 3, &b).ok()) {
    return errors::InvalidArgument(
        "SpectralMul expects rank-3 operands, got a of shape ",
        c->DebugString(c->input(0)), " and b of shape ",
        c->DebugString(c->input(1)));
  }
  bool transpose_a, transpose_b;
  TF_RETURN_IF_ERROR(c->GetAttr("transpose_a", &transpose_a));
  TF_RETURN_IF_ERROR(c->GetAttr("transpose_b", &transpose_b));
  DimensionHandle reduction, k;
  TF_RETURN_IF_ERROR(MergeNamed(c, c->Dim(a, transpose_a ? 0 : 1),
                                c->Dim(b, transpose_b ? 0 : 1),
                                "reduction sizes", &reduction));
  TF_RETURN_IF_ERROR(
      MergeNamed(c, c->Dim(a, 2), c->Dim(b, 2), "frequency sizes K", &k));
  c->set_output(0, c->MakeShape({c->Dim(a, transpose_a ? 1 : 0),
                                 c->Dim(b, transpose_b ? 1 : 0), k}));
  return absl::OkStatus();
}

}  // namespace

REGISTER_OP("SpectralMul")
    .Input("a: complex64")
    .Input("b: complex64")
    .Output("product: complex64")
    .Attr("transpose_a: bool = false")
    .Attr("transpose_b: bool = false")
    .Attr("conj_a: bool = false")
    .Attr("conj_b: bool = true")
    .SetShapeFn(SpectralMulShape)
    .Doc(R"doc(
Batched-over-K complex product with K the innermost axis, read in place.

product[i, j, k] = sum_r opA(i, r, k) * opB(j, r, k), where opA(i, r, k) is
a[i, r, k] (a[r, i, k] if transpose_a), conjugated if conj_a, and opB(j, r, k)
is b[j, r, k] (b[r, j, k] if transpose_b), conjugated if conj_b. With the
default attributes this is spectral_mul: x[N, C, K] . conj(w[F, C, K]) summed
over C gives [N, F, K]; its gradients are the same op with other attributes.
)doc");

REGISTER_OP("SpectralMulCpuIsa")
    .Output("isa: string")
    .SetIsStateful()  // reads $TFCOMPRESS_MAX_CPU_ISA: never constant-folded
    .SetShapeFn(shape_inference::ScalarShape)
    .Doc(R"doc(
The instruction set SpectralMul's CPU kernel dispatches to: "avx512", "avx2"
or "baseline", the widest this CPU supports, capped by the one named in
$TFCOMPRESS_MAX_CPU_ISA when set (an unknown name is an InvalidArgument error).
)doc");

}  // namespace tensorflow
