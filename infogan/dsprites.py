"""A procedurally generated re-creation of DeepMind's dSprites, with ground-truth factors.

64x64 binary images of one white shape on black. Factors (dSprites' layout and sizes):
shape (square, ellipse, heart), scale (6 values, 0.5..1), orientation (40 values over
[0, 2pi)), position x and y (32 values each, 0..1): 3*6*40*32*32 = 737,280 images, in
row-major factor order (pos_y varies fastest), exactly as `np.ravel_multi_index` orders them.

`dsprites:S` keeps every S-th orientation and position value (S in 1..8) for quick runs.
Pure drawing: deterministic numpy, the same bytes every time; `data.load_dsprites` caches
the result. Not DeepMind's files: shapes are drawn by our own implicit equations, and
positions are whole pixels, so compare published numbers with care."""

from __future__ import annotations

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


def generate(stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """-> (images (N, 64, 64) uint8 in {0, 255}, factors (N, 5) uint8 indices)."""
    vals = factor_values(stride)
    sizes = factor_sizes(stride)
    # whole-pixel centres: the shape (radius <= 14 px) stays inside the canvas
    centres = np.rint(16 + vals["pos_x"] * 31).astype(int)
    images = np.zeros((*sizes, SIZE, SIZE), dtype=np.uint8)
    for si in range(3):
        for ki, scale in enumerate(vals["scale"]):
            for oi, angle in enumerate(vals["orientation"]):
                patch = _sprite(si, scale, angle)
                column = np.zeros((len(centres), SIZE, PATCH), dtype=np.uint8)  # all y, x-band
                for yi, cy in enumerate(centres):
                    column[yi, cy - PATCH // 2:cy + PATCH // 2] = patch
                for xi, cx in enumerate(centres):
                    images[si, ki, oi, xi, :, :, cx - PATCH // 2:cx + PATCH // 2] = column
    factors = np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), 1).astype(np.uint8)
    return images.reshape(-1, SIZE, SIZE), factors
