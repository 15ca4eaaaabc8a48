"""The trainer's fast path (stacked D passes, channels_last, fused Adam, frozen D in the G step)
against a plain step written the straightforward way: same numbers up to float rounding."""

import copy

import pytest
import torch

from infogan import latent
from infogan.augment import jitter
from infogan.checkpoint import load_model
from infogan.config import Config
from infogan.data import ImageData
from infogan.losses import cat_ces, d_loss, g_loss, info_loss
from infogan.models import build
from infogan.runs import Run
from infogan.train import Trainer


def test_stacked_pass_equals_separate_passes():
    cfg = Config()
    _, d1 = build(cfg)
    d2 = copy.deepcopy(d1)
    real, fake, jit = (torch.randn(16, 1, 28, 28) for _ in range(3))
    (r1, f1, j1), (q1, qj1) = d1.parts(real, fake, jit, q_from=1)
    r2, _ = d2(real)
    f2, q2 = d2(fake)
    j2, qj2 = d2(jit)
    for a, b in ((r1, r2), (f1, f2), (j1, j2), (q1.logits[0], q2.logits[0]), (q1.mu, q2.mu),
                 (q1.logvar, q2.logvar), (qj1.logits[0], qj2.logits[0])):
        assert torch.allclose(a, b, atol=1e-5)
    for (name, b1), (_, b2) in zip(d1.trunk.named_buffers(), d2.trunk.named_buffers()):
        assert torch.allclose(b1.float(), b2.float(), atol=1e-6), name  # running stats updated alike
    # Q's BatchNorm saw no real images in the stacked pass (Q is not read on them in training)
    assert not torch.allclose(d1.q_head[1].running_mean, d2.q_head[1].running_mean)


def plain_step(cfg, g, d, opt_d, opt_g, x, c, gen):
    """Separate D passes, D's gradients computed in the G step too, default Adam."""
    fake = g(c.vector(cfg))
    real_logit, _ = d(x)
    fake_logit, q = d(fake.detach())
    info, _, _ = info_loss(q, c, cfg.lambda_cat, cfg.lambda_cont, cfg.circular_codes)
    if cfg.lambda_cat_jitter:
        info = info + cfg.lambda_cat_jitter * sum(cat_ces(d(jitter(fake.detach(), gen))[1], c))
    ld = d_loss(real_logit, fake_logit)
    opt_d.zero_grad()
    (ld + info).backward()
    d_grads = {k: p.grad.clone() for k, p in d.named_parameters()}
    opt_d.step()
    fake_logit, q = d(fake)
    info_g, _, _ = info_loss(q, c, cfg.lambda_cat, cfg.lambda_cont, cfg.circular_codes)
    if cfg.lambda_cat_jitter:
        info_g = info_g + cfg.lambda_cat_jitter * sum(cat_ces(d(jitter(fake, gen))[1], c))
    lg = g_loss(fake_logit)
    opt_g.zero_grad()
    (lg + info_g).backward()
    opt_g.step()
    return [ld.item(), lg.item(), info_g.item()], d_grads


@pytest.mark.parametrize("jitter_weight", [0.0, 1.0])
def test_fast_step_matches_the_plain_step(tmp_path, jitter_weight):
    # D's learning rate is tiny so both G steps see the same D: Adam's first update is +-lr
    # wherever a gradient is ~0, which would otherwise turn rounding into visible differences
    cfg = Config.from_dict({"batch_size": 32, "seed": 5, "lr_d": 1e-12, "lambda_cat_jitter": jitter_weight})
    images = (torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    t = Trainer(cfg, Run.create(cfg, "fast", tmp_path), ImageData(images))
    torch.manual_seed(cfg.seed)
    g, d = build(cfg)  # the trainer's initial weights (same seed)
    # the trainer's memory layout: at initialisation the jittered fakes are so alike that D's
    # BatchNorms would turn the layouts' different rounding into visible gradient differences
    g.to(memory_format=torch.channels_last)
    d.to(memory_format=torch.channels_last)
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    x = t.images.batch(torch.arange(32))
    gen = torch.Generator().manual_seed(cfg.seed)  # the trainer's draws: c, then each jitter
    c = latent.sample(cfg, 32, "cpu", gen)
    ref, d_grads = plain_step(cfg, g, d, opt_d, opt_g, x.contiguous(), c, gen)
    stats = t.step(x)
    assert list(stats)[:5] == ["loss_d", "loss_g", "loss_info", "d_real", "d_fake"]
    fast = [stats[k].item() for k in ("loss_d", "loss_g", "loss_info")]
    assert fast == pytest.approx(ref, rel=1e-5, abs=1e-6)  # loss_d, loss_g, loss_info
    for name, p in t.D.named_parameters():  # D's grads from the D step (frozen during the G step)
        assert torch.allclose(p.grad, d_grads[name], rtol=1e-3, atol=1e-6), name
    for (name, p1), (_, p2) in zip(t.G.named_parameters(), g.named_parameters()):
        assert torch.allclose(p1.grad, p2.grad, rtol=1e-3, atol=1e-6), name


def test_bf16_option_tracks_the_fp32_step_and_keeps_fp32_weights(tmp_path):
    """precision=bf16 autocasts the forward passes only: the first step's losses agree with fp32
    to bf16 rounding, weights and checkpoints stay fp32, so the plain path loads them."""
    images = (torch.rand(128, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    stats = {}
    for prec in ("fp32", "bf16"):  # batches of 8: bf16 on a CPU without bf16 kernels is 28x slower
        cfg = Config.from_dict({"batch_size": 8, "seed": 3, "precision": prec, "max_steps": 4,
                                "log_every": 2, "ckpt_every": 4})
        t = Trainer(cfg, Run.create(cfg, prec, tmp_path), ImageData(images))
        stats[prec] = torch.stack(list(t.step(t.images.batch(torch.arange(8))).values()))
        assert stats[prec].dtype == torch.float32
        assert all(p.dtype == torch.float32 for p in [*t.G.parameters(), *t.D.parameters()])
        t.fit()
    assert stats["bf16"][:5].tolist() == pytest.approx(stats["fp32"][:5].tolist(), rel=2e-2)
    assert not torch.equal(stats["bf16"], stats["fp32"])  # it really ran in bf16
    model = load_model(Run(tmp_path / "bf16"))
    assert model.step == 4 and next(model.G.parameters()).dtype == torch.float32
