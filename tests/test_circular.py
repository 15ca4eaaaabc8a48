"""Circular codes (Config.circular_codes): an angle in G's input, a von Mises Q, pairs apart on
the circle, and a run that trains and reloads with them."""

import math

import numpy as np
import pytest
import torch

from infogan import latent
from infogan.checkpoint import load_model
from infogan.config import Config, ConfigError
from infogan.explain import objective
from infogan.figures import mi_ceilings
from infogan.losses import CEILING_FIXED, CEILING_FIXED_CIRCLE, code_nlls, mi_bounds, von_mises_nll
from infogan.models import QOut, build
from infogan.summary import layout
from infogan.train import train


def circ_cfg(**kw) -> Config:
    return Config.from_dict({"dataset": "mnist", "noise_dim": 2, "cat_codes": [3], "n_cont": 3,
                             "circular_codes": 2, **kw})


def test_g_reads_each_circular_code_as_a_point_so_minus_one_and_one_are_the_same_input():
    cfg = circ_cfg()
    c = latent.Latent(torch.tensor([[0.5, -0.5]] * 2), torch.tensor([[1], [1]]),
                      torch.tensor([[-1.0, 0.5, 0.25], [1.0, 0.5, 0.25]]))
    v = c.vector(cfg)
    assert v.shape == (2, cfg.input_dim) and cfg.input_dim == 2 + 3 + 2 * 2 + 1
    # z | one-hot | (cos, sin) of pi * -1 | (cos, sin) of pi * 0.5 | the linear code
    assert v[0].tolist() == pytest.approx([0.5, -0.5, 0, 1, 0, -1, 0, 0, 1, 0.25], abs=1e-6)
    assert torch.allclose(v[0], v[1], atol=1e-6)
    assert latent.smooth_inputs(cfg).tolist() == [True] * 2 + [False] * 3 + [True] * 5
    assert layout(cfg.to_dict()) == "z2+Cat(3)+2xCircle+1xU(-1,1)"


def test_q_reads_a_circular_code_as_an_angle_in_range():
    cfg = circ_cfg(fixed_sigma=True)
    g, d = build(cfg)
    _, q = d(g(latent.sample(cfg, 16, generator=torch.Generator().manual_seed(0)).vector(cfg)))
    assert q.mu.shape == q.logvar.shape == (16, 3)
    assert (q.mu[:, :2].abs() <= 1).all() and (q.logvar == 0).all()
    assert d.q_head[-1].out_features == 3 + 2 * 2 + 1


@pytest.mark.parametrize("sigma", [1.0, 0.3, 0.05])
def test_von_mises_nll_is_a_density_on_the_circle_that_turns_into_the_gaussian(sigma):
    """sigma in radians: near the mean, the Gaussian of sigma / pi in units of c."""
    grid = torch.linspace(-1, 1, 20001)[:-1]
    mu, logvar = torch.full_like(grid, 0.7), torch.full_like(grid, 2 * math.log(sigma))
    nll = von_mises_nll(grid, mu, logvar)
    assert float(torch.exp(-nll).mean() * 2) == pytest.approx(1.0, abs=1e-4)  # integrates to 1 over [-1, 1)
    # a whole turn: the same, up to float32 rounding of c + 2 (times a slope of up to pi kappa = 1,257)
    assert torch.allclose(nll, von_mises_nll(grid + 2, mu, logvar), atol=2e-3)
    if sigma < 0.1:
        s = sigma / math.pi
        near = (grid - 0.7).abs() < s
        gauss = 0.5 * math.log(2 * math.pi) + math.log(s) + 0.5 * ((grid - 0.7) / s) ** 2
        assert torch.allclose(nll[near], gauss[near], atol=5e-3)


