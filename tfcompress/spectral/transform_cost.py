"""Which transform (``transforms``) a plan uses: a cost model per channel slice, fixed at build.

``transform_flops`` counts the real flops of one (example, channel) slice
through the forward and the inverse transform (2 per multiply-add):

- fft: 2.5 L log2 L per FFT of L points (half of a complex FFT's 5 L log2 L).
- direct: ``2 * P * 2K`` forward and ``2 * P_out * 2K`` inverse (P, P_out: input
  and output positions; K coefficients computed, ``transforms.coefficients``;
  2K real outputs).
- separable: width DFT ``2 * H * W * 2Nx`` and height DFT ``2 * 2H * 2Ny * Nx``
  forward, ``2 * 2H_out * 2Ny * Nx`` and ``2 * H_out * 2Nx * W_out`` inverse
  (Ny x Nx: the box of kept rows x columns).

``choose_transform`` adds what flops do not show, per slice, in flops of a
large float32 GEMM: ``MOVE`` per element for each memory pass (fft's transposes
between channels-last and channels-first, and its gather and scatter of the
whole spectrum) and a factor ``FFT`` for TensorFlow's CPU FFT, which runs that
many times slower per flop than its GEMMs. Both were fitted to forward +
backward timings of the three transforms at the ResNet-18 CIFAR shapes and the
1-D benchmark on a 2-core AMD EPYC (AVX-512 and AVX2) with TensorFlow 2.21 and
oneDNN. Direct and separable make no such pass: both work channels-last and
write the planar spectrum that ``spectral_mul_planar`` multiplies over the band
only, so their products cost about the same. A separable flop weighs
``SEPARABLE`` direct flops: its two stages are GEMMs of thin, batched matrices
that each read and write a box-sized tensor, against one GEMM per direction
(fitted to the same timings, with the planar product). The choice is
deterministic (no timing at build), so a model traces the same graph everywhere.
With 3x3 'same' kernels it picks separable at 32x32 and at 16x16 up to r = 0.5,
direct at 16x16 from r = 0.75 on and at 8x8 and 4x4, and fft for long 1-D
signals (length 1024, kernel 64).
"""
from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from tfcompress.spectral.transforms import coefficients, separable_box

if TYPE_CHECKING:
    from tfcompress.spectral.plan import SpectralPlan

MOVE = 350.0
FFT = 4.0
SEPARABLE = 3.5


def transform_flops(plan: SpectralPlan) -> tuple[float, float]:
    """Real flops of one channel slice through ``plan.transform``: (forward, inverse)."""
    inputs, outputs = math.prod(plan.input_shape), math.prod(plan.output_shape)
    if plan.transform == "fft":
        return plan.fft_flops(), plan.fft_flops()
    if plan.transform == "direct":
        count = coefficients(plan).size
        return 4.0 * count * inputs, 4.0 * count * outputs
    (height, width), (out_h, out_w) = plan.input_shape, plan.output_shape
    rows, columns = separable_box(plan)
    return (4.0 * columns * (height * width + 2 * height * rows.size),
            4.0 * columns * (out_h * out_w + 2 * out_h * rows.size))


def _cost(plan: SpectralPlan) -> float:
    """Modelled cost of one channel slice, forward and inverse, in GEMM flops (module doc)."""
    flops = sum(transform_flops(plan))
    if plan.transform != "fft":
        return SEPARABLE * flops if plan.transform == "separable" else flops
    moves = math.prod(plan.input_shape) + math.prod(plan.output_shape)  # the two transposes
    spectrum = math.prod(plan.fft_shape[:-1]) * (plan.fft_shape[-1] // 2 + 1)
    return FFT * flops + MOVE * (moves + 2 * plan.kept.size + 2 * spectrum)


def transform_costs(plan: SpectralPlan) -> dict[str, float]:
    """Modelled cost per channel slice of each transform that can run ``plan``'s geometry."""
    names = ("fft", "direct", "separable") if len(plan.fft_shape) == 2 else ("fft", "direct")
    return {name: _cost(dataclasses.replace(plan, transform=name)) for name in names}


def choose_transform(plan: SpectralPlan) -> str:
    """The transform of least modelled cost for ``plan``: "fft", "direct" or "separable"."""
    costs = transform_costs(plan)
    return min(costs, key=costs.get)
