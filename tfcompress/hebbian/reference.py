"""Plain NumPy loop over (n, i, j, dy, dx, c, f): the tests' reference for `coactivation`."""
from __future__ import annotations

import numpy as np

from tfcompress.hebbian.coactivation import normalise_pair, normalise_padding


def _pad_before(size: int, kernel: int, stride: int, padding: str) -> tuple[int, int]:
    """(output size, padding before) of one spatial axis, by TensorFlow's rules."""
    if padding == "valid":
        return (size - kernel) // stride + 1, 0
    out = -(-size // stride)
    return out, max((out - 1) * stride + kernel - size, 0) // 2


def strengths_reference(x: np.ndarray, y: np.ndarray, kernel_shape, strides=1,
                        padding: str = "valid", threshold: float = 0.0) -> np.ndarray:
    """`H[dy, dx, c, f]`: how often `x` under weight (dy, dx, c, f) and `y` are both > threshold.

    Deliberately a direct loop (slow): it shares no arithmetic with the op.
    `kernel_shape` is (kh, kw) or (kh, kw, C, F); the result is int64.
    """
    x, y = np.asarray(x), np.asarray(y)
    kh, kw = int(kernel_shape[0]), int(kernel_shape[1])
    sy, sx = normalise_pair(strides, "strides")
    padding = normalise_padding(padding)
    n, height, width, channels = x.shape
    out_h, top = _pad_before(height, kh, sy, padding)
    out_w, left = _pad_before(width, kw, sx, padding)
    if y.shape[:3] != (n, out_h, out_w):
        raise ValueError(f"y has shape {y.shape}; the convolution gives {(n, out_h, out_w)} + (F,)")
    xb, yb = x > threshold, y > threshold
    strengths = np.zeros((kh, kw, channels, y.shape[3]), np.int64)
    for b in range(n):
        for i in range(out_h):
            for j in range(out_w):
                for dy in range(kh):
                    for dx in range(kw):
                        r, s = i * sy + dy - top, j * sx + dx - left
                        if 0 <= r < height and 0 <= s < width:
                            for c in range(channels):
                                if xb[b, r, s, c]:
                                    for f in range(y.shape[3]):
                                        strengths[dy, dx, c, f] += yb[b, i, j, f]
    return strengths
