"""Generator G and discriminator D with the auxiliary head Q on D's shared trunk.

The networks follow Chen et al. 2016 (appendix C). One table per image size keeps the
three variants in one readable place: G maps the input vector through two FC layers to a
small feature map and upsamples it with stride-2 transposed convolutions; D's trunk mirrors
it with stride-2 convolutions and an FC layer, and two heads read the trunk's features."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .config import Config
from .latent import Latent


@dataclass(frozen=True)
class Arch:
    start: int  # spatial size of G's first feature map
    g_channels: tuple[int, ...]  # G feature maps, coarse to fine (each upsampled x2)
    d_channels: tuple[int, ...]  # D conv layers, fine to coarse (each downsampled x2)
    fc: int = 1024


ARCHS = {
    28: Arch(start=7, g_channels=(128, 64), d_channels=(64, 128)),  # paper's MNIST net
    32: Arch(start=4, g_channels=(256, 128, 64), d_channels=(64, 128, 256)),  # SVHN-style
    64: Arch(start=4, g_channels=(256, 128, 64, 32), d_channels=(32, 64, 128, 256)),
}


def _up(cin: int, cout: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=False)


def _down(cin: int, cout: int, bias: bool) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 4, stride=2, padding=1, bias=bias)


@dataclass
class QOut:
    logits: list[torch.Tensor]  # one (B, K) tensor per categorical code
    mu: torch.Tensor  # (B, n_cont)
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
        a = ARCHS[cfg.image_size]
        self.start, self.c0 = a.start, a.g_channels[0]
        self.fc = nn.Sequential(
            nn.Linear(cfg.input_dim, a.fc, bias=False), nn.BatchNorm1d(a.fc), nn.ReLU(True),
            nn.Linear(a.fc, a.g_channels[0] * a.start**2, bias=False),
            nn.BatchNorm1d(a.g_channels[0] * a.start**2), nn.ReLU(True),
        )
        layers: list[nn.Module] = []
        for cin, cout in zip(a.g_channels, a.g_channels[1:]):
            layers += [_up(cin, cout), nn.BatchNorm2d(cout), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(a.g_channels[-1], cfg.channels, 4, 2, 1), nn.Tanh()]
        self.deconv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Input vector (B, input_dim) -> images (B, C, H, W) in [-1, 1]."""
        h = self.fc(x).view(-1, self.c0, self.start, self.start)
        return self.deconv(h)


class Discriminator(nn.Module):
    """Trunk shared by the real/fake head D and the code head Q.

    Q outputs, per categorical code, K logits, and per continuous code a mean and (unless
    sigma is fixed) a log-variance, all read from the same trunk features, so the
    information loss trains the trunk too."""

    def __init__(self, cfg: Config):
        super().__init__()
        a = ARCHS[cfg.image_size]
        layers: list[nn.Module] = [_down(cfg.channels, a.d_channels[0], True), nn.LeakyReLU(0.1, True)]
        for cin, cout in zip(a.d_channels, a.d_channels[1:]):
            layers += [_down(cin, cout, False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.1, True)]
        end = cfg.image_size // 2 ** len(a.d_channels)
        layers += [nn.Flatten(), nn.Linear(a.d_channels[-1] * end * end, a.fc, bias=False),
                   nn.BatchNorm1d(a.fc), nn.LeakyReLU(0.1, True)]
        self.trunk = nn.Sequential(*layers)
        self.d_head = nn.Linear(a.fc, 1)
        self.cat_sizes = tuple(cfg.cat_codes)
        self.n_cont = cfg.n_cont
        self.fixed_sigma = cfg.fixed_sigma
        q_out = sum(cfg.cat_codes) + cfg.n_cont * (1 if cfg.fixed_sigma else 2)
        self.q_head = nn.Sequential(nn.Linear(a.fc, 128, bias=False), nn.BatchNorm1d(128),
                                    nn.LeakyReLU(0.1, True), nn.Linear(128, q_out))

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
        mu = rest[:, : self.n_cont]
        logvar = torch.zeros_like(mu) if self.fixed_sigma else rest[:, self.n_cont:].clamp(-10, 10)
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


def build(cfg: Config) -> tuple[Generator, Discriminator]:
    g, d = Generator(cfg), Discriminator(cfg)
    g.apply(init_weights)
    d.apply(init_weights)
    return g, d


@torch.no_grad()
def generate(g: nn.Module, cfg: Config, lat: Latent) -> torch.Tensor:
    """Images in [0, 1] on the CPU from G in eval mode: BatchNorm's running statistics, so an
    image depends on its own latent only, not on what else is in the batch."""
    was_training = g.training
    g.eval()
    try:
        return ((g(lat.vector(cfg.cat_codes)).clamp(-1, 1) + 1) / 2).cpu()
    finally:
        g.train(was_training)


def generate_uint8(g: nn.Module, cfg: Config, lat: Latent, chunk: int = 1000) -> torch.Tensor:
    """`generate` in chunks, quantised to uint8 as real images are stored: what a judge or an
    encoder reads from generated images goes through the same path as from real ones."""
    parts = [Latent(lat.z[k:k + chunk], lat.cat[k:k + chunk], lat.cont[k:k + chunk])
             for k in range(0, len(lat.z), chunk)]
    return torch.cat([(generate(g, cfg, p) * 255).round().to(torch.uint8) for p in parts])
