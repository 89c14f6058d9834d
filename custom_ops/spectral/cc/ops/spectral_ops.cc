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

// SpectralMulPlanar: a is [N, P, 2, Q, channels]; the output is
// [N, P, 2, Q, F] (forward, from b = w [K, 2, C, F]), [N, P, 2, Q, C]
// (grad_x, from b = w) or [band_size, 2, C, F] (grad_w, from b = dy). The
// kernel checks b's whole shape and the band.
absl::Status SpectralMulPlanarShape(InferenceContext* c) {
  std::string mode;
  TF_RETURN_IF_ERROR(c->GetAttr("mode", &mode));
  const int b_rank = mode == "grad_w" ? 5 : 4;
  ShapeHandle a, b;
  if (!c->WithRank(c->input(0), 5, &a).ok() ||
      !c->WithRank(c->input(1), b_rank, &b).ok()) {
    return errors::InvalidArgument(
        "SpectralMulPlanar (", mode, ") expects a of rank 5 and b of rank ",
        b_rank, ", got a of shape ", c->DebugString(c->input(0)),
        " and b of shape ", c->DebugString(c->input(1)));
  }
  const DimensionHandle two = c->MakeDim(2);
  if (mode == "forward") {
    c->set_output(0, c->MakeShape({c->Dim(a, 0), c->Dim(a, 1), two,
                                   c->Dim(a, 3), c->Dim(b, 3)}));
  } else if (mode == "grad_x") {
    c->set_output(0, c->MakeShape({c->Dim(a, 0), c->Dim(a, 1), two,
                                   c->Dim(a, 3), c->Dim(b, 2)}));
  } else {
    int64_t band_size;
    TF_RETURN_IF_ERROR(c->GetAttr("band_size", &band_size));
    c->set_output(0, c->MakeShape({c->MakeDim(band_size), two, c->Dim(a, 4),
                                   c->Dim(b, 4)}));
  }
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

REGISTER_OP("SpectralMulPlanar")
    .Input("a: float")
    .Input("b: float")
    .Input("columns: int64")
    .Output("product: float")
    .Attr("mode: {'forward', 'grad_x', 'grad_w'} = 'forward'")
    .Attr("band_size: int >= 0")
    .SetShapeFn(SpectralMulPlanarShape)
    .Doc(R"doc(
The spectral product on channels-last spectra with (re, im) in two planes.

x[N, P, 2, Q, C] holds x(n, k, c) = x[n, p, 0, q, c] + i x[n, p, 1, q, c] at
the P x Q coefficients k = (p, q). columns: empty, or [P] counts: then only
the coefficients q < columns[p] are computed (the band), and the forward and
grad_x modes write zeros at the others. w[K, 2, C, F] holds the kernel's
spectrum at the K = band_size coefficients computed (all P x Q without
columns), in row-major order. Modes:
forward (a = x, b = w): y[n, k, f] = sum_c x[n, k, c] conj(w[k, c, f]);
grad_x (a = dy, b = w): dx[n, k, c] = sum_f dy[n, k, f] w[k, c, f];
grad_w (a = x, b = dy): dw[k, c, f] = sum_n x[n, k, c] conj(dy[n, k, f]).
The gradients of every mode are calls of the others over the same band.
)doc");

REGISTER_OP("SpectralMulCpuIsa")
    .Output("isa: string")
    .SetIsStateful()  // reads $TFCOMPRESS_MAX_CPU_ISA: never constant-folded
    .SetShapeFn(shape_inference::ScalarShape)
    .Doc(R"doc(
The instruction set the CPU kernels of SpectralMul and SpectralMulPlanar
dispatch to: "avx512", "avx2"
or "baseline", the widest this CPU supports, capped by the one named in
$TFCOMPRESS_MAX_CPU_ISA when set (an unknown name is an InvalidArgument error).
)doc");

}  // namespace tensorflow
