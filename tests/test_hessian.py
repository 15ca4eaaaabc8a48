"""The Hessian penalty on G's continuous codes (losses.hessian_penalty, Config.lambda_hessian)."""

import pytest
import torch
from torch import nn

from infogan import latent
from infogan.config import Config, ConfigError, preset
from infogan.figures import monitor_figures
from infogan.losses import hessian_penalty
from infogan.models import build
from infogan.summary import metrics_frame
from infogan.train import Nets, adam, train, train_step

NOISE, CODES = 2, 3


class Toy(nn.Module):
    """Inputs [z1 z2 | c1 c2 c3] -> three "pixels" through a linear layer (so that autocast runs it
    in bf16): sin(3 c1) and c2^2, each one input's alone, and one that `interact` decides: c1 * c3
    (two codes together, d2/dc1dc3 = 1 everywhere), or z1 * c1 (a code with the noise)."""

    def __init__(self, interact: str):
        super().__init__()
        self.pick = nn.Linear(NOISE + CODES, NOISE + CODES, bias=False)
        nn.init.eye_(self.pick.weight)
        self.interact = interact

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        z1, _, c1, c2, c3 = self.pick(v).unbind(1)
        third = c1 * c3 if self.interact == "codes" else z1 * c1
        return torch.stack([torch.sin(3 * c1), c2 ** 2, third], 1)


def inputs(n: int = 16) -> torch.Tensor:
    return torch.rand(n, NOISE + CODES, generator=torch.Generator().manual_seed(0)) * 2 - 1


ALL = torch.ones(NOISE + CODES, dtype=torch.bool)


def test_inputs_that_act_alone_cost_nothing_and_two_that_interact_cost_the_variance_of_2_d1_d2():
    gen = torch.Generator().manual_seed(1)
    # d'Hd = 2 d_i d_j for a product of two inputs: +-2 by the directions' signs, so k = 2
    # directions have (unbiased) variance 0 or 8, and some of 16 samples draw different signs
    # (1 - 2^-16); sin and the square, though curved, are each one input's and cost nothing
    for interact in ("codes", "noise"):
        assert hessian_penalty(Toy(interact), inputs(), ALL, gen).item() == pytest.approx(8, abs=1e-3)
    # an input the mask leaves out (a categorical code's one-hot) is never moved, so never charged
    no_z1 = ALL.clone()
    no_z1[0] = False
    assert hessian_penalty(Toy("noise"), inputs(), no_z1, gen).item() == pytest.approx(0, abs=1e-3)


def test_the_smooth_inputs_are_the_noise_and_the_continuous_codes_not_the_one_hots():
    cfg = Config.from_dict({"dataset": "mnist", "noise_dim": 3, "cat_codes": "4,2", "n_cont": 2})
    assert latent.smooth_inputs(cfg).tolist() == [True] * 3 + [False] * 6 + [True] * 2
    assert len(latent.smooth_inputs(cfg)) == cfg.input_dim


def test_the_penalty_is_taken_in_fp32_inside_a_bf16_run_and_on_the_first_samples_only():
    gen, v = torch.Generator().manual_seed(1), inputs(64)
    g = Toy("codes")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert hessian_penalty(g, v, ALL, gen).item() == pytest.approx(8, abs=1e-3)
    seen = []
    g.register_forward_hook(lambda _m, args, _out: seen.append(len(args[0])))
    hessian_penalty(g, v, ALL, gen, samples=4)
    assert seen == [4 * (1 + 2 * 2)]  # one stacked pass: the inputs and k = 2 directions each way


def test_a_run_with_the_penalty_logs_it_and_monitor_charts_it(tmp_path):
    cfg = preset("dsprites:8").replace(data_dir=str(tmp_path / "data"), precision="bf16", batch_size=8,
                                       max_steps=4, log_every=2, lambda_hessian=0.01)
    run = train(cfg, "h", tmp_path)
    frame = metrics_frame(run)
    assert list(frame.index) == [2, 4] and (frame["hessian"] > 0).all()
    fig = monitor_figures({"h": frame}, run.config().to_dict())["hessian"]
    assert [list(t.y) for t in fig.data] == [list(frame["hessian"])]


def test_a_step_with_the_penalty_changes_g_and_leaves_ds_update_as_it_was():
    cfg = preset("dsprites:8").replace(precision="fp32", batch_size=8, lambda_cr=0.0)
    x = torch.rand(8, 1, 64, 64, generator=torch.Generator().manual_seed(3))
    nets, stats = {}, {}
    for lam in (0.0, 0.01):
        torch.manual_seed(0)
        g, d = build(cfg)
        cpu = torch.device("cpu")
        nets[lam] = Nets(g, d, adam(d.parameters(), cfg.lr_d, cfg, cpu), adam(g.parameters(), cfg.lr_g, cfg, cpu))
        stats[lam] = train_step(nets[lam], x, cfg.replace(lambda_hessian=lam), torch.Generator().manual_seed(1), "fp32")
    assert "hessian" not in stats[0.0] and stats[0.01]["hessian"] > 0
    for k, v in nets[0.0].D.state_dict().items():  # D steps before G, on the same draws
        torch.testing.assert_close(v, nets[0.01].D.state_dict()[k], rtol=1e-5, atol=1e-6, msg=k)
    assert not torch.allclose(nets[0.0].G.fc[0].weight, nets[0.01].G.fc[0].weight)


def test_the_penalty_needs_two_continuous_inputs_and_older_runs_read_it_off():
    with pytest.raises(ConfigError, match="lambda_hessian: the Hessian penalty needs at least two continuous inputs"):
        Config.from_dict({"dataset": "mnist", "noise_dim": 0, "n_cont": 1, "lambda_hessian": 0.1})
    with pytest.raises(ConfigError, match="lambda_hessian: must be a finite number >= 0"):
        Config.from_dict({"dataset": "mnist", "lambda_hessian": -1})
    assert Config.from_saved({"dataset": "shapes3d"}).lambda_hessian == preset("shapes3d").lambda_hessian == 0.0
