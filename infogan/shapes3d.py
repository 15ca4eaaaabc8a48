"""`shapes3d`: our own drawing of 3D Shapes' layout (Burgess & Kim 2018), with ground-truth factors.

64x64 RGB images of a room (a floor and two walls meeting in a corner) and one object. Factors,
in 3D Shapes' order and sizes: floor hue, wall hue, object hue (10 each, 0..0.9 of the hue
circle), scale (8, 0.75..1.25), shape (4: cube, cylinder, sphere, capsule), orientation (15,
-30..30 degrees) = 480,000 images, row-major (orientation fastest, as `np.ravel_multi_index`).

Orientation turns the camera around the object: the room's corner slides across the wall, the
light (fixed in the room) moves over the object and its shadow, and a cube shows other faces.
Shading is Lambertian on each shape's true normals, so shape reads as 3D. Not DeepMind's
files or renderer (theirs is MuJoCo with perspective); compare published numbers with care.

Pure drawing, one batch at a time: factor indices in, images out. Elementwise float32 numpy
only (IEEE-rounded on every machine) with the few sines and cosines rounded to 1e-9, so the
same indices give the same bytes everywhere."""

from __future__ import annotations

import math

import numpy as np

FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
SIZES = (10, 10, 10, 8, 4, 15)
SHAPES = ("cube", "cylinder", "sphere", "capsule")
SIZE, SUPER = 64, 2  # canvas, supersampling per axis (edges are the mean of SUPER^2 samples)
TILT = 0.3  # the camera looks down a little: a point nearer the camera is drawn this much lower
AMBIENT = 0.35


def factor_values() -> dict[str, np.ndarray]:
    """The physical value behind every factor index (3D Shapes' ranges)."""
    hues = np.arange(10) / 10
    return {"floor_hue": hues, "wall_hue": hues, "object_hue": hues, "scale": np.linspace(0.75, 1.25, 8),
            "shape": np.arange(4), "orientation": np.linspace(-30, 30, 15)}


def hue_rgb(hue: np.ndarray) -> np.ndarray:
    """Fully saturated colours of hues in [0, 1): (..., 3) in [0, 1] (HSV with s = v = 1)."""
    h = np.asarray(hue, np.float32)[..., None] * np.float32(6) + np.array([0, 4, 2], np.float32)
    return np.clip(np.abs(h % 6 - 3) - 1, 0, 1).astype(np.float32)


def swatch(factor: str, index: int) -> str | None:
    """The colour a hue factor's value paints (a CSS hex colour), so a chart can show it; None
    for the other factors."""
    if not factor.endswith("_hue"):
        return None
    r, g, b = (int(round(float(c) * 255)) for c in hue_rgb(factor_values()[factor][index]))
    return f"#{r:02x}{g:02x}{b:02x}"


def _trig(degrees: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rad = np.deg2rad(np.asarray(degrees, np.float64))
    return (np.round(np.sin(rad), 9).astype(np.float32), np.round(np.cos(rad), 9).astype(np.float32))


def draw(factors: np.ndarray) -> np.ndarray:
    """(N, 6) factor indices -> (N, 3, 64, 64) uint8 images: each image's colours times the light
    its floor, walls and object receive (`surfaces`, one per scale, shape and orientation)."""
    f = np.asarray(factors, np.int64).reshape(-1, 6)
    scene = np.ravel_multi_index(f[:, 3:].T, SIZES[3:])
    for i in np.unique(scene[~_DRAWN[scene]]):
        _SURFACES[i], _DRAWN[i] = surfaces(*np.unravel_index(i, SIZES[3:])), True
    layers = _SURFACES[scene]  # (N, 3, 64, 64)
    hues = factor_values()["floor_hue"]
    rgb = [hue_rgb(hues[f[:, i]])[:, :, None, None] for i in range(3)]  # floor, wall, object: (N, 3, 1, 1)
    img = rgb[0] * layers[:, 0:1] + rgb[1] * layers[:, 1:2] + rgb[2] * layers[:, 2:3]
    return np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8)


# every scene's surfaces (scale x shape x orientation), drawn on first use: 480 of them, 24 MB in all
_SURFACES = np.zeros((math.prod(SIZES[3:]), 3, SIZE, SIZE), np.float32)
_DRAWN = np.zeros(len(_SURFACES), bool)


def surfaces(scale: int, shape: int, orientation: int) -> np.ndarray:
    """(3, 64, 64) float32: the light on the floor, the walls and the object at each pixel, times
    the share of the pixel each covers (SUPER x SUPER samples, added in a fixed order)."""
    vals = factor_values()
    s = SIZE * SUPER
    t = ((np.arange(s, dtype=np.float32) + 0.5) / s * 2 - 1)  # sample centres in [-1, 1]
    u, v = t[None, :], t[:, None]  # x to the right, y down
    sin_o, cos_o = _trig(vals["orientation"][orientation])
    # the light, fixed in the room (from the upper left, in front), seen from the turned camera
    sin_l, cos_l = _trig(-45 - vals["orientation"][orientation])
    light = (sin_l * np.float32(0.6), np.float32(0.8), cos_l * np.float32(0.6))  # unit length

    # the room: two walls meet in a corner that slides with the camera; the floor below
    corner = -1.6 * sin_o
    boundary = 0.1 + 0.25 * np.abs(u - corner)
    wall_shade = np.where(u < corner, 0.78 + 0.14 * sin_o, 0.78 - 0.14 * sin_o) - 0.08 * v
    floor_shade = 0.55 + 0.4 * np.clip((v - boundary) / (1 - boundary), 0, 1)

    # the object stands on the floor, centred; its shadow falls away from the light
    r = np.float32(vals["scale"][scale] * 0.36)
    base = np.float32(0.62)
    q = ((u + light[0] * r * 0.6) / (1.3 * r)) ** 2 + ((v - base) / (0.32 * r)) ** 2
    floor_shade = floor_shade * (1 - 0.4 * np.clip(1 - q, 0, 1))
    mask, shade = _object(shape, u, v, r, base, sin_o, cos_o, light)

    wall = v < boundary
    maps = np.stack([np.where(~mask & ~wall, floor_shade, 0), np.where(~mask & wall, wall_shade, 0),
                     np.where(mask, shade, 0)]).astype(np.float32)
    k = maps.reshape(3, SIZE, SUPER, SIZE, SUPER)
    total = k[:, :, 0, :, 0]
    for i, j in [(i, j) for i in range(SUPER) for j in range(SUPER)][1:]:
        total = total + k[:, :, i, :, j]
    return total / np.float32(SUPER * SUPER)


