"""A saved checkpoint, ready to use: G and D/Q loaded from a run's weights file, and Q as an
encoder of real images. What evaluation, inversion, selection, the live scores while training
and the pages all read a checkpoint through.

BatchNorm mode: G runs in eval mode (running statistics, accumulated on the same prior it is
sampled from). Q does not use D's running statistics: during training D's BatchNorm only
sees all-real or all-fake batches, so its running averages mix two distributions. Instead a
copy of D has its statistics re-estimated on real images (cumulative average over batches
of 500), and then runs in eval mode, so a code never depends on what else is in the batch.
The reference images are the evaluation images themselves (10,000 of them, no labels used):
transductive, as a reader comparing with published accuracies should know."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from . import latent
from .config import Config
from .data import ImageData, inference_batch, to_float
from .models import Discriminator, Generator, QOut, build, generate
from .precision import resolve_device
from .runs import Run, RunError, load_weights


@dataclass
class Model:
    cfg: Config
    step: int
    G: Generator
    D: Discriminator


def load_model(run: Run, step: int | None = None, device: str = "cpu") -> Model:
    """Load a run's checkpoint (the newest when `step` is None) for evaluation."""
    device = resolve_device(str(device))  # one line for a device this machine lacks
    steps = run.checkpoint_steps()
    if not steps:
        raise RunError(f"run {run.name!r} has no checkpoint yet")
    step = steps[-1] if step is None else step
    if step not in steps:
        raise RunError(f"run {run.name!r} has no checkpoint at step {step}; it has {steps}")
    cfg, s, g_state, d_state = load_weights(run.weights_path(step))
    g, d = build(cfg)
    try:
        g.load_state_dict(g_state)
        d.load_state_dict(d_state)
    except RuntimeError as exc:
        raise RunError(f"checkpoint {run.weights_path(step)} does not match its config "
                       f"({str(exc).splitlines()[0]})") from None
    return Model(cfg, s, g.to(device).eval(), d.to(device).eval())


@torch.no_grad()
def real_data_encoder(d: Discriminator, reference: torch.Tensor, batch_size: int = 500) -> Discriminator:
    """A copy of D with BatchNorm statistics re-estimated on real uint8 images (see above); D
    itself, in eval mode, when it has no BatchNorm (the dSprites preset): nothing to re-estimate,
    and a pass in training mode would move spectral norm's power iteration."""
    if not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in d.modules()):
        return d.eval()
    q_net = copy.deepcopy(d)
    dev = next(q_net.parameters()).device
    for m in q_net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative moving average over all reference batches
    q_net.train()
    for i in range(0, len(reference), batch_size):
        q_net(to_float(reference[i:i + batch_size].to(dev)))
    return q_net.eval()


@torch.no_grad()
def encode(q_net: Discriminator, images: torch.Tensor) -> QOut:
    """Q's posterior parameters for real uint8 images (q_net from `real_data_encoder`)."""
    dev = next(q_net.parameters()).device
    batch_size = inference_batch(images.shape[-1], dev)
    outs = [q_net(to_float(images[i:i + batch_size].to(dev)))[1] for i in range(0, len(images), batch_size)]
    return QOut([torch.cat([o.logits[j] for o in outs]).cpu() for j in range(len(outs[0].logits))],
                torch.cat([o.mu for o in outs]).cpu(), torch.cat([o.logvar for o in outs]).cpu())


def encoder_for(model: Model, data: ImageData, n_reference: int = 10_000) -> Discriminator:
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:n_reference]
    return real_data_encoder(model.D, data.subset(idx).images)  # a drawn set draws a batch at a time


def code_values(cfg: Config, q: QOut) -> tuple[list[str], np.ndarray]:
    """Q's point estimate per code (argmax for categorical, mean for continuous), as columns."""
    cols = [lg.argmax(1).numpy() for lg in q.logits] + [q.mu[:, j].numpy() for j in range(q.mu.shape[1])]
    return cfg.code_names, np.stack(cols, 1)


def generate_one(model: Model, seed: int, cat: dict[str, int], cont: dict[str, float]) -> torch.Tensor:
    """One image (C, H, W) in [0, 1] for the interactive generator."""
    dev = next(model.G.parameters()).device
    return generate(model.G, model.cfg, latent.fixed(model.cfg, [seed], cat, cont, dev))[0]
