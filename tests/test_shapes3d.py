"""`shapes3d`, our drawing of 3D Shapes' layout: a renderer of factor indices, and a ground-truth
set like dSprites for every part of the app (training, live metrics, evaluation, pages)."""

import hashlib

import numpy as np
import torch
from torch import nn

from infogan import shapes3d
from infogan.budget import SMOKE
from infogan.config import preset
from infogan.data import Rendered, load
from infogan.datasets import record
from infogan.evaluate import evaluate_run
from infogan.figures import code_map_figure, code_map_frame, live_factor_heatmap, monitor_figures
from infogan.live import LiveScores, own_codes
from infogan.summary import metrics_frame
from infogan.train import train
from tests.conftest import app, visit

# SHA-256 of 200 images at rows numpy default_rng(3) draws from the grid: the same bytes on any
# machine (the drawing is elementwise float32 arithmetic, its few sines and cosines rounded)
DIGEST = "f173f5854674a84414da1920b41a03c9a0bf9656046f64a882d3e362772438df"


def _rows(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, size, n) for size in shapes3d.SIZES], 1)


def test_the_same_indices_give_the_same_bytes():
    factors = _rows(200, 3)
    images = shapes3d.draw(factors)
    assert images.shape == (200, 3, 64, 64) and images.dtype == np.uint8
    shapes3d._DRAWN[:] = False  # drawn again from the scenes, not from the table
    again = np.concatenate([shapes3d.draw(factors[i:i + 7]) for i in range(0, 200, 7)])
    assert np.array_equal(images, again)
    assert hashlib.sha256(images).hexdigest() == DIGEST
    assert np.prod(shapes3d.SIZES) == 480_000 and len(shapes3d.FACTOR_NAMES) == 6


def test_each_factor_changes_what_it_should_and_only_that():
    """On 20 random scenes: a hue recolours only its surface; scale and shape change the object
    (and its shadow) but not the room's top; orientation turns the room's corner."""
    for f in _rows(20, 4):
        img = shapes3d.draw(f[None])[0].astype(int)
        floor, wall, obj = (shapes3d.surfaces(*f[3:]) > 0)
        for i, where in ((0, floor), (1, wall), (2, obj)):
            g = f.copy()
            g[i] = (f[i] + 3) % 10
            changed = (shapes3d.draw(g[None])[0].astype(int) != img).any(0)
            assert changed.any() and not (changed & ~where).any(), (shapes3d.FACTOR_NAMES[i], f)
        for i in (3, 4):  # scale, shape
            g = f.copy()
            g[i] = (f[i] + 1) % shapes3d.SIZES[i]
            changed = (shapes3d.draw(g[None])[0].astype(int) != img).any(0)
            assert changed[obj].any() and not changed[:12].any(), (shapes3d.FACTOR_NAMES[i], f)
        g = f.copy()
        g[5] = (f[5] + 7) % 15
        changed = (shapes3d.draw(g[None])[0].astype(int) != img).any(0)
        assert changed[:12].any() and changed[obj].any(), f  # the corner moves; the light on the object


def test_loading_maps_each_row_to_its_factors_and_draws_nothing_ahead(tmp_path):
    data = load(preset("shapes3d").replace(data_dir=str(tmp_path)))
    assert isinstance(data.images, Rendered) and data.images.shape == (480_000, 3, 64, 64)
    assert data.factor_names == shapes3d.FACTOR_NAMES and data.factors.shape == (480_000, 6)
    rows = torch.tensor([0, 1, 14, 15, 123_456, 479_999])
    assert data.factors[rows].tolist() == np.stack(np.unravel_index(rows.numpy(), shapes3d.SIZES), 1).tolist()
    assert data.factors[479_999].tolist() == [9, 9, 9, 7, 3, 14]  # orientation varies fastest
    assert np.array_equal(data.images[rows].numpy(), shapes3d.draw(data.factors[rows].numpy()))
    assert not any(tmp_path.iterdir())