def test_code_nlls_take_the_circular_codes_first_and_bound_them_as_uniform_codes():
    c = latent.Latent(torch.zeros(2, 0), torch.zeros(2, 0, dtype=torch.long), torch.tensor([[0.95, 0.5], [-0.95, 0.5]]))
    q = QOut([], torch.tensor([[-0.95, 0.5], [0.95, 0.5]]), torch.zeros(2, 2))
    _, (turn, line) = code_nlls(q, c, 1)
    # 0.1 apart round the circle (not 1.9): the von Mises with kappa = 1 (sigma fixed at 1 radian)
    kappa = 1.0
    expected = kappa * (1 - math.cos(0.1 * math.pi)) + math.log(2 * float(torch.special.i0e(torch.tensor(kappa))))
    assert turn.item() == pytest.approx(expected, abs=1e-6)
    assert line.item() == pytest.approx(0.5 * math.log(2 * math.pi), abs=1e-6)
    assert mi_bounds([], [turn.item()], ())[0] == pytest.approx(math.log(2) - expected, abs=1e-6)


def test_pairs_keep_their_unshared_circular_codes_apart_round_the_circle():
    cfg = circ_cfg(cr_gap=1.9, lambda_cr=1.0)
    a, b, k = latent.sharing_pairs(cfg, 4000, generator=torch.Generator().manual_seed(0))
    for j in range(2):  # circular: at least min(gap, 1) = 1 apart, i.e. opposite
        unshared = k != 1 + j
        apart = (a.cont[unshared, j] - b.cont[unshared, j]).abs()
        assert torch.allclose(torch.minimum(apart, 2 - apart), torch.ones(int(unshared.sum())), atol=1e-5)
        assert torch.equal(a.cont[~unshared, j], b.cont[~unshared, j])
        assert ((b.cont[:, j] >= -1) & (b.cont[:, j] < 1)).all()
    a, b, k = latent.sharing_pairs(cfg.replace(cr_gap=0.5), 4000, generator=torch.Generator().manual_seed(0))
    unshared = k != 1
    apart = (a.cont[unshared, 0] - b.cont[unshared, 0]).abs()
    turn = torch.minimum(apart, 2 - apart)
    assert turn.min() >= 0.5 - 1e-5 and turn.max() > 0.95
    # the second value is still uniform on the circle
    assert np.histogram(b.cont[:, 0].numpy(), bins=4, range=(-1, 1))[0].min() > 900


def test_a_circular_traversal_goes_once_round_and_bad_counts_are_refused():
    lat, values = latent.traversal(circ_cfg(), "c2", [0])
    assert values == pytest.approx([-1, -0.6, -0.2, 0.2, 0.6])
    assert latent.traversal(circ_cfg(), "c4", [0])[1] == pytest.approx([-2, -1, 0, 1, 2])
    with pytest.raises(ConfigError, match="circular_codes: must be between 0 and n_cont"):
        circ_cfg(circular_codes=4)


def test_a_run_with_circular_codes_trains_and_reloads(tmp_path, tiny_mnist):
    cfg = tiny_mnist.replace(circular_codes=2, max_steps=10, precision="fp32")
    run = train(cfg, "circ", tmp_path)
    rows, _ = run.metrics()
    assert rows and all(math.isfinite(r[f"mi_{name}"]) for r in rows for name in cfg.code_names)
    model = load_model(run)
    assert model.cfg.circular_codes == 2 and model.cfg.input_dim == cfg.input_dim
    lat, _ = latent.traversal(model.cfg, "c2", [0, 1])
    with torch.no_grad():
        _, q = model.D(model.G(lat.vector(model.cfg)))
    assert (q.mu[:, :2].abs() <= 1).all()


def test_the_ceilings_with_sigma_fixed_are_the_bounds_of_a_perfect_q():
    perfect = von_mises_nll(torch.tensor([0.3]), torch.tensor([0.3]), torch.zeros(1))
    assert mi_bounds([], [perfect.item()], ())[0] == pytest.approx(CEILING_FIXED_CIRCLE, abs=1e-6)
    cfg = circ_cfg(fixed_sigma=True)
    assert mi_ceilings(cfg.to_dict()) == {"mi_c1": (pytest.approx(math.log(3)), "ln K"),
                                          "mi_c2": (CEILING_FIXED_CIRCLE, "circular codes' ceiling with σ = 1"),
                                          "mi_c4": (CEILING_FIXED, "ceiling with σ = 1")}
    meanings = [t.meaning for t in objective(cfg, {})]
    assert any("c2 (circular, Q a von Mises density; ceiling 0.764" in m for m in meanings)
    assert any("c4 (continuous; ceiling -0.226" in m for m in meanings)
