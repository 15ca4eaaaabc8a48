import math

import numpy as np
import pytest
import torch

from infogan import latent
from infogan.augment import jitter
from infogan.config import Config
from infogan.losses import code_nlls, info_loss, mi_bounds
from infogan.models import QOut, build


@pytest.mark.parametrize("size,channels", [(28, 1), (32, 3), (64, 1), (64, 3)])
@pytest.mark.parametrize("cats,n_cont,fixed", [((10,), 2, False), ((), 5, True), ((3, 4), 0, False)])
def test_shapes_for_every_size_and_layout(size, channels, cats, n_cont, fixed):
    cfg = Config.from_dict({"dataset": "folder:x", "image_size": size, "channels": channels,
                            "noise_dim": 7, "cat_codes": list(cats), "n_cont": n_cont,
                            "fixed_sigma": fixed})
    g, d = build(cfg)
    c = latent.sample(cfg, 4)
    vec = c.vector(cfg)
    assert vec.shape == (4, 7 + sum(cats) + n_cont)
    img = g(vec)
    assert img.shape == (4, channels, size, size)
    assert img.min() >= -1 and img.max() <= 1
    logit, q = d(img)
    assert logit.shape == (4,)
    assert [t.shape for t in q.logits] == [(4, k) for k in cats]
    assert q.mu.shape == q.logvar.shape == (4, n_cont)
    if fixed:
        assert torch.all(q.logvar == 0)


def test_latent_vector_layout_is_z_then_onehots_then_continuous():
    cfg = Config.from_dict({"noise_dim": 2, "cat_codes": [3, 2], "n_cont": 1})
    c = latent.Latent(torch.tensor([[0.5, -0.5]]), torch.tensor([[2, 1]]), torch.tensor([[0.25]]))
    assert c.vector(cfg).tolist() == [[0.5, -0.5, 0, 0, 1, 0, 1, 0.25]]
    assert cfg.code_names == ["c1", "c2", "c3"]


def test_perfect_q_gives_ln_k_and_uniform_q_gives_zero():
    k = 10
    cat = torch.arange(k).unsqueeze(1)
    c = latent.Latent(torch.zeros(k, 0), cat, torch.zeros(k, 0))
    empty = torch.zeros(k, 0)
    perfect = QOut([torch.nn.functional.one_hot(cat[:, 0], k).float() * 1e4], empty, empty)
    uniform = QOut([torch.zeros(k, k)], torch.zeros(k, 0), torch.zeros(k, 0))
    ce_p, _ = code_nlls(perfect, c, 0)
    ce_u, _ = code_nlls(uniform, c, 0)
    assert mi_bounds([ce_p[0].item()], [], (k,))[0] == pytest.approx(math.log(10), abs=1e-6)
    assert mi_bounds([ce_u[0].item()], [], (k,))[0] == pytest.approx(0.0, abs=1e-6)


def test_gaussian_nll_matches_hand_computation():
    c = latent.Latent(torch.zeros(2, 0), torch.zeros(2, 0, dtype=torch.long), torch.tensor([[0.5], [-0.5]]))
    q = QOut([], torch.tensor([[0.0], [0.0]]), torch.tensor([[math.log(0.25)], [math.log(0.25)]]))
    _, nll = code_nlls(q, c, 0)
    # N(0.5; 0, sigma=0.5): 0.5 ln(2 pi) + ln 0.5 + 0.5 * (0.5 / 0.5)^2
    expected = 0.5 * math.log(2 * math.pi) + math.log(0.5) + 0.5
    assert nll[0].item() == pytest.approx(expected, abs=1e-6)
    assert mi_bounds([], [nll[0].item()], ())[0] == pytest.approx(math.log(2) - expected, abs=1e-6)
    total, _, _ = info_loss(q, c, 1.0, 0.1, 0)
    assert total.item() == pytest.approx(0.1 * expected, abs=1e-6)


def test_info_loss_reaches_shared_trunk_q_head_and_generator():
    cfg = Config()
    g, d = build(cfg)
    c = latent.sample(cfg, 8, generator=torch.Generator().manual_seed(0))
    _, q = d(g(c.vector(cfg)))
    loss, _, _ = info_loss(q, c, cfg.lambda_cat, cfg.lambda_cont, cfg.circular_codes)
    loss.backward()
    for name, module in [("trunk", d.trunk), ("q_head", d.q_head), ("G", g)]:
        grads = [p.grad.abs().sum().item() for p in module.parameters() if p.grad is not None]
        assert grads and sum(grads) > 0, name
    assert all(p.grad is None for p in d.d_head.parameters())


