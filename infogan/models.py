"""Generator G, discriminator D with the auxiliary head Q on D's shared trunk, and the
contrastive regulariser's H.

The layer sizes come from one table (archs.py: the paper's nets per image size, InfoGAN-CR's
dSprites nets); BatchNorm in D, spectral normalisation and G's output nonlinearity are Config
fields. G maps the input vector through two FC layers to a small feature map and upsamples it
with stride-2 transposed convolutions; D's trunk mirrors it with stride-2 convolutions and an
FC layer, and two heads read the trunk's features. Images enter D, and leave G, in [-1, 1]
whatever the output nonlinearity: a sigmoid G's [0, 1] images are mapped to [-1, 1] as its last
layer and back to [0, 1] as D's first, so the nets compute exactly what the authors' do while
every caller keeps one convention."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .archs import ARCHS, Arch
from .config import Config
from .data import inference_batch
from .latent import Latent


def arch_of(cfg: Config) -> Arch:
    return ARCHS[(cfg.arch, cfg.image_size)]


def _up(cin: int, cout: int, bias: bool = False) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=bias)


def _down(cin: int, cout: int, bias: bool) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 4, stride=2, padding=1, bias=bias)


class Rescale(nn.Module):
    """x * scale + shift: a sigmoid G's [0, 1] to the project's [-1, 1] and back (no parameters)."""

    def __init__(self, scale: float, shift: float):
        super().__init__()
        self.scale, self.shift = scale, shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


def _block(a: Arch, layer: nn.Module, width: int, norm: type[nn.Module], act: nn.Module) -> list[nn.Module]:
    """A G layer with its BatchNorm and activation, in the row's order."""
    return [layer, act, norm(width)] if a.act_then_norm else [layer, norm(width), act]


def _trunk(cfg: Config, in_channels: int) -> nn.Sequential:
    """D's trunk (and H's): stride-2 convolutions and one FC layer, leaky ReLU, BatchNorm after
    every layer but the first when cfg.d_batchnorm (then without bias)."""
    a, bn = arch_of(cfg), cfg.d_batchnorm
    layers: list[nn.Module] = [Rescale(0.5, 0.5)] if cfg.output == "sigmoid" else []
    layers += [_down(in_channels, a.d_channels[0], True), nn.LeakyReLU(a.slope, True)]
    for cin, cout in zip(a.d_channels, a.d_channels[1:]):
        layers += [_down(cin, cout, not bn), *([nn.BatchNorm2d(cout)] if bn else []), nn.LeakyReLU(a.slope, True)]
    end = cfg.image_size // 2 ** len(a.d_channels)
    layers += [nn.Flatten(), nn.Linear(a.d_channels[-1] * end * end, a.d_fc, bias=not bn),
               *([nn.BatchNorm1d(a.d_fc)] if bn else []), nn.LeakyReLU(a.slope, True)]
    return nn.Sequential(*layers)


@dataclass
class QOut:
    logits: list[torch.Tensor]  # one (B, K) tensor per categorical code
    mu: torch.Tensor  # (B, n_cont); a circular code's in (-1, 1]
    logvar: torch.Tensor  # (B, n_cont); zeros when sigma is fixed to 1


