import hashlib

import numpy as np
import pytest
import torch

from infogan.budget import SMOKE
from infogan.config import Config, ConfigError
from infogan.data import Rendered, load
from infogan.dsprites import FACTOR_NAMES, _patch, draw, factor_sizes
from infogan.evaluate import evaluate_run
from infogan.judge import load_judge
from infogan.metrics import ALL
from infogan.train import train


@pytest.fixture(scope="module")
def small():
    """dsprites:8 drawn whole: (images (1440, 64, 64), factors (1440, 5)) in grid order."""
    sizes = factor_sizes(8)
    factors = np.stack(np.unravel_index(np.arange(np.prod(sizes)), sizes), 1)
    return draw(factors, 8)[:, 0], factors


def test_drawing_is_deterministic_and_in_factor_order(small):
    images, factors = small
    assert images.shape == (3 * 6 * 5 * 4 * 4, 64, 64) and images.dtype == np.uint8
    assert set(np.unique(images)) == {0, 255}
    _patch.cache_clear()  # drawn again from the equations, not from the cache of shapes
    again = draw(factors[::-1], 8)[::-1, 0]
    assert hashlib.sha256(images).hexdigest() == hashlib.sha256(np.ascontiguousarray(again)).hexdigest()
    assert factor_sizes(1) == (3, 6, 40, 32, 32) and np.prod(factor_sizes(1)) == 737_280
    assert (images.reshape(len(images), -1) > 0).any(axis=1).all()  # every image shows its shape


def test_factors_move_scale_and_rotate_the_shape(small):
    images, _ = small
    grid = images.reshape(*factor_sizes(8), 64, 64)
    area = (grid > 0).sum(axis=(-1, -2))
    assert (np.diff(area.mean(axis=(0, 2, 3, 4))) > 0).all()  # bigger scale, more pixels
    ys, xs = np.mgrid[:64, :64]
    one = grid[2, 5, 0] > 0  # hearts, largest scale: (pos_x, pos_y, 64, 64)
    cx = (one * xs).sum(axis=(-1, -2)) / one.sum(axis=(-1, -2))
    cy = (one * ys).sum(axis=(-1, -2)) / one.sum(axis=(-1, -2))
    assert (np.diff(cx[:, 0]) > 0).all() and (np.diff(cy[0, :]) > 0).all()
    assert not np.array_equal(grid[1, 5, 0, 1, 1], grid[1, 5, 1, 1, 1])  # an ellipse turns


# SHA-256 of the images the set held before it was drawn per batch (the whole set drawn, then
# cached bit-packed: commit ce8ae73's dsprites.generate), at 1,000 random rows of the full grid
# (numpy default_rng(39)) and at every row of dsprites:8 and dsprites:4
BEFORE = {1: "986b778b69604e9bf2ddf59afdbe52848cdb998ba574c058da63dafa5da39eb5",
          8: "e6c2c79d1200e7ba4686c7ae0ef1e420f74243e630eae7b0d62ee067a88d98f7",
          4: "c405209db32eb34ce6db680595be25e6229a1756e337d4ed03e156cdb4454e7d"}


@pytest.mark.parametrize("stride", [1, 8, 4])
def test_the_drawn_images_are_bit_identical_to_the_set_drawn_whole_before(stride):
    sizes = factor_sizes(stride)
    n = int(np.prod(sizes))
    rows = np.sort(np.random.default_rng(39).choice(n, 1000, replace=False)) if stride == 1 else np.arange(n)
    images = draw(np.stack(np.unravel_index(rows, sizes), 1), stride)
    assert hashlib.sha256(images[:, 0] > 0).hexdigest() == BEFORE[stride]


def test_loading_draws_nothing_ahead_and_writes_no_file(tmp_path, small):
    cfg = Config.from_dict({"dataset": "dsprites:8", "data_dir": str(tmp_path)})
    data = load(cfg)
    assert isinstance(data.images, Rendered) and data.images.shape == (1440, 1, 64, 64)
    assert np.array_equal(data.images[:].numpy()[:, 0], small[0]) and not any(tmp_path.iterdir())
    assert data.factor_names == FACTOR_NAMES and torch.equal(data.factors, torch.from_numpy(small[1]))
    rows = torch.tensor([0, 5, 77, 1439])
    part = data.subset(rows)  # still undrawn, indexable like a tensor
    assert torch.equal(part.images[:], data.images[rows]) and torch.equal(part.images[-1], data.images[1439])
    assert torch.equal(part.factors, data.factors[rows])
    keep = torch.randperm(1440, generator=torch.Generator().manual_seed(0))[:300].sort().values
    assert torch.equal(load(cfg.replace(subset=300)).images[:], data.images[keep])  # the subset as before
    with pytest.raises(IndexError, match="out of range for 4 images"):
        part.images[4]