class FactorTap(nn.Module):
    """A stand-in for D whose Q reads the factors exactly: every image the ground truth draws is
    recorded with its factors (a tap on the renderer), and code i answers factor i's index."""

    def __init__(self, data):
        super().__init__()
        self.seen: dict[bytes, torch.Tensor] = {}
        draw = data.images.draw

        def tapped(factors: np.ndarray) -> np.ndarray:
            images = draw(factors)
            self.seen.update({img.tobytes(): torch.tensor(f, dtype=torch.float32) for img, f in zip(images, factors)})
            return images
        data.images.draw = tapped
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor):
        imgs = ((x + 1) * 127.5).round().to(torch.uint8).numpy()
        mu = torch.stack([self.seen[i.tobytes()] for i in imgs])
        return None, type("Q", (), {"logits": [], "mu": mu, "logvar": torch.zeros_like(mu)})


def test_the_live_scores_of_an_encoder_that_reads_the_factors_are_near_one(tmp_path):
    cfg = preset("shapes3d").replace(data_dir=str(tmp_path))
    data = load(cfg)
    scores = LiveScores(data, cfg).measure(FactorTap(data))
    assert scores["factor_vae"] > 0.95 and scores["mig"] > 0.9, scores
    assert own_codes(scores["normalized_mi"]) == [0, 1, 2, 3, 4, 5]  # code i reads factor i


def test_shapes3d_trains_measures_evaluates_and_shows_on_the_pages(tmp_path, monkeypatch):
    """The smoke budget's path through the app: live factor scores while training, an evaluation
    with its own judge (one head per factor), and the pages that read them."""
    cfg = preset("shapes3d").replace(data_dir=str(tmp_path / "data"), batch_size=16, max_steps=4, log_every=2,
                                     ckpt_every=4, sample_every=4, disent_every=4, precision="fp32")
    root = tmp_path / "runs"
    run = train(cfg, "s3", root)
    live = monitor_figures({"s3": metrics_frame(run)}, cfg.to_dict())["disentanglement"]
    assert len(live.data) == 2 and not live.layout.shapes  # dSprites' published scores are no yardstick here
    fig, best = live_factor_heatmap(run)
    assert np.asarray(fig.data[0].z).shape == (6, 6) and list(fig.data[0].x) == list(shapes3d.FACTOR_NAMES)
    assert best.startswith("Each factor's best code at step 4: floor_hue → **c")
    out = evaluate_run(run, scale=0.05, budget=SMOKE)
    f = out["factors"]
    assert f["factor_names"] == list(shapes3d.FACTOR_NAMES) and np.asarray(f["normalized_mi"]).shape == (6, 6)
    assert 0 <= f["mig"] <= 1 and out["quality"]["judge"]["dataset"] == "shapes3d"
    for page in ("app_pages/explore.py", "app_pages/disentangle.py", "app_pages/compare.py", "app_pages/monitor.py"):
        at = visit(app(monkeypatch, root, run="s3"), page)
        assert not at.error, (page, [e.value for e in at.error])


def test_the_code_map_colours_a_hue_factor_by_its_hues():
    cfg = preset("shapes3d")
    factors = _rows(40, 5)
    df = code_map_frame(cfg.to_dict(), np.arange(40), [], np.random.default_rng(0).normal(size=(40, 6)), None,
                        factors, shapes3d.FACTOR_NAMES)
    assert list(df.columns[:7]) == ["index", *shapes3d.FACTOR_NAMES] and (df["wall_hue"] == factors[:, 1]).all()
    fig = code_map_figure(df, "c1", "c2", "wall_hue", [], record("shapes3d").swatch)
    by_name = {t.name: t.marker.color for t in fig.data}
    assert by_name[f"wall_hue = 0 ({shapes3d.swatch('wall_hue', 0)})"] == "#ff0000"  # hue 0: red
    assert all(t.marker.color == shapes3d.swatch("wall_hue", int(t.name.split()[2])) for t in fig.data)
    plain = code_map_figure(df, "c1", "c2", "shape", [], record("shapes3d").swatch)
    assert [t.name for t in plain.data] == [f"shape = {k}" for k in sorted(set(factors[:, 4]))]  # no colours
