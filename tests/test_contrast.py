"""InfoGAN-CR's recipe (issue #27): architectures as table rows, the contrastive regulariser H,
and FactorVAE/MIG measured while training."""

import hashlib
import json

import numpy as np
import pytest
import torch
from torch import nn

from infogan import latent
from infogan.budget import SMOKE
from infogan.config import Config, ConfigError, preset
from infogan.data import load
from infogan.figures import live_factor_heatmap, monitor_figures
from infogan.live import LiveScores, own_code_history, own_codes
from infogan.losses import d_loss, g_loss, info_loss
from infogan.models import build, build_contrast
from infogan.runs import Run
from infogan.selection import rank_members
from infogan.summary import metrics_frame
from infogan.train import Nets, Trainer, adam, contrast_loss, pair_images, resume, train, train_step

# (state-dict names and shapes, sha256[:16]; sum and sd of G's 8 images; sums of D's logits and
# Q's means) for seed 0 and a fixed input, computed by models.py before the table had rows other
# than the paper's: the presets that keep the paper's nets build exactly those nets
PAPER_NETS = {"mnist": ("c0ee012b54935d3f", 341.5424, 0.215095, 0.19616, 2.62603),
              "svhn": ("cf7ad68eb92345dc", -1303.1979, 0.213201, 4.57621, -0.97706),
              "folder:x": ("8b0912d355eaddd6", -2729.9124, 0.1391, 3.70014, 0.0)}


@pytest.mark.parametrize("dataset", list(PAPER_NETS))
def test_the_paper_presets_build_the_nets_they_built_before(dataset):
    cfg = preset(dataset)
    torch.manual_seed(0)
    g, d = build(cfg)
    shapes = ";".join(f"{k}:{tuple(v.shape)}" for k, v in [*g.state_dict().items(), *d.state_dict().items()])
    img = g(torch.randn(8, cfg.input_dim, generator=torch.Generator().manual_seed(1)))
    logit, q = d(img)
    digest, img_sum, img_sd, logit_sum, mu_sum = PAPER_NETS[dataset]
    assert hashlib.sha256(shapes.encode()).hexdigest()[:16] == digest
    got = (img.sum().item(), img.std().item(), logit.sum().item(), q.mu.sum().item())
    assert got == pytest.approx((img_sum, img_sd, logit_sum, mu_sum), rel=1e-4, abs=1e-4)


