"""Real images in the latent space: Q reads an image's codes, and the noise z, which Q does not
read, is found by optimisation, so the learned knobs can edit a real image.

InfoGAN has an encoder for c built in (Q on D's trunk); z has none. `invert` fits z (and,
optionally, the continuous codes) so that G(z, c) matches the image, in the style of GAN
inversion by optimisation (Zhu et al. 2016, "Generative visual manipulation on the natural
image manifold"): several random starts, Adam on a pixel loss plus a feature loss in D's trunk
(pixels alone over-weight exact stroke positions; the trunk's features are what D and Q look
at), and z kept where G was trained: each start drawn from the run's noise prior, then a
Gaussian-prior penalty (N(0, I) runs) or a projection back into the box (U(-1, 1) runs, whose
density is flat inside it and zero outside). Each start is one row of one batch, and G runs in
eval mode, so rows do not interact and all starts cost one batch."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from . import latent
from .checkpoint import Model, encode, encoder_for
from .config import Config, ConfigError
from .data import ImageData, has_test_split, load, to_float
from .models import Discriminator, generate

# defaults of `invert`: the fit chosen inside a budget of 2 s per MNIST image on a laptop's CPU
# (benchmarks/invert_speed.py; the candidates in docs/results.md, issue #29); EFFORT names the choices
STARTS = 2
STEPS = 100
LR = 0.1
EFFORT = {"quick": (1, 50), "standard": (STARTS, STEPS), "thorough": (8, 300)}  # (starts, steps)
FEATURE_WEIGHT = 0.1  # trunk-feature MSE beside the pixel MSE (pixels in [-1, 1])
PRIOR_WEIGHT = 1e-3  # mean z^2: the negative log-density of N(0, I) up to scale (normal-prior runs)


@dataclass
class Reading:
    """Q's posterior for each image: class probabilities per categorical code, mean and standard
    deviation per continuous code (sigma is 1 where the run fixes it)."""

    probs: list[torch.Tensor]  # one (B, K) tensor per categorical code
    mu: torch.Tensor  # (B, n_cont)
    sigma: torch.Tensor  # (B, n_cont)

    def cat(self) -> torch.Tensor:
        """(B, n_cat) most probable category per code."""
        return torch.stack([p.argmax(1) for p in self.probs], 1) if self.probs else \
            torch.zeros(len(self.mu), 0, dtype=torch.long)

    def table(self, cfg: Config, i: int = 0) -> list[dict]:
        """Image `i`'s reading, one row per code: what the dashboard and `edit --show-codes` print."""
        rows = []
        for code in latent.codes_of(cfg):
            if code.kind == "cat":
                p = self.probs[code.index][i]
                top = p.argsort(descending=True)[:3].tolist()
                rows.append({"code": code.name, "kind": f"categorical, K={code.k}", "value": int(top[0]),
                             "certainty": float(p[top[0]]),
                             "reading": ", ".join(f"{k}: {p[k]:.0%}" for k in top)})
            else:
                mu, sd = float(self.mu[i, code.index]), float(self.sigma[i, code.index])
                rows.append({"code": code.name, "kind": "continuous", "value": mu, "certainty": sd,
                             "reading": f"{mu:+.2f} ± {sd:.2f}"})
        return rows


@torch.no_grad()
def read_codes(q_net: Discriminator, images: torch.Tensor) -> Reading:
    """Q's reading of uint8 images (B, C, H, W); q_net from `reference_encoder`."""
    q = encode(q_net, images)
    return Reading([lg.softmax(1) for lg in q.logits], q.mu, (0.5 * q.logvar).exp())


REFERENCE_IMAGES = 20_000  # at most, of a dataset without a test split


def reference_images(cfg: Config) -> ImageData:
    """The images a run's Q is read against: the labelled test split where the dataset has one,
    else a fixed sample of at most REFERENCE_IMAGES of its training images (dSprites' grid, an
    image folder)."""
    if has_test_split(cfg):
        return load(cfg, train=False)
    return load(cfg.replace(subset=min(cfg.subset or REFERENCE_IMAGES, REFERENCE_IMAGES)))


def reference_encoder(model: Model, data: ImageData | None = None) -> Discriminator:
    """Q with BatchNorm statistics of 5,000 real images (checkpoint.real_data_encoder), so that the
    reading of one image does not depend on what else is in its batch."""
    return encoder_for(model, data if data is not None else reference_images(model.cfg), n_reference=5000)


@dataclass
class Inversion:
    """The best start per image: its latent, G's reconstruction and how far it is from the image."""

    lat: latent.Latent  # (B, ...) z found, categorical codes from Q, continuous codes (refined or Q's)
    recon: torch.Tensor  # (B, C, H, W) in [0, 1]
    error: torch.Tensor  # (B,) root-mean-square pixel error, pixels in [0, 1]
    reading: Reading

    def latent_of(self, i: int) -> latent.Latent:
        return latent.Latent(self.lat.z[i:i + 1], self.lat.cat[i:i + 1], self.lat.cont[i:i + 1])


