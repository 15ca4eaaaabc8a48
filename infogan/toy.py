"""A 2D InfoGAN that learns in seconds: the method's whole idea on data a person can see.

Data: a ring of 8 Gaussians (radius 2, sigma 0.05), the 2D set GAN papers use to show mode
coverage (Metz et al. 2017, Unrolled GANs; GAN Lab shows GANs on such data, without codes).
Input: 2 noise dimensions, a categorical code of 8 values and one continuous code in U(-1, 1).
G and D are MLPs (2 hidden layers of 128, ReLU); Q is a head on D's trunk, as in the image
model (models.py): logits for the categorical code and a mean for the continuous one (fixed
sigma 1, so its NLL is a squared error). The objective is the image trainer's (losses.py):
D and Q minimise the GAN loss + lambda_info * L_I, G the non-saturating GAN loss + the same
lambda_info * L_I. Adam lr 1e-3, betas (0.5, 0.999), batch 256.

With the information term on, each value of the categorical code should settle on one mode:
`purity` is, for each value, the share of its samples whose nearest mode is that value's most
common one, averaged over the values (1 = every value owns a mode; near 1/8 when the code is
ignored and the modes are covered; a generator collapsed onto one mode also scores 1, which is
why `modes_covered` stands beside it). A mode is covered when at least 1% of the samples lie
within 3 sigma of it (Metz et al. 2017's "high quality" samples)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .losses import d_loss, g_loss

MODES, RADIUS, SIGMA = 8, 2.0, 0.05
NOISE, HIDDEN, BATCH, LR = 2, 128, 256, 1e-3
LAMBDA_CONT = 0.1  # the continuous code's weight relative to the categorical one (the paper's MNIST ratio)
GRID = 41  # D's decision surface: GRID x GRID points over [-3, 3]^2
EXTENT = 3.0


def centres() -> torch.Tensor:
    """The 8 modes' centres on the ring, (8, 2)."""
    angle = torch.arange(MODES) * (2 * math.pi / MODES)
    return RADIUS * torch.stack([angle.cos(), angle.sin()], 1)


def real_batch(n: int, gen: torch.Generator) -> torch.Tensor:
    mode = torch.randint(MODES, (n,), generator=gen)
    return centres()[mode] + SIGMA * torch.randn(n, 2, generator=gen)


def _mlp(inp: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inp, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU())


class ToyG(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(_mlp(NOISE + MODES + 1), nn.Linear(HIDDEN, 2))

    def forward(self, z: torch.Tensor, cat: torch.Tensor, cont: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, F.one_hot(cat, MODES).float(), cont[:, None]], 1))


class ToyD(nn.Module):
    """D's trunk, its real/fake head and Q's head (categorical logits, continuous mean)."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk, self.d, self.q = _mlp(2), nn.Linear(HIDDEN, 1), nn.Linear(HIDDEN, MODES + 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.trunk(x)
        q = self.q(h)
        return self.d(h).squeeze(1), q[:, :MODES], q[:, MODES]


def info_term(d: ToyD, x: torch.Tensor, cat: torch.Tensor, cont: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(D's logits, L_I's negative: the categorical CE plus the continuous code's Gaussian NLL
    with sigma 1 up to its constant), on generated points x."""
    logit, logits, mu = d(x)
    return logit, F.cross_entropy(logits, cat) + LAMBDA_CONT * 0.5 * ((cont - mu) ** 2).mean()


@dataclass
class Snapshot:
    """What the page draws at one step: generated points by code value, D's surface."""

    step: int
    points: torch.Tensor  # (8 * per_value, 2), value-major
    values: torch.Tensor  # the categorical value of each point
    surface: torch.Tensor  # (GRID, GRID) D's probability of "real"
    purity: float
    modes_covered: int


@dataclass
class ToyResult:
    lambda_info: float
    steps: int
    seed: int
    seconds: float
    purity: float
    modes_covered: int
    mi_cat: float  # the categorical code's MI bound at the end, nats (ceiling ln 8 = 2.079)
    snapshots: list[Snapshot] = field(default_factory=list, repr=False)

    def summary(self) -> dict[str, float | int]:
        """The CLI's JSON line."""
        return {"lambda_info": self.lambda_info, "steps": self.steps, "seed": self.seed,
                "purity": round(self.purity, 4), "modes_covered": self.modes_covered,
                "mi_cat": round(self.mi_cat, 4), "seconds": round(self.seconds, 2)}


@torch.no_grad()
def score(g: ToyG, per_value: int = 256, seed: int = 12345) -> tuple[float, int, torch.Tensor, torch.Tensor]:
    """(purity, modes covered, points, their code values) on `per_value` draws per value."""
    gen = torch.Generator().manual_seed(seed)
    values = torch.arange(MODES).repeat_interleave(per_value)
    z = torch.randn(len(values), NOISE, generator=gen)
    cont = torch.rand(len(values), generator=gen) * 2 - 1
    points = g(z, values, cont)
    dist = torch.cdist(points, centres())
    nearest = dist.argmin(1)
    shares = [torch.bincount(nearest[values == k], minlength=MODES).max().item() / per_value for k in range(MODES)]
    good = dist.min(1).values < 3 * SIGMA
    covered = int((torch.bincount(nearest[good], minlength=MODES) >= 0.01 * len(values)).sum())
    return sum(shares) / MODES, covered, points, values


@torch.no_grad()
def surface(d: ToyD) -> torch.Tensor:
    axis = torch.linspace(-EXTENT, EXTENT, GRID)
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")
    return torch.sigmoid(d(torch.stack([xs.flatten(), ys.flatten()], 1))[0]).view(GRID, GRID)


def train_toy(lambda_info: float = 1.0, steps: int = 1500, seed: int = 0, every: int = 100,
              on_snapshot: Callable[[Snapshot], None] | None = None) -> ToyResult:
    """Train the 2D InfoGAN for `steps` steps; a snapshot every `every` steps (and at the end)
    goes to `on_snapshot` (the page draws it as it trains) and into the result."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    g, d = ToyG(), ToyD()
    opt_g = torch.optim.Adam(g.parameters(), LR, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), LR, betas=(0.5, 0.999))
    snapshots: list[Snapshot] = []
    t0 = time.perf_counter()
    ce = torch.zeros(())
    for step in range(1, steps + 1):
        x = real_batch(BATCH, gen)
        z = torch.randn(BATCH, NOISE, generator=gen)
        cat = torch.randint(MODES, (BATCH,), generator=gen)
        cont = torch.rand(BATCH, generator=gen) * 2 - 1
        fake = g(z, cat, cont)
        fake_logit, info = info_term(d, fake.detach(), cat, cont)
        loss = d_loss(d(x)[0], fake_logit) + lambda_info * info
        opt_d.zero_grad(set_to_none=True)
        loss.backward()
        opt_d.step()
        d.requires_grad_(False)
        fake_logit, info = info_term(d, fake, cat, cont)
        loss = g_loss(fake_logit) + lambda_info * info
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
        d.requires_grad_(True)
        if step % every == 0 or step == steps:
            with torch.no_grad():
                ce = F.cross_entropy(d(fake)[1], cat)
            purity, covered, points, values = score(g, per_value=64)
            snap = Snapshot(step, points, values, surface(d), purity, covered)
            snapshots.append(snap)
            if on_snapshot:
                on_snapshot(snap)
    seconds = time.perf_counter() - t0
    purity, covered, _, _ = score(g)
    return ToyResult(lambda_info, steps, seed, seconds, purity, covered, math.log(MODES) - float(ce), snapshots)
