"""The generator's input: noise z and the latent codes c, and how to sample or pin them.

Layout of the input vector: [z | one-hot c1 | one-hot c2 | ... | circular | cont], where each
circular code enters as the point (cos pi c, sin pi c). A `Latent` batch holds every continuous
code's value c, circular ones first. Codes are named c1, c2, ... in that order: categorical codes
first, then continuous ones."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .config import Config


@dataclass(frozen=True)
class Code:
    name: str
    kind: str  # "cat" or "cont"
    k: int = 0  # number of categories for "cat"
    index: int = 0  # position among codes of the same kind
    circular: bool = False  # a "cont" code that is an angle (Config.circular_codes)

    @property
    def label(self) -> str:
        """What kind of code it is, as a caption says it."""
        return f"categorical, K={self.k}" if self.kind == "cat" else "circular" if self.circular else "continuous"


def codes_of(cfg: Config) -> list[Code]:
    """The codes in latent order, named as Config.code_names names them."""
    names = cfg.code_names
    cats = [Code(names[i], "cat", k, i) for i, k in enumerate(cfg.cat_codes)]
    conts = [Code(names[len(cats) + j], "cont", 0, j, j < cfg.circular_codes) for j in range(cfg.n_cont)]
    return cats + conts


@dataclass
class Latent:
    """One batch of generator inputs; `cat` holds category indices, `cont` values in [-1, 1]."""

    z: torch.Tensor  # (B, noise_dim)
    cat: torch.Tensor  # (B, n_cat) long
    cont: torch.Tensor  # (B, n_cont)

    def vector(self, cfg: Config) -> torch.Tensor:
        """G's input: z, one one-hot per categorical code, each circular code's (cos, sin), then
        the other continuous codes."""
        onehots = [torch.nn.functional.one_hot(self.cat[:, i], k).to(self.z.dtype)
                   for i, k in enumerate(cfg.cat_codes)]
        angle = self.cont[:, :cfg.circular_codes] * math.pi
        points = torch.stack([angle.cos(), angle.sin()], dim=2).flatten(1)
        return torch.cat([self.z, *onehots, points, self.cont[:, cfg.circular_codes:]], dim=1)


def wrap(c: torch.Tensor) -> torch.Tensor:
    """A circular code's value brought into [-1, 1) (c and c + 2 are the same angle)."""
    return torch.remainder(c + 1, 2) - 1


def smooth_inputs(cfg: Config) -> torch.Tensor:
    """Which entries of G's input vector take continuous values: z and the continuous codes, not
    the categorical codes' one-hots (a bool mask over `Latent.vector`)."""
    return torch.cat([torch.ones(cfg.noise_dim, dtype=torch.bool), torch.zeros(sum(cfg.cat_codes), dtype=torch.bool),
                      torch.ones(cfg.n_cont + cfg.circular_codes, dtype=torch.bool)])


def noise(cfg: Config, batch: int, device: torch.device | str = "cpu",
          generator: torch.Generator | None = None) -> torch.Tensor:
    """z from the run's noise prior: N(0, I), or U(-1, 1) per dimension."""
    if cfg.noise_prior == "uniform":
        return torch.rand(batch, cfg.noise_dim, device=device, generator=generator) * 2 - 1
    return torch.randn(batch, cfg.noise_dim, device=device, generator=generator)


def sample(cfg: Config, batch: int, device: torch.device | str = "cpu",
           generator: torch.Generator | None = None) -> Latent:
    """Draw from the prior: z (`noise`), each categorical code uniform, continuous codes U(-1, 1)."""
    z = noise(cfg, batch, device, generator)
    cat = torch.stack([torch.randint(k, (batch,), device=device, generator=generator)
                       for k in cfg.cat_codes], dim=1) if cfg.cat_codes else \
        torch.zeros(batch, 0, dtype=torch.long, device=device)
    cont = torch.rand(batch, cfg.n_cont, device=device, generator=generator) * 2 - 1
    return Latent(z, cat, cont)


