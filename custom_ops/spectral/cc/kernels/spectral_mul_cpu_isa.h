// The instruction sets the CPU kernels of SpectralMul and SpectralMulPlanar
// are compiled for, and the run-time choice among them (defined in
// spectral_mul_kernels.cc, which compiles every entry point).
#ifndef TFCOMPRESS_SPECTRAL_MUL_CPU_ISA_H_
#define TFCOMPRESS_SPECTRAL_MUL_CPU_ISA_H_

#include <cstdint>

#include "spectral_mul_cpu_small_k.h"
#include "spectral_mul_planar_cpu.h"

namespace tensorflow {
namespace functor {
namespace spectral_cpu {

typedef void (*UnitsFn)(const Plan&, int64_t, int64_t);
typedef void (*GroupedFn)(const Plan&, const Layout&, const float*, int64_t,
                          int64_t);
typedef void (*PlanarFn)(const PlanarCall&, int64_t, int64_t);

// An instruction set: vectors of `lanes` complex values and i tiles of `ti`
// vectors; `units` runs SpectralMul's whole-vector path, grouped[n - 1] its
// small-K path with row groups of C = lanes >> n k (G = 2^n groups per
// vector; null where C < 1), `planar` SpectralMulPlanar's work units.
struct Isa {
  const char* name;
  int64_t lanes, ti;
  bool (*supported)();
  UnitsFn units;
  GroupedFn grouped[3];
  PlanarFn planar;
};

// The variable that caps the instruction set, and the error for a name that
// is none of this build's.
extern const char kMaxIsaVariable[];
extern const char kBadMaxIsa[];

// The widest instruction set the CPU supports, at most the one
// $TFCOMPRESS_MAX_CPU_ISA names (to test or compare the narrower ones on a
// wider CPU, like oneDNN's ONEDNN_MAX_CPU_ISA); null for an unknown name.
const Isa* PickIsa();

}  // namespace spectral_cpu
}  // namespace functor
}  // namespace tensorflow

#endif  // TFCOMPRESS_SPECTRAL_MUL_CPU_ISA_H_
