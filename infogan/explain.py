"""What the Learn page explains about a run, computed from the run itself: its networks layer by
layer (read from the modules with forward hooks, not drawn by hand) and the objective's terms
with their latest values from metrics.jsonl."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .config import Config
from .latent import codes_of
from .losses import CEILING_FIXED, CEILING_FIXED_CIRCLE
from .models import build


@dataclass(frozen=True)
class Layer:
    net: str  # "G", "trunk (shared by D and Q)", "D's head" or "Q's head"
    name: str  # the module's path in its network, e.g. "deconv.0"
    kind: str  # e.g. "Linear(74 → 1024)"
    shape: tuple[int, ...]  # its output for one image
    params: int


def _describe(m: nn.Module) -> str:
    if isinstance(m, nn.Linear):
        return f"Linear({m.in_features} → {m.out_features})"
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        return (f"{type(m).__name__}({m.in_channels} → {m.out_channels}, {m.kernel_size[0]}x{m.kernel_size[1]}, "
                f"stride {m.stride[0]})")
    return type(m).__name__


def _leaves(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules that compute (no children but spectral norm's parametrisation)."""
    return [(name, m) for name, m in net.named_modules()
            if name and "parametrizations" not in name
            and not [c for n, c in m.named_children() if n != "parametrizations"]]


def layers(cfg: Config) -> list[Layer]:
    """G, D's trunk, D's head and Q's head of `cfg`'s networks as a table: each computing layer
    with its output shape for one image and its parameter count (a spectral-normalised layer's
    weight counted once). The rows' parameters sum to the modules' own count."""
    g, d = build(cfg)
    g.eval()
    d.eval()
    parts = [("G", g), ("trunk (shared by D and Q)", d.trunk), ("D's head", d.d_head), ("Q's head", d.q_head)]
    rows: list[Layer] = []
    hooks = []
    for net, module in parts:
        for name, m in (_leaves(module) or [("", module)]):
            def record(m: nn.Module, _: Any, out: torch.Tensor, net: str = net, name: str = name) -> None:
                rows.append(Layer(net, name or type(m).__name__, _describe(m), tuple(out.shape[1:]),
                                  sum(p.numel() for p in m.parameters())))
            hooks.append(m.register_forward_hook(record))
    with torch.no_grad():
        d(g(torch.zeros(1, cfg.input_dim)))
    for h in hooks:
        h.remove()
    return rows


@dataclass(frozen=True)
class Term:
    symbol: str  # LaTeX
    meaning: str
    value: float | None  # its latest logged value (None before the first log)


def objective(cfg: Config, last: dict[str, Any]) -> list[Term]:
    """The InfoGAN objective's terms (Chen et al. 2016, eq. 5: min_{G,Q} max_D V(D, G) - λ L_I(G, Q)),
    and the regularisers a run adds, with the run's latest logged values: `last` is
    metrics.jsonl's last record (or {})."""
    def get(key: str) -> float | None:
        v = last.get(key)
        return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None

    terms = [
        Term(r"V(D, G) \text{ for } D", "D's loss: −log D(x) − log(1 − D(G(z, c))) on a real and a fake batch "
             "(minimised by D; ln 4 = 1.386 when D cannot tell them apart)", get("loss_d")),
        Term(r"V(D, G) \text{ for } G", "G's loss: −log D(G(z, c)), the non-saturating form (minimised by G)",
             get("loss_g")),
        Term(r"\lambda L_I", "the information term as G's step minimises it: the codes' weighted negative "
             "log-likelihood under Q", get("loss_info")),
    ]
    for code in codes_of(cfg):
        ceiling = (f"ceiling ln {code.k} = {math.log(code.k):.3f}" if code.kind == "cat" else
                   f"ceiling {CEILING_FIXED_CIRCLE if code.circular else CEILING_FIXED:.3f} with σ fixed at 1"
                   if cfg.fixed_sigma else "no fixed ceiling: Q's σ can shrink")
        kind = code.label + (", Q a von Mises density" if code.circular else "")
        terms.append(Term(rf"L_I({code.name}) \le I({code.name}; G(z, c))",
                          f"the lower bound on how much the image says about {code.name} ({kind}; {ceiling})",
                          get(f"mi_{code.name}")))
    if cfg.lambda_cr:
        terms.append(Term(r"L_{CR}", f"InfoGAN-CR's contrastive term (weight {cfg.lambda_cr:g}, from step "
                          f"{cfg.cr_start:,}): H's cross-entropy guessing which code two images share, which G "
                          f"helps lower (chance ln {len(cfg.code_names)} = {math.log(len(cfg.code_names)):.3f})",
                          get("loss_cr")))
    if cfg.lambda_hessian:
        terms.append(Term(r"\max \operatorname{Var}_d\, d^\top \nabla^2 G\, d", "the Hessian penalty (weight "
                          f"{cfg.lambda_hessian:g}; Peebles et al. 2020): how much two of G's continuous inputs "
                          "interact in its worst pixel, 0 when each pixel follows its inputs one at a time",
                          get("hessian")))
    return terms


def objective_table(terms: list[Term]) -> str:
    """The terms as a Markdown table, which Streamlit renders with each symbol's LaTeX and the
    meanings wrapped (a dataframe cell shows LaTeX as its source and cuts long text)."""
    rows = ["| term | what it is | now |", "|---|---|---|"]
    for t in terms:
        now = "—" if t.value is None else f"{t.value:.3f}"
        meaning = t.meaning.replace("|", r"\|")  # a bar would end the cell
        rows.append(f"| ${t.symbol}$ | {meaning} | {now} |")
    return "\n".join(rows)
