"""Random small affine jitter of generated images, for the categorical codes' invariance term.

Why: a categorical code is free to split the data by pose (upright vs slanted 1s) instead of
by identity (4 vs 9); both partitions carry ln K nats. Asking Q to recover the category from a
rotated, rescaled and shifted copy of G(z, c) as well makes a pose-based split costly, so the
code is pushed towards what survives such jitter: the digit's identity. Continuous codes are
left out of the term, since they are meant to capture exactly this kind of pose."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MAX_DEGREES = 20.0  # rotation in [-20, 20] degrees
SCALE = (0.85, 1.1)  # zoom factor
MAX_SHIFT = 0.1  # translation, as a fraction of half the image (0.1 -> 1.4 px at 28x28)


def jitter(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A differentiable, independently drawn affine transform per image; borders repeat the edge
    pixels (background), so no artificial frame appears."""
    b = images.shape[0]
    u = torch.rand(b, 4, device=images.device, generator=generator, dtype=images.dtype)
    angle = (u[:, 0] * 2 - 1) * math.radians(MAX_DEGREES)
    scale = SCALE[0] + u[:, 1] * (SCALE[1] - SCALE[0])
    shift = (u[:, 2:] * 2 - 1) * MAX_SHIFT
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, padding_mode="border", align_corners=False)
