"""A procedurally generated re-creation of DeepMind's dSprites, with ground-truth factors.

64x64 binary images of one white shape on black. Factors (dSprites' layout and sizes):
shape (square, ellipse, heart), scale (6 values, 0.5..1), orientation (40 values over
[0, 2pi)), position x and y (32 values each, 0..1): 3*6*40*32*32 = 737,280 images, in
row-major factor order (pos_y varies fastest), exactly as `np.ravel_multi_index` orders them.

`dsprites:S` keeps every S-th orientation and position value (S in 1..8) for quick runs.
Pure drawing, one batch at a time (`draw`: factor indices in, images out): each of the 720
shapes at a scale and an orientation is drawn once and placed at whole-pixel positions, the
same bytes every time. Not DeepMind's files: shapes are drawn by our own implicit equations,
and positions are whole pixels, so compare published numbers with care."""

from __future__ import annotations

import functools

import numpy as np

FACTOR_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
FULL_SIZES = (3, 6, 40, 32, 32)
SIZE, PATCH, RADIUS = 64, 32, 10.0  # canvas, sprite patch, shape radius at scale 1 (pixels)


def factor_sizes(stride: int = 1) -> tuple[int, ...]:
    return (3, 6, *(len(range(0, n, stride)) for n in FULL_SIZES[2:]))


def factor_values(stride: int = 1) -> dict[str, np.ndarray]:
    """The physical value behind every factor index (dSprites' conventions)."""
    return {"shape": np.arange(3), "scale": np.linspace(0.5, 1.0, 6),
            "orientation": np.linspace(0, 2 * np.pi, 40, endpoint=False)[::stride],
            "pos_x": np.linspace(0, 1, 32)[::stride], "pos_y": np.linspace(0, 1, 32)[::stride]}


def _sprite(shape: int, scale: float, angle: float) -> np.ndarray:
    """One shape centred in a PATCH x PATCH mask, 4x4 supersampled then thresholded at 1/2."""
    ss = 4
    t = (np.arange(PATCH * ss) + 0.5) / ss - PATCH / 2
    x, y = np.meshgrid(t, -t)  # y points up
    c, s = np.cos(angle), np.sin(angle)
    u, v = (c * x + s * y) / (RADIUS * scale), (-s * x + c * y) / (RADIUS * scale)
    if shape == 0:  # square
        inside = np.maximum(np.abs(u), np.abs(v)) <= 0.8
    elif shape == 1:  # ellipse, 2:1
        inside = u**2 + (v / 0.5) ** 2 <= 1.0
    else:  # heart: (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0, scaled to the same radius
        hu, hv = u * 1.15, v * 1.15 + 0.1
        inside = (hu**2 + hv**2 - 1) ** 3 - hu**2 * hv**3 <= 0
    cover = inside.reshape(PATCH, ss, PATCH, ss).mean(axis=(1, 3))
    return (cover >= 0.5).astype(np.uint8) * 255


def draw(factors: np.ndarray, stride: int = 1) -> np.ndarray:
    """(N, 5) factor indices of `dsprites:stride` -> (N, 1, 64, 64) uint8 images in {0, 255}."""
    f = np.asarray(factors, np.int64).reshape(-1, 5)
    out = np.zeros((len(f), 1, SIZE, SIZE), np.uint8)
    for i, (shape, scale, orientation, x, y) in enumerate(f.tolist()):
        cx, cy = _CENTRES[x * stride], _CENTRES[y * stride]
        out[i, 0, cy - PATCH // 2:cy + PATCH // 2, cx - PATCH // 2:cx + PATCH // 2] = \
            _patch(shape, scale, orientation * stride)
    return out


# whole-pixel centres of the full grid's positions: the shape (radius <= 14 px) stays inside the canvas
_CENTRES = np.rint(16 + factor_values()["pos_x"] * 31).astype(int).tolist()


@functools.cache
def _patch(shape: int, scale: int, orientation: int) -> np.ndarray:
    """The full grid's shape at a scale and an orientation index (720 of them, 1 KB each)."""
    vals = factor_values()
    return _sprite(shape, float(vals["scale"][scale]), float(vals["orientation"][orientation]))