def invert(model: Model, q_net: Discriminator, images: torch.Tensor, starts: int = STARTS, steps: int = STEPS,
           refine_codes: bool = False, seed: int = 0, lr: float = LR, feature_weight: float = FEATURE_WEIGHT,
           prior_weight: float = PRIOR_WEIGHT) -> Inversion:
    """Find z for uint8 images (B, C, H, W), the codes fixed at Q's reading (the most probable
    category, the mean of each continuous code) or, with `refine_codes`, the continuous codes
    optimised from there too. Deterministic for a given `seed`."""
    if starts < 1 or steps < 0:
        raise ValueError("need starts >= 1 and steps >= 0")
    cfg, g = model.cfg, model.G
    dev = next(g.parameters()).device
    reading = read_codes(q_net, images)
    n = len(images)
    target = to_float(images.to(dev)).repeat_interleave(starts, 0)
    was_training = g.training
    g.eval()
    q_net.eval()
    with torch.no_grad():
        target_feat = q_net.trunk(target)
    gen = torch.Generator().manual_seed(seed)
    z = latent.noise(cfg, n * starts, generator=gen).to(dev).requires_grad_()
    uniform = cfg.noise_prior == "uniform"
    cat = reading.cat().to(dev).repeat_interleave(starts, 0)
    cont = reading.mu.to(dev).repeat_interleave(starts, 0).clone().requires_grad_(refine_codes)
    params = [z, cont] if refine_codes else [z]
    opt = torch.optim.Adam(params, lr=lr)

    def losses() -> torch.Tensor:  # one loss per row (image x start)
        x = g(latent.Latent(z, cat, cont).vector(cfg))
        pix = (x - target).pow(2).flatten(1).mean(1)
        feat = (q_net.trunk(x) - target_feat).pow(2).mean(1)
        return pix + feature_weight * feat + (0.0 if uniform else prior_weight * z.pow(2).mean(1))

    try:
        for _ in range(steps):
            loss = losses()
            grads = torch.autograd.grad(loss.sum(), params)  # only the inputs: G and D stay as they are
            for p, gr in zip(params, grads):
                p.grad = gr
            opt.step()
            if uniform:
                with torch.no_grad():
                    z.clamp_(-1.0, 1.0)
        with torch.no_grad():
            best = losses().view(n, starts).argmin(1) + torch.arange(n, device=dev) * starts
    finally:
        g.train(was_training)
    lat = latent.Latent(z.detach()[best], cat[best], cont.detach()[best])
    recon = generate(g, cfg, lat)
    error = (recon - images.float().div(255)).pow(2).flatten(1).mean(1).sqrt()
    return Inversion(lat, recon, error, reading)


def edit(model: Model, lat: latent.Latent, cat: dict[str, int] | None = None,
         cont: dict[str, float] | None = None) -> torch.Tensor:
    """G's images (B, C, H, W) in [0, 1] for `lat` with the named codes set (others kept)."""
    lat = latent.Latent(lat.z.clone(), lat.cat.clone(), lat.cont.clone())
    for code in latent.codes_of(model.cfg):
        if code.kind == "cat" and cat and code.name in cat:
            lat.cat[:, code.index] = int(cat[code.name])
        if code.kind == "cont" and cont and code.name in cont:
            lat.cont[:, code.index] = float(cont[code.name])
    return generate(model.G, model.cfg, lat)


def traversals_from(model: Model, lat: latent.Latent, values: list[float]) -> dict[str, torch.Tensor]:
    """From one inverted image, each code walked over its range with everything else kept:
    code name -> images (N, C, H, W), every category of a categorical code, `values` of a continuous one."""
    out = {}
    for code in latent.codes_of(model.cfg):
        vals = list(range(code.k)) if code.kind == "cat" else values
        n = len(vals)
        row = latent.Latent(lat.z.repeat(n, 1), lat.cat.repeat(n, 1), lat.cont.repeat(n, 1))
        if code.kind == "cat":
            row.cat[:, code.index] = torch.tensor(vals)
        else:
            row.cont[:, code.index] = torch.tensor(vals, dtype=row.cont.dtype)
        out[code.name] = generate(model.G, model.cfg, row)
    return out


def code_map(model: Model, q_net: Discriminator, data: ImageData, n: int = 3000, seed: int = 0
             ) -> tuple[np.ndarray, Reading]:
    """Q's reading of up to `n` of `data`'s images, a fixed random sample: (their indices, reading)."""
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n].sort().values
    return idx.numpy(), read_codes(q_net, data.images[idx])


def parse_settings(cfg: Config, items: list[str]) -> tuple[dict[str, int], dict[str, float]]:
    """`CODE=VALUE` strings (the CLI's --set) as the categorical and continuous values of `edit`;
    ConfigError names the first bad one (an unknown code, a category out of range, not a number)."""
    codes = {c.name: c for c in latent.codes_of(cfg)}
    cat: dict[str, int] = {}
    cont: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        code = codes.get(name.strip())
        if not sep or code is None:
            raise ConfigError({"set": f"{item!r}: expected CODE=VALUE with CODE one of {', '.join(codes)}"})
        try:
            if code.kind == "cat":
                cat[code.name] = int(value)
                assert 0 <= cat[code.name] < code.k
            else:
                cont[code.name] = float(value)
                assert math.isfinite(cont[code.name])
        except (ValueError, AssertionError):
            what = f"a category 0..{code.k - 1}" if code.kind == "cat" else "a finite number"
            raise ConfigError({"set": f"{item!r}: {code.name} takes {what}"}) from None
    return cat, cont
