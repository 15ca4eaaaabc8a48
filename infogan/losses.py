"""The GAN loss, the variational information term L_I (Chen et al. 2016, eq. 5) and the Hessian
penalty on G's continuous inputs (Peebles et al. 2020).

For a code c with prior entropy H(c), L_I = E[log Q(c | G(z, c))] + H(c) <= I(c; G(z, c)).
We minimise the negative log-likelihood -log Q and report the bound H(c) - NLL per code:
ln K - CE for a uniform categorical code (ceiling ln K), ln 2 - NLL for U(-1, 1). A circular
code's Q is a von Mises density (a Gaussian wrapped onto the circle, Mardia & Jupp 2000), which
for a small spread is the Gaussian of the same variance."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .latent import Latent
from .models import QOut

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
LN2 = math.log(2.0)
# the most a continuous code's bound reaches with sigma fixed at 1 (Q's NLL at its least): ln 2 -
# ln(2 pi) / 2 = -0.226 for a U(-1, 1) code; kappa - ln I0(kappa) = 0.764 at kappa = 1 for a
# circular one (von_mises_nll)
CEILING_FIXED = LN2 - HALF_LOG_2PI
CEILING_FIXED_CIRCLE = 1 - math.log(torch.special.i0(torch.tensor(1.0, dtype=torch.float64)).item())


def d_loss(real_logit: torch.Tensor, fake_logit: torch.Tensor) -> torch.Tensor:
    return (F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit))
            + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit)))


def g_loss(fake_logit: torch.Tensor) -> torch.Tensor:
    """Non-saturating: G maximises log D(G(z)) rather than minimising log(1 - D(G(z)))."""
    return F.binary_cross_entropy_with_logits(fake_logit, torch.ones_like(fake_logit))


def code_nlls(q: QOut, c: Latent, circular: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Mean NLL per categorical code (cross-entropy) and per continuous code (Gaussian; von Mises
    for the first `circular`)."""
    ce = cat_ces(q, c)
    nll_all = HALF_LOG_2PI + 0.5 * q.logvar + 0.5 * (c.cont - q.mu) ** 2 * torch.exp(-q.logvar)
    if circular:
        turns = von_mises_nll(c.cont[:, :circular], q.mu[:, :circular], q.logvar[:, :circular])
        nll_all = torch.cat([turns, nll_all[:, circular:]], dim=1)
    return ce, list(nll_all.mean(0).unbind()) if c.cont.shape[1] else []


def von_mises_nll(c: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """-log of the von Mises density of angle pi c around pi mu, per unit of c (so ln 2 - NLL
    bounds I as for U(-1, 1)). A circular code's sigma is in radians, its natural unit, as a
    linear code's is in units of c: concentration kappa = 1 / sigma^2, so a fixed sigma of 1 is
    kappa 1, and a perfect read is worth kappa = 1 nat over none (a linear code's 1/6). In units
    of c, a small error costs what it costs a Gaussian code of sigma / pi. log I0(kappa) is
    log(i0e(kappa)) + kappa, which stays finite."""
    kappa = torch.exp(-logvar.float())
    return kappa * (1 - torch.cos(math.pi * (c.float() - mu.float()))) + torch.log(2 * torch.special.i0e(kappa))


def info_loss(q: QOut, c: Latent, lambda_cat: float, lambda_cont: float, circular: int
              ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """lambda-weighted sum of the code NLLs; also returns the per-code terms for logging."""
    ce, nll = code_nlls(q, c, circular)
    total = torch.zeros((), device=c.z.device)
    for t in ce:
        total = total + lambda_cat * t
    for t in nll:
        total = total + lambda_cont * t
    return total, ce, nll


def cat_ces(q: QOut, c: Latent) -> list[torch.Tensor]:
    """Cross-entropy per categorical code (also the jitter-invariance term's NLL)."""
    return [F.cross_entropy(logits, c.cat[:, i]) for i, logits in enumerate(q.logits)]


def mi_bounds(ce: list[float], nll: list[float], cat_sizes: tuple[int, ...]) -> list[float]:
    """Lower bounds on I(c; G(z, c)) in nats, in code order."""
    return [math.log(k) - v for k, v in zip(cat_sizes, ce)] + [LN2 - v for v in nll]


def hessian_penalty(G: torch.nn.Module, v: torch.Tensor, smooth: torch.Tensor, gen: torch.Generator,
                    k: int = 2, eps: float = 0.1, samples: int = 16) -> torch.Tensor:
    """The Hessian penalty (Peebles et al. 2020, eq. 5, their defaults: k = 2 Rademacher
    directions, eps = 0.1, the max over G's output elements) over the entries of G's inputs `v`
    that `smooth` marks (latent.smooth_inputs: z and the continuous codes): the variance across
    directions d of the second directional derivative d'Hd, which is zero exactly when no two
    inputs interact in any pixel. So a factor G draws from several inputs together (an object's
    size from its hue codes, say) costs G, and one turned by a single input does not. The noise is
    charged too, as in the paper: a penalty on the codes alone is paid by moving what they draw
    into z, whose interactions would then be free.

    The second derivative is a central difference (G(v + eps d) - 2 G(v) + G(v - eps d)) / eps^2,
    taken in fp32 whatever the run's precision (in bf16 its rounding error would be about as large
    as the derivative), in one stacked pass of G so that BatchNorm sees one batch, on the first
    `samples` inputs only: the max it takes is over every element of them, and each input adds
    2k + 1 fp32 passes of G."""
    v = v[:samples].float()
    b = v.shape[0]
    signs = torch.randint(2, (k, b, v.shape[1]), device=v.device, generator=gen) * 2.0 - 1.0
    d = signs * smooth.to(v.device)
    with torch.autocast(v.device.type, enabled=False):
        out = G(torch.cat([v, *(v + eps * d), *(v - eps * d)]))
    base, plus, minus = out[:b], out[b:b * (k + 1)], out[b * (k + 1):]
    second = (plus + minus).unflatten(0, (k, b)) - 2 * base  # (k, B, ...) over eps^2
    return second.div(eps ** 2).var(dim=0).max()