def test_jitter_moves_each_image_differently_and_keeps_the_background():
    blob = -torch.ones(6, 1, 28, 28)
    blob[:, :, 10:18, 12:16] = 1.0  # an upright bar, the same in every image
    out = jitter(blob, torch.Generator().manual_seed(0))
    again = jitter(blob, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)  # drawn from the trainer's generator: resumable
    assert out.shape == blob.shape and out.min() >= -1 and out.max() <= 1
    assert not torch.allclose(out[0], out[1], atol=1e-3)  # one transform per image
    assert torch.allclose(out[:, :, :2], blob[:, :, :2], atol=1e-5)  # background stays background, no frame
    mass = (out + 1).sum((1, 2, 3)) / (blob + 1).sum((1, 2, 3))
    assert ((mass > 0.65) & (mass < 1.3)).all()  # area scales by zoom**2, 0.72-1.21
    x = blob.clone().requires_grad_(True)
    jitter(x, torch.Generator().manual_seed(1)).sum().backward()
    assert x.grad.abs().sum() > 0  # differentiable, so G learns from the term


def test_traversal_latents_pin_the_code_per_column():
    cfg = Config()
    lat, values = latent.traversal(cfg, "c2", seeds=[3, 4], values=[-2.0, 0.0, 2.0])
    assert values == [-2.0, 0.0, 2.0]
    assert lat.cont[:, 0].tolist() == [-2.0, 0.0, 2.0] * 2
    assert torch.equal(lat.z[0], lat.z[2]) and not torch.equal(lat.z[0], lat.z[3])
    lat, values = latent.traversal(cfg, "c1", seeds=[0])
    assert values == list(range(10)) and lat.cat[:, 0].tolist() == list(range(10))
    with pytest.raises(ValueError, match="no code named 'c9'"):
        latent.traversal(cfg, "c9", seeds=[0])


@pytest.mark.parametrize("size,channels", [(28, 1), (64, 3)])
def test_reading_and_drawing_in_blocks_of_pixels_equals_one_pass(size, channels):
    """encode, generate_uint8 and a judge go through images in blocks of data.inference_batch
    (167 MNIST images, 32 of 64x64); what they return is what one pass over all gives, to
    float tolerance (other block sizes may take other kernels)."""
    from infogan.checkpoint import encode
    from infogan.data import inference_batch, to_float
    from infogan.judge import Judge, JudgeNet, trunk_for
    from infogan.models import generate, generate_uint8

    assert (inference_batch(28), inference_batch(32), inference_batch(64)) == (167, 128, 32)
    assert inference_batch(64, "cuda") == inference_batch(64, torch.device("cuda:0")) == 1024  # a GPU: larger passes
    torch.manual_seed(0)
    cfg = Config.from_dict({"dataset": "folder:x", "image_size": size, "channels": channels, "noise_dim": 7})
    g, d = build(cfg)
    g.eval(), d.eval()
    n = 2 * inference_batch(size) + 5  # three blocks, the last one short
    lat = latent.sample(cfg, n)
    images = generate_uint8(g, cfg, lat)
    whole = (generate(g, cfg, lat) * 255).round().to(torch.uint8)
    assert images.shape == (n, channels, size, size)
    assert (images.int() - whole.int()).abs().max() <= 1  # a value on a rounding edge may land either side
    with torch.no_grad():
        q = d(to_float(images))[1]
    blocks = encode(d, images)
    torch.testing.assert_close(blocks.logits[0], q.logits[0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(blocks.mu, q.mu, rtol=1e-4, atol=1e-4)
    judge = Judge("x", JudgeNet(channels, (10,), trunk_for(size)).eval(), {}, None)
    feats, probs = judge.run(images)
    with torch.no_grad():
        f, logits = judge.net(to_float(images))
    np.testing.assert_allclose(feats, f.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(probs, logits[0].softmax(1).numpy(), rtol=1e-4, atol=1e-4)