def _lambert(nx: np.ndarray, ny: np.ndarray, nz: np.ndarray, light: tuple) -> np.ndarray:
    return AMBIENT + (1 - AMBIENT) * np.clip(nx * light[0] + ny * light[1] + nz * light[2], 0, 1)


def _object(shape: int, u: np.ndarray, v: np.ndarray, r: np.float32, base: np.float32,
            sin_o: np.float32, cos_o: np.float32, light: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(mask, shade) of the object of shape `shape` (SHAPES' order), radius r, standing at `base`.
    Normals are in the camera's frame: x right, y up, z towards the camera."""
    mask = np.zeros((v.shape[0], u.shape[1]), bool)
    shade = np.zeros(mask.shape, np.float32)

    def paint(where: np.ndarray, value: np.ndarray) -> None:
        nonlocal mask, shade
        shade = np.where(where & ~mask, value, shade)
        mask = mask | where

    zero = np.zeros(mask.shape, np.float32)
    if SHAPES[shape] == "sphere":  # radius r, resting on the floor
        du, dv = u / r, (v - (base - r)) / r
        d2 = du * du + dv * dv
        paint(d2 <= 1, _lambert(du, -dv, np.sqrt(np.clip(1 - d2, 0, 1)), light))
    elif SHAPES[shape] == "capsule":  # radius 0.6 r: two hemispheres joined by a cylinder, 2.4 r tall
        rc = 0.6 * r
        centre = np.clip(v, base - 2.4 * r + rc, base - rc)
        cu, cv = u / rc, (v - centre) / rc
        c2 = cu * cu + cv * cv
        paint(c2 <= 1, _lambert(cu, -cv, np.sqrt(np.clip(1 - c2, 0, 1)), light))
    elif SHAPES[shape] == "cylinder":  # radius 0.85 r, 1.7 r tall; its rims are ellipses (the tilt)
        ry, h = 0.85 * r, 1.7 * r
        x = u / ry + zero
        rim = TILT * ry * np.sqrt(np.clip(1 - x * x, 0, 1))
        paint(x * x + ((v - (base - h)) / (TILT * ry)) ** 2 <= 1, _lambert(zero, zero + 1, zero, light))
        paint((np.abs(x) <= 1) & (v <= base + rim) & (v >= base - h),
              _lambert(x, zero, np.sqrt(np.clip(1 - x * x, 0, 1)), light))
    else:  # cube: edge 1.5 r, turned about its vertical axis by the orientation plus 20 degrees
        a = 0.75 * r  # half an edge
        s20, c20 = _trig(20.0)
        sin_y, cos_y = sin_o * c20 + cos_o * s20, cos_o * c20 - sin_o * s20
        # its corners on the floor in the camera's frame (x right, z towards the camera), anticlockwise
        square = ((-1, -1), (1, -1), (1, 1), (-1, 1))
        cx = [a * (sx * cos_y + sz * sin_y) for sx, sz in square]
        cz = [a * (-sx * sin_y + sz * cos_y) for sx, sz in square]
        paint(_inside_quad(u, v, [(x_, base - 2 * a + TILT * z_) for x_, z_ in zip(cx, cz)]),
              _lambert(zero, zero + 1, zero, light))
        for k in range(4):  # a side face shows when its outward normal points towards the camera
            x0, z0, x1, z1 = cx[k], cz[k], cx[(k + 1) % 4], cz[(k + 1) % 4]
            nx, nz = z1 - z0, x0 - x1
            length = np.sqrt(nx * nx + nz * nz)
            nx, nz = nx / length, nz / length
            if nz <= 0 or abs(x1 - x0) < 1e-6:
                continue
            tt = (u - x0) / (x1 - x0)
            z = z0 + tt * (z1 - z0)
            face = (tt >= 0) & (tt <= 1) & (v <= base + TILT * z) & (v >= base - 2 * a + TILT * z)
            paint(face, _lambert(zero + nx, zero, zero + nz, light))
    return mask, shade


def _inside_quad(u: np.ndarray, v: np.ndarray, corners: list) -> np.ndarray:
    """Pixels inside the convex quadrilateral through `corners` (either winding)."""
    signs = []
    for (x0, y0), (x1, y1) in zip(corners, corners[1:] + corners[:1]):
        signs.append((x1 - x0) * (v - y0) - (y1 - y0) * (u - x0))
    pos = np.all([s >= 0 for s in signs], axis=0)
    neg = np.all([s <= 0 for s in signs], axis=0)
    return pos | neg