def _stacked(seq: nn.Sequential, h: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """Run `seq` on a stack of batches, each BatchNorm seeing one batch at a time."""
    for layer in seq:
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            h = torch.cat([layer(part) for part in h.split(sizes)])
        else:
            h = layer(h)
    return h


class Generator(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        a = arch_of(cfg)
        self.start, self.c0 = a.start, a.g_channels[0]
        bias = a.act_then_norm  # a layer followed directly by BatchNorm needs no bias
        self.fc = nn.Sequential(
            *_block(a, nn.Linear(cfg.input_dim, a.g_fc, bias=bias), a.g_fc, nn.BatchNorm1d, nn.ReLU(True)),
            *_block(a, nn.Linear(a.g_fc, a.g_channels[0] * a.start**2, bias=bias), a.g_channels[0] * a.start**2,
                    nn.BatchNorm1d, nn.ReLU(True)),
        )
        layers: list[nn.Module] = []
        for cin, cout in zip(a.g_channels, a.g_channels[1:]):
            act = nn.LeakyReLU(a.slope, True) if a.g_leaky else nn.ReLU(True)
            layers += _block(a, _up(cin, cout, bias), cout, nn.BatchNorm2d, act)
        layers.append(nn.ConvTranspose2d(a.g_channels[-1], cfg.channels, 4, 2, 1))
        layers += [nn.Tanh()] if cfg.output == "tanh" else [nn.Sigmoid(), Rescale(2.0, -1.0)]
        self.deconv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Input vector (B, input_dim) -> images (B, C, H, W) in [-1, 1]."""
        h = self.fc(x).view(-1, self.c0, self.start, self.start)
        return self.deconv(h)


class Discriminator(nn.Module):
    """Trunk shared by the real/fake head D and the code head Q.

    Q outputs, per categorical code, K logits, and per continuous code a mean and (unless
    sigma is fixed) a log-variance, all read from the same trunk features, so the
    information loss trains the trunk too. A circular code's mean is read as a point whose
    angle it is (atan2 / pi), so Q can turn its guess once round the circle without a jump."""

    def __init__(self, cfg: Config):
        super().__init__()
        a, bn = arch_of(cfg), cfg.d_batchnorm
        self.trunk = _trunk(cfg, cfg.channels)
        self.d_head = nn.Linear(a.d_fc, 1)
        self.cat_sizes = tuple(cfg.cat_codes)
        self.n_cont, self.n_circ = cfg.n_cont, cfg.circular_codes
        self.fixed_sigma = cfg.fixed_sigma
        q_out = sum(cfg.cat_codes) + cfg.n_cont * (1 if cfg.fixed_sigma else 2) + cfg.circular_codes
        self.q_head = nn.Sequential(nn.Linear(a.d_fc, 128, bias=not bn), *([nn.BatchNorm1d(128)] if bn else []),
                                    nn.LeakyReLU(a.slope, True), nn.Linear(128, q_out))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, QOut]:
        """Images -> (D logit per image, Q's posterior parameters)."""
        h = self.trunk(x)
        return self.d_head(h).squeeze(1), self.split_q(self.q_head(h))

    def parts(self, *xs: torch.Tensor, q_from: int = 0) -> tuple[list[torch.Tensor], list[QOut]]:
        """Several batches through D in one stacked pass: (D logits per batch, Q for xs[q_from:]).

        Convolutions and FC layers act per image, so they run once on the stacked batch
        (bigger matrix products, one weight gradient instead of several summed); each BatchNorm
        still normalises every batch separately, in order, so outputs and running statistics
        match separate calls. The D step passes (real, fake, jittered fake) with q_from=1, as
        Q is never read on real images during training."""
        sizes = [len(x) for x in xs]
        h = _stacked(self.trunk, torch.cat(xs), sizes)
        logits = list(self.d_head(h).squeeze(1).split(sizes))
        q = _stacked(self.q_head, h[sum(sizes[:q_from]):], sizes[q_from:])
        return logits, [self.split_q(part) for part in q.split(sizes[q_from:])]

    def split_q(self, q: torch.Tensor) -> QOut:
        logits = list(torch.split(q[:, : sum(self.cat_sizes)], list(self.cat_sizes), dim=1))
        rest = q[:, sum(self.cat_sizes):]
        points = rest[:, : 2 * self.n_circ].unflatten(1, (self.n_circ, 2))
        angles = torch.atan2(points[..., 1].float(), points[..., 0].float()).to(rest.dtype) / math.pi
        mu = torch.cat([angles, rest[:, 2 * self.n_circ: self.n_cont + self.n_circ]], dim=1)
        logvar = torch.zeros_like(mu) if self.fixed_sigma else rest[:, self.n_cont + self.n_circ:].clamp(-10, 10)
        return QOut(logits, mu, logvar)


def init_weights(m: nn.Module) -> None:
    """DCGAN initialisation, which the InfoGAN paper's nets were trained with."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class ContrastHead(nn.Module):
    """H of InfoGAN-CR's contrastive regulariser: two images stacked on the channel axis, made
    from latents that share exactly one code (and z), -> logits over which code was shared.
    D's convolution stack and FC layer, then a linear layer over the codes."""

    def __init__(self, cfg: Config):
        super().__init__()
        self.trunk = _trunk(cfg, 2 * cfg.channels)
        self.head = nn.Linear(arch_of(cfg).d_fc, len(cfg.code_names))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(torch.cat([a, b], 1)))


def _spectral(net: nn.Module, skip: tuple[nn.Module, ...] = ()) -> None:
    """Spectral normalisation (Miyato et al. 2018; one power iteration per forward pass in
    training) on every convolution and FC layer of `net` but those in `skip`."""
    for m in list(net.modules()):
        if isinstance(m, (nn.Conv2d, nn.Linear)) and m not in skip:
            spectral_norm(m)


def build(cfg: Config) -> tuple[Generator, Discriminator]:
    g, d = Generator(cfg), Discriminator(cfg)
    g.apply(init_weights)
    d.apply(init_weights)
    if cfg.spectral_norm:  # after the initialisation, which it then rescales
        _spectral(d)
    return g, d


def build_contrast(cfg: Config) -> ContrastHead:
    h = ContrastHead(cfg)
    h.apply(init_weights)
    if cfg.spectral_norm:
        _spectral(h, skip=(h.head,))
    return h


@torch.no_grad()
def generate(g: nn.Module, cfg: Config, lat: Latent) -> torch.Tensor:
    """Images in [0, 1] on the CPU from G in eval mode: BatchNorm's running statistics, so an
    image depends on its own latent only, not on what else is in the batch."""
    was_training = g.training
    g.eval()
    try:
        return ((g(lat.vector(cfg)).clamp(-1, 1) + 1) / 2).cpu()
    finally:
        g.train(was_training)


def generate_uint8(g: nn.Module, cfg: Config, lat: Latent) -> torch.Tensor:
    """`generate` in chunks (data.inference_batch), quantised to uint8 as real images are stored:
    what a judge or an encoder reads from generated images goes through the same path as from
    real ones."""
    chunk = inference_batch(cfg.image_size, lat.z.device)  # the latents sit where G does
    parts = [Latent(lat.z[k:k + chunk], lat.cat[k:k + chunk], lat.cont[k:k + chunk])
             for k in range(0, len(lat.z), chunk)]
    return torch.cat([(generate(g, cfg, p) * 255).round().to(torch.uint8) for p in parts])