def test_the_dsprites_preset_builds_infogan_crs_nets():
    cfg = preset("dsprites")
    assert (cfg.arch, cfg.spectral_norm, cfg.d_batchnorm, cfg.output, cfg.noise_prior, cfg.fixed_sigma,
            cfg.g_steps, cfg.lambda_cont, cfg.lr_g, cfg.lr_d, cfg.lambda_cr, cfg.cr_start) == \
        ("infogan-cr", True, False, "sigmoid", "uniform", True, 2, 0.05, 1e-3, 2e-3, 2.0, 288_000)
    g, d = build(cfg)
    h = build_contrast(cfg)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in d.modules())
    layers = [m for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == 8 and all(hasattr(m, "parametrizations") for m in layers)  # 4 conv, FC, D, Q x2
    assert [m.out_channels for m in d.trunk if isinstance(m, nn.Conv2d)] == [32, 32, 64, 64]
    h_layers = [m for m in h.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert [hasattr(m, "parametrizations") for m in h_layers] == [True] * 5 + [False]  # all but H's last
    z = latent.sample(cfg, 16)
    assert float(z.z.min()) >= -1 and float(z.z.max()) <= 1  # uniform noise
    img = g(z.vector(cfg))
    img = img.detach()
    assert img.shape == (16, 1, 64, 64) and float(img.min()) >= -1 and float(img.max()) <= 1
    assert preset("dsprites:4").cr_start == 25 * (3 * 6 * 10 * 8 * 8 // 64)  # 25 epochs of the smaller set


def test_bad_architecture_settings_are_refused_with_the_field_named():
    with pytest.raises(ConfigError, match="image_size: architecture 'infogan-cr' has nets for 64x64 images only"):
        Config.from_dict({"dataset": "mnist", "arch": "infogan-cr"})
    with pytest.raises(ConfigError, match="arch: unknown architecture 'resnet'"):
        Config.from_dict({"arch": "resnet"})
    with pytest.raises(ConfigError, match="disent_every: .*only dsprites has"):
        Config.from_dict({"dataset": "mnist", "disent_every": 100})
    with pytest.raises(ConfigError, match="lambda_cr: the contrastive regulariser needs at least two codes"):
        Config.from_dict({"dataset": "mnist", "cat_codes": "", "n_cont": 1, "lambda_cr": 1})
    old = Config.from_saved({"dataset": "dsprites"})  # a run folder written before these fields
    assert (old.arch, old.spectral_norm, old.output, old.g_steps, old.lambda_cr) == ("paper", False, "tanh", 1, 0.0)


def test_sharing_pairs_share_exactly_the_chosen_code_and_z():
    cfg = Config.from_dict({"dataset": "mnist", "cat_codes": "10,4", "n_cont": 3})
    a, b, k = latent.sharing_pairs(cfg, 2000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a.z, b.z)
    same = torch.cat([a.cat == b.cat, a.cont == b.cont], 1)
    assert same[torch.arange(2000), k].all()
    others = same.clone()
    others[torch.arange(2000), k] = False
    assert others[:, 2:].float().mean() < 1e-3  # continuous codes drawn apart never coincide
    assert others[:, 0].float().mean() == pytest.approx(0.9 * 0.1, abs=0.03)  # Cat(10): by chance 1 in 10
    assert torch.bincount(k, minlength=5).min() > 300  # every code is the shared one about 1 in 5


def test_a_gap_draws_the_unshared_continuous_codes_that_far_apart_and_none_keeps_the_plain_draws():
    cfg = Config.from_dict({"dataset": "mnist", "cat_codes": "10", "n_cont": 3})
    plain = latent.sample(cfg, 500, generator=torch.Generator().manual_seed(1))
    a, b, k = latent.sharing_pairs(cfg, 500, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a.cont, plain.cont)  # gap 0: the prior's draws, untouched
    a, b, k = latent.sharing_pairs(cfg.replace(cr_gap=1.5), 500, generator=torch.Generator().manual_seed(1))
    unshared = torch.ones(500, 3, dtype=torch.bool)
    unshared[k > 0, k[k > 0] - 1] = False
    gap = (a.cont - b.cont).abs()
    assert gap[unshared].min() >= 1.5 - 1e-6 and torch.equal(a.cont[~unshared], b.cont[~unshared])
    assert a.cont.abs().max() <= 1 and b.cont.abs().max() <= 1
    with pytest.raises(ConfigError, match="cr_gap: must be in \\[0, 2\\)"):
        cfg.replace(cr_gap=2.0)
    # the shapes3d preset draws its pairs 1.9 apart; a run folder from before the field resumes without
    assert (preset("shapes3d").cr_gap, Config.from_saved({"dataset": "shapes3d"}).cr_gap) == (1.9, 0.0)
    assert preset("shapes3d").batch_size == 32  # 30 minutes buy 8,500 steps of it (docs/results.md)


class Painter(nn.Module):
    """A fixed generator whose codes are visible: code j sets the brightness of band j."""

    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        codes = x[:, self.cfg.noise_dim:]
        bands = codes.repeat_interleave(64 // codes.shape[1] + 1, 1)[:, :64]
        return bands[:, None, :, None].expand(-1, 1, 64, 64).contiguous() * 0.9


def test_h_learns_which_code_two_images_share_when_the_codes_are_visible():
    cfg = preset("dsprites:8")
    torch.manual_seed(0)
    h = build_contrast(cfg)
    nets = Nets(Painter(cfg), None, None, None, h, adam(h.parameters(), 5e-4, cfg, torch.device("cpu")))
    gen = torch.Generator().manual_seed(0)

    def pairs_loss(batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        pairs = latent.sharing_pairs(cfg, batch, generator=gen)
        return contrast_loss(nets, pair_images(nets, cfg, pairs), pairs[2])

    for _ in range(200):  # at lr 5e-4 it finds the bands within ~100 steps on 1 and 2 threads (2e-3 stalled on 1)
        loss, acc = pairs_loss(32)
        nets.opt_h.zero_grad()
        loss.backward()
        nets.opt_h.step()
    with torch.no_grad():
        _, acc = pairs_loss(500)
    assert float(acc) > 0.5  # chance is 1 in 5


def fresh_nets(cfg: Config) -> Nets:
    torch.manual_seed(0)
    g, d = build(cfg)
    h = build_contrast(cfg)
    cpu = torch.device("cpu")
    return Nets(g, d, adam(d.parameters(), cfg.lr_d, cfg, cpu), adam(g.parameters(), cfg.lr_g, cfg, cpu),
                h, adam(h.parameters(), cfg.lr_d, cfg, cpu))


def infogan_cr_iteration(nets: Nets, cfg: Config, x: torch.Tensor, gen: torch.Generator) -> None:
    """InfoGAN-CR's iteration as its code writes it (one feed_dict for all four updates), with
    every G pass computed afresh."""
    pairs = latent.sharing_pairs(cfg, len(x), generator=gen)
    with torch.no_grad():
        images = pair_images(nets, cfg, pairs)
    nets.opt_h.zero_grad()
    contrast_loss(nets, images, pairs[2])[0].backward()
    nets.opt_h.step()
    c = latent.sample(cfg, len(x), generator=gen)
    (real, fake), (q,) = nets.D.parts(x, nets.G(c.vector(cfg)).detach(), q_from=1)
    nets.opt_d.zero_grad()
    (d_loss(real, fake) + info_loss(q, c, cfg.lambda_cat, cfg.lambda_cont, cfg.circular_codes)[0]).backward()
    nets.opt_d.step()
    for _ in range(2):
        (logit,), (q,) = nets.D.parts(nets.G(c.vector(cfg)))
        cr = contrast_loss(nets, pair_images(nets, cfg, pairs), pairs[2])[0]
        nets.opt_g.zero_grad()
        info = info_loss(q, c, cfg.lambda_cat, cfg.lambda_cont, cfg.circular_codes)[0]
        (g_loss(logit) + info + cfg.lambda_cr * cr).backward()
        nets.opt_g.step()


def test_one_draw_per_step_is_infogan_crs_iteration_with_one_g_pass_fewer():
    cfg = preset("dsprites:8").replace(shared_latents=True, precision="fp32", batch_size=8)
    x = torch.rand(8, 1, 64, 64, generator=torch.Generator().manual_seed(3))
    ours, theirs = fresh_nets(cfg), fresh_nets(cfg)
    calls = []
    ours.G.register_forward_hook(lambda *_: calls.append(1))
    stats = train_step(ours, x, cfg, torch.Generator().manual_seed(1), "fp32")
    infogan_cr_iteration(theirs, cfg, x, torch.Generator().manual_seed(1))
    for net in ("G", "D", "H"):
        a, b = getattr(ours, net).state_dict(), getattr(theirs, net).state_dict()
        for k in (k for k in a if "running_" not in k and "num_batches" not in k):
            # the same updates computed by two routes: equal up to float rounding (BatchNorm's
            # running statistics count G's passes, which differ; training reads the batch's own)
            torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=f"{net}.{k}")
    assert len(calls) == 4 and "loss_cr" in stats  # H's step and G's first step shared one pass
    calls.clear()
    cfg = cfg.replace(shared_latents=False)
    fresh = fresh_nets(cfg)
    fresh.G.register_forward_hook(lambda *_: calls.append(1))
    train_step(fresh, x, cfg, torch.Generator().manual_seed(1), "fp32")
    assert len(calls) == 5  # fresh pairs for H and for each G step, fresh latents for the second
    assert not torch.equal(fresh.G.fc[0].weight, ours.G.fc[0].weight)


@pytest.fixture(scope="module")
def dsprites8(tmp_path_factory):
    """dSprites with every 8th orientation and position (1,440 images, the complete factor grid)."""
    root = tmp_path_factory.mktemp("dsprites-data")
    cfg = preset("dsprites:8").replace(data_dir=str(root), batch_size=32, precision="fp32", log_every=4,
                                       sample_every=100, ckpt_every=6)
    return cfg, load(cfg)


def test_a_resumed_cr_run_equals_an_uninterrupted_one_and_h_is_in_the_checkpoint(dsprites8, tmp_path):
    cfg, data = dsprites8
    cfg = cfg.replace(max_steps=12, cr_start=4, disent_every=8)
    full = train(cfg, "full", tmp_path, data=data)
    part = Run.create(cfg, "part", tmp_path)
    t = Trainer(cfg, part, data)
    t.total_steps = 8  # stopped after step 8 (its last, so checkpointed): resumed past cr_start
    t.fit()
    part.set_status("stopped")
    _, _, state = part.load_checkpoint(6)
    assert {"h", "opt_h"} <= set(state)
    resume(part, data=data)
    a, _ = full.metrics()
    b, _ = part.metrics()
    assert [r["step"] for r in a] == [r["step"] for r in b] == [4, 8, 12]
    assert "loss_cr" not in a[0] and "loss_cr" in a[1]  # H from step 4 (the window before it closes there)
    for ra, rb in zip(a, b):
        for k in ("loss_d", "loss_g", "loss_info", "mi_c1", "mi_c5", "loss_cr", "acc_cr", "factor_vae", "mig"):
            if k in ra:
                assert rb[k] == pytest.approx(ra[k], rel=1e-4, abs=1e-5), (ra["step"], k)
    assert [r["step"] for r in a if "factor_vae" in r] == [8, 12]  # every disent_every steps, and the last
    lines = [json.loads(line) for line in (full.path / "metrics.jsonl").read_text().splitlines()]
    assert all(0 <= r["mig"] <= 1 and 0 <= r["factor_vae"] <= 1 for r in lines if "mig" in r)
    figs = monitor_figures({"full": metrics_frame(full)}, cfg.to_dict())  # what Monitor and Compare draw
    live = figs["disentanglement"]
    assert [list(t.x) for t in live.data] == [[8, 12], [8, 12]]
    assert {a.text for a in live.layout.annotations} >= {"InfoGAN-CR FactorVAE 0.88 (dSprites)",
                                                         "InfoGAN-CR MIG 0.37 (dSprites)"}
    assert [t.name for t in figs["contrast"].data] == ["loss_cr", "acc_cr"]
    ranked = rank_members([full, part], votes=10, batch=8, n_free=32, budget=SMOKE)  # all continuous: no partition
    assert ranked["by"] == "centrality" and set(ranked["criteria"]) <= {"centrality", "fd"} and ranked["pick"]
    fig, best = live_factor_heatmap(full)  # what the Disentanglement page opens on before an evaluation
    assert np.asarray(fig.data[0].z).shape == (5, 5) and "step 12" in fig.layout.title.text
    assert best.startswith("Each factor's best code at step 12: shape → **c") and "Codes of their own" in best


class FactorReader(nn.Module):
    """A stand-in for D whose Q reads the factors exactly: each code is one factor's index."""

    def __init__(self, data):
        super().__init__()
        self.lookup = {img.numpy().tobytes(): f.float() for img, f in zip(data.images, data.factors)}
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor):
        imgs = ((x + 1) * 127.5).round().to(torch.uint8)
        mu = torch.stack([self.lookup[i.numpy().tobytes()] for i in imgs])
        return None, type("Q", (), {"logits": [], "mu": mu, "logvar": torch.zeros_like(mu)})


def test_the_live_scores_of_an_encoder_that_reads_the_factors_are_near_one(dsprites8):
    cfg, data = dsprites8
    scores = LiveScores(data, cfg).measure(FactorReader(data))
    assert scores["factor_vae"] > 0.95 and scores["mig"] > 0.9, scores
    assert scores["disent_seconds"] > 0
    assert own_codes(scores["normalized_mi"]) == [0, 1, 2, 3, 4]  # code i reads factor i


def test_a_factor_owns_a_code_that_holds_enough_of_it_and_of_no_other_more():
    m = np.zeros((3, 4))  # codes x factors
    m[2, 0] = 0.5  # factor 0: code 2's, which holds nothing more of another factor
    m[2, 1] = 0.3  # factor 1's best code is code 2, which serves factor 0 more: none of its own
    m[0, 2] = 0.19  # factor 2: below the floor (0.2 of its entropy)
    m[1, 3], m[0, 3] = 0.25, 0.24  # factor 3: code 1, with code 0 close behind (that is MIG's concern)
    assert own_codes(m) == [2, None, None, 1]
    flip = m.copy()
    flip[1, 3], flip[0, 3] = 0.1, 0.3  # factor 3 moves to code 0 (which now holds more of it than of factor 2)
    records = [{"step": 100, "normalized_mi": m.tolist()}, {"step": 150},  # a line without a measurement
               {"step": 200, "normalized_mi": flip.tolist()}, {"step": 300, "normalized_mi": m.tolist()}]
    assert own_code_history(records) == [(2, 100), (None, None), (None, None), (1, 300)]
    assert own_code_history([{"step": 5}]) == []