def sharing_pairs(cfg: Config, batch: int, device: torch.device | str = "cpu",
                  generator: torch.Generator | None = None) -> tuple[Latent, Latent, torch.Tensor]:
    """InfoGAN-CR's pairs: for each row a code k (uniform over all codes, in code order), and two
    latents with the same z and the same value of code k, every other code drawn independently;
    its continuous ones at least `cfg.cr_gap` apart (InfoGAN-CR's `sample_different`: both drawn
    from U(-1 + gap/2, 1 - gap/2), then pushed gap/2 apart each; with gap 0 they are the plain
    draws). A circular code's two values are at least min(gap, 1) apart around the circle (1 is
    the farthest two angles can be): the second is the first turned by U(g, 2 - g).
    -> (first, second, k)."""
    a, b = sample(cfg, batch, device, generator), sample(cfg, batch, device, generator)
    n_cat = len(cfg.cat_codes)
    k = torch.randint(n_cat + cfg.n_cont, (batch,), device=device, generator=generator)
    shared = torch.nn.functional.one_hot(k, n_cat + cfg.n_cont).bool()
    half = cfg.cr_gap / 2
    u, v = a.cont * (1 - half), b.cont * (1 - half)
    push = torch.where(u > v, half, -half)
    first, second = u + push, v - push
    n, g = cfg.circular_codes, min(cfg.cr_gap, 1.0)
    first[:, :n] = a.cont[:, :n]
    second[:, :n] = wrap(a.cont[:, :n] + g + (b.cont[:, :n] + 1) / 2 * (2 - 2 * g))
    a = Latent(a.z, a.cat, torch.where(shared[:, n_cat:], a.cont, first))
    b = Latent(a.z, torch.where(shared[:, :n_cat], a.cat, b.cat), torch.where(shared[:, n_cat:], a.cont, second))
    return a, b, k


def split_values(cfg: Config, values: dict[str, float]) -> tuple[dict[str, int], dict[str, float]]:
    """Knob values by code name as (categorical, continuous), the two arguments `fixed` and
    invert.edit take."""
    kinds = {c.name: c.kind for c in codes_of(cfg)}
    return ({n: int(v) for n, v in values.items() if kinds.get(n) == "cat"},
            {n: float(v) for n, v in values.items() if kinds.get(n) == "cont"})


def fixed(cfg: Config, seeds: list[int], cat: dict[str, int] | None = None,
          cont: dict[str, float] | None = None, device: torch.device | str = "cpu") -> Latent:
    """One latent per noise seed with the codes pinned (unnamed codes: category 0, value 0).

    The noise for seed s depends only on s and noise_dim, so the same seed gives the same
    z in every run and every checkpoint of the same layout: that is what makes grids comparable."""
    z = torch.cat([noise(cfg, 1, generator=torch.Generator().manual_seed(s))
                   for s in seeds]) if seeds else torch.zeros(0, cfg.noise_dim)
    n = len(seeds)
    cat_t = torch.zeros(n, len(cfg.cat_codes), dtype=torch.long)
    cont_t = torch.zeros(n, cfg.n_cont)
    for code in codes_of(cfg):
        if code.kind == "cat" and cat and code.name in cat:
            cat_t[:, code.index] = int(cat[code.name])
        if code.kind == "cont" and cont and code.name in cont:
            cont_t[:, code.index] = float(cont[code.name])
    return Latent(z.to(device), cat_t.to(device), cont_t.to(device))


def traversal(cfg: Config, code_name: str, seeds: list[int], values: list[float] | None = None,
              base_cat: dict[str, int] | None = None, base_cont: dict[str, float] | None = None,
              device: torch.device | str = "cpu") -> tuple[Latent, list[float]]:
    """Latents for a traversal grid, row-major: one row per seed, one column per code value.

    A categorical code walks all its K values; a continuous one walks `values` (default 5 steps
    over -2..2, past the U(-1, 1) training range as in the paper; a circular code's default is 5
    steps once round its circle)."""
    code = {c.name: c for c in codes_of(cfg)}.get(code_name)
    if code is None:
        raise ValueError(f"no code named {code_name!r}; this run has {', '.join(cfg.code_names)}")
    if code.kind == "cat":
        values = list(range(code.k))
    elif values is None:
        values = torch.linspace(-1, 1, 6)[:-1].tolist() if code.circular else torch.linspace(-2, 2, 5).tolist()
    n = len(values)
    base = fixed(cfg, seeds, base_cat, base_cont, device)
    lat = Latent(base.z.repeat_interleave(n, 0), base.cat.repeat_interleave(n, 0),
                 base.cont.repeat_interleave(n, 0))
    column = torch.tensor(values, device=device).repeat(len(seeds))
    if code.kind == "cat":
        lat.cat[:, code.index] = column.long()
    else:
        lat.cont[:, code.index] = column.float()
    return lat, [float(v) for v in values]
