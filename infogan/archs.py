"""The architectures `models.build` can make, as rows of one table, keyed by (name, image size).

- "paper": Chen et al. 2016, appendix C. G: FC 1024 and FC to the first feature map, each BN
  then ReLU; stride-2 transposed convolutions, BN then ReLU; tanh. D: stride-2 convolutions,
  leaky ReLU 0.1 (BN after every one but the first), FC 1024; Q: FC 128 on D's features.
  28: the MNIST nets; 32: SVHN-style; 64: CelebA-style.
- "infogan-cr": the dSprites nets of InfoGAN-CR (Lin et al. 2020; fjxmlzn/InfoGAN-CR,
  InfoGAN-CR_dSprites). G: FC 128 and FC 4x4x64, each ReLU then BN; transposed convolutions to
  8x8x64, 16x16x32, 32x32x32, each leaky ReLU 0.2 then BN; one to 64x64 and a sigmoid. D: stride-2
  convolutions 32, 32, 64, 64 and FC 128, leaky ReLU 0.2; Q: FC 128, leaky ReLU.

What is not a property of the layer sizes (BatchNorm in D, spectral normalisation, the output
nonlinearity) is a Config field with a per-preset default, so it can be varied on any row.
This module holds data only: config.py validates names against it and models.py builds from it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Arch:
    start: int  # spatial size of G's first feature map
    g_channels: tuple[int, ...]  # G feature maps, coarse to fine (each upsampled x2)
    d_channels: tuple[int, ...]  # D conv layers, fine to coarse (each downsampled x2)
    g_fc: int = 1024  # G's first FC layer
    d_fc: int = 1024  # D's FC layer: the features D's and Q's heads read
    slope: float = 0.1  # leaky ReLU slope in D (and in G's convolution blocks when g_leaky)
    g_leaky: bool = False  # G's convolution blocks use leaky ReLU rather than ReLU
    act_then_norm: bool = False  # G's blocks: activation then BatchNorm, rather than BatchNorm then activation


ARCHS: dict[tuple[str, int], Arch] = {
    ("paper", 28): Arch(start=7, g_channels=(128, 64), d_channels=(64, 128)),
    ("paper", 32): Arch(start=4, g_channels=(256, 128, 64), d_channels=(64, 128, 256)),
    ("paper", 64): Arch(start=4, g_channels=(256, 128, 64, 32), d_channels=(32, 64, 128, 256)),
    ("infogan-cr", 64): Arch(start=4, g_channels=(64, 64, 32, 32), d_channels=(32, 32, 64, 64), g_fc=128,
                             d_fc=128, slope=0.2, g_leaky=True, act_then_norm=True),
}
ARCH_NAMES = tuple(dict.fromkeys(name for name, _ in ARCHS))


def sizes_of(name: str) -> tuple[int, ...]:
    """The image sizes a named architecture has a row for."""
    return tuple(size for n, size in ARCHS if n == name)
