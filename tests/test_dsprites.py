import hashlib

import numpy as np
import pytest

from infogan.budget import SMOKE
from infogan.config import Config, ConfigError
from infogan.data import load_dsprites
from infogan.dsprites import FACTOR_NAMES, factor_sizes, generate
from infogan.evaluate import evaluate_run
from infogan.judge import load_judge
from infogan.metrics import ALL
from infogan.train import train


@pytest.fixture(scope="module")
def small():
    return generate(8)


def test_generation_is_deterministic_and_in_factor_order(small):
    images, factors = small
    assert images.shape == (3 * 6 * 5 * 4 * 4, 64, 64) and images.dtype == np.uint8
    assert set(np.unique(images)) == {0, 255}
    again, _ = generate(8)
    assert hashlib.sha256(images).hexdigest() == hashlib.sha256(again).hexdigest()
    sizes = factor_sizes(8)
    assert np.array_equal(np.ravel_multi_index(factors.T, sizes), np.arange(len(images)))
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


def test_cache_round_trip(tmp_path, small):
    first = load_dsprites(tmp_path, 8)
    assert (tmp_path / "dsprites" / "dsprites_stride8.npy").exists()
    second = load_dsprites(tmp_path, 8)
    assert np.array_equal(first.images.numpy()[:, 0], small[0])
    assert np.array_equal(second.images.numpy(), first.images.numpy())
    assert second.factor_names == FACTOR_NAMES and second.factors.shape == (1440, 5)


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