def test_config_accepts_stride_variants():
    cfg = Config.from_dict({"dataset": "dsprites:4"})
    assert (cfg.image_size, cfg.channels, cfg.n_cont, cfg.cat_codes) == (64, 1, 5, ())
    with pytest.raises(ConfigError, match="dataset: unknown dataset 'dsprites:9'"):
        Config.from_dict({"dataset": "dsprites:9"})


def test_tiny_dsprites_run_reports_mig_and_then_every_metric(tmp_path):
    cfg = Config.from_dict({"dataset": "dsprites:8", "data_dir": str(tmp_path), "batch_size": 32, "max_steps": 6,
                            "log_every": 3, "ckpt_every": 6, "sample_every": 6})
    run = train(cfg, "ds", tmp_path / "runs")
    out = evaluate_run(run, scale=0.05, budget=SMOKE)  # its own tiny judge: a full one trains ~4 minutes
    f = out["factors"]
    assert 0.0 <= f["mig"] <= 1.0 and len(f["mig_per_factor"]) == 5
    assert np.asarray(f["normalized_mi"]).shape == (5, 5)
    assert f["factor_names"] == list(FACTOR_NAMES) and f["code_names"] == ["c1", "c2", "c3", "c4", "c5"]
    assert "factor_vae" not in f  # basic: MIG only
    # sample quality against the 10% of the grid its judge (one head per factor, trained here) held out
    assert out["quality"]["n"] == 144 and out["quality"]["judge"]["dataset"] == "dsprites:8"
    assert load_judge("dsprites:8", tmp_path, SMOKE).info["head_names"] == list(FACTOR_NAMES)
    out = evaluate_run(run, scale=0.05, sample_quality=False)  # eval --no-quality: the factors only
    assert "quality" not in out and out["factors"]["mig"] == pytest.approx(f["mig"], abs=1e-6)
    assert run.eval_result(6)["quality"]["n"] == 144  # the saved quality of these weights stays
    stages = []
    out = evaluate_run(run, metrics="all", scale=0.01, progress=lambda what, done: stages.append((what, done)),
                       budget=SMOKE)
    f = out["factors"]
    for key in ("mig", "factor_vae", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap",
                "modularity", "explicitness"):
        assert 0.0 <= f[key] <= 1.0, key
    assert np.asarray(f["dci_importance"]).shape == (5, 5) and f["scale"] == 0.01
    # progress names the encoding pass, then every metric as it starts, in order, and ends done
    names = [w for w, _ in stages if "of 6)" in w]
    assert names == ["encoding 164 images (1 of 6)"] + [f"{fn.__name__} ({i + 2} of 6)" for i, fn in enumerate(ALL)]
    assert f["estimator"] == "fast"
    assert [d for _, d in stages] == sorted(d for _, d in stages) and stages[-1] == ("done", 1.0)
    assert run.eval_result(6)["factors"]["factor_vae"] == f["factor_vae"]  # saved by step
    out = evaluate_run(run, scale=0.05, sample_quality=False)  # a basic one after: every metric stays saved
    saved = run.eval_result(6)["factors"]
    assert "factor_vae" not in out["factors"] and (saved["factor_vae"], saved["scale"]) == (f["factor_vae"], 0.01)
    assert run.eval_result(6)["quality"]["n"] == 144


def test_a_full_dsprites_training_process_holds_a_batch_not_the_set(tmp_path):
    """Peak resident memory of `train --dataset dsprites` (all 737,280 images, 2 steps, its final
    checkpoint and live scores) over a process that only imports the package and builds an Adam
    (torch's fixed cost: 663 MB of this CUDA build). Measured: 227 MB over it; the set held as
    uint8 would be 2,900 MB over it (4,041 MB in all before it was drawn per batch, docs/results.md)."""
    from benchmarks.train_memory import FIXED, ROOT, TRAIN, peak_rss_mb, train_args

    fixed = peak_rss_mb(ROOT, FIXED)["peak_rss_mb"]
    peak = peak_rss_mb(ROOT, TRAIN, train_args("dsprites", 2, tmp_path / "data", tmp_path / "runs"))["peak_rss_mb"]
    assert peak - fixed < 350, (peak, fixed)
    assert not (tmp_path / "data").exists()  # nothing drawn ahead or cached
