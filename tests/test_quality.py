"""Sample quality and its judge: known answers for every number, the judge trained once and
reused, quality in eval.json and on Monitor and Compare, the nearest real images."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from infogan import film, quality, scores
from infogan import judge as judge_mod
from infogan.budget import SMOKE
from infogan.config import Config
from infogan.evaluate import aligned_order, evaluate_steps, labels_near
from infogan.figures import quality_figure
from infogan.files import FileError
from infogan.judge import NoJudge, dataset_config, judge_for, load_judge
from infogan.runs import Run
from infogan.summary import eval_table
from tests.conftest import QUICK_JUDGE, app, visit


def gaussian(n: int, d: int, seed: int, mean: float = 0.0, sd: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, sd, (n, d)).astype(np.float32)


def test_frechet_distance_of_gaussians_matches_the_closed_form():
    a = gaussian(20_000, 8, 0)
    assert quality.frechet_distance(a, a) < 1e-6
    # N(0, I) against N(mu, s^2 I): |mu|^2 + d (1 - s)^2 (sampling error at 20,000 points: a few %)
    for mu, s in ((0.5, 1.0), (0.0, 2.0), (1.0, 0.5)):
        b = gaussian(20_000, 8, 1, mu, s)
        expect = 8 * mu**2 + 8 * (1 - s) ** 2
        assert quality.frechet_distance(a, b) == pytest.approx(expect, rel=0.05, abs=0.02)


def test_frechet_distance_equals_the_matrix_square_root_route():
    """pytorch-fid's formula (scipy.linalg.sqrtm of S1 S2) on correlated features gives the same
    number as the eigenvalue route quality.py takes (relative 1e-6: two float64 routes)."""
    from scipy import linalg

    rng = np.random.default_rng(3)
    a = gaussian(3_000, 32, 0) @ rng.normal(size=(32, 32)).astype(np.float32)
    b = gaussian(3_000, 32, 1, 0.3, 1.5) @ rng.normal(size=(32, 32)).astype(np.float32)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    s1, s2 = np.cov(a64, rowvar=False), np.cov(b64, rowvar=False)
    expect = (np.square(a64.mean(0) - b64.mean(0)).sum() + np.trace(s1) + np.trace(s2)
              - 2 * np.trace(linalg.sqrtm(s1 @ s2).real))
    assert quality.frechet_distance(a, b) == pytest.approx(expect, rel=1e-6)


def test_precision_recall_density_coverage_on_gaussians_with_known_overlap():
    real = gaussian(2_000, 16, 0)
    same = quality.prdc(real, gaussian(2_000, 16, 1))
    assert same["precision"] > 0.8 and same["recall"] > 0.8 and same["coverage"] > 0.8
    assert 0.7 < same["density"] < 1.3  # 1 in expectation for the same distribution (Naeem et al.)
    apart = quality.prdc(real, gaussian(2_000, 16, 1, mean=10.0))
    assert apart == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    collapsed = quality.prdc(real, gaussian(2_000, 16, 1, sd=0.05))  # every sample near the mode
    assert collapsed["precision"] > 0.95 and collapsed["recall"] < 0.05 and collapsed["coverage"] < 0.15
    wide = quality.prdc(real, gaussian(2_000, 16, 1, sd=3.0))  # covers everything, mostly off the manifold
    assert wide["precision"] < 0.1 and wide["recall"] > 0.8


def test_classifier_score_known_answers():
    eye = np.eye(10)
    assert quality.classifier_score(np.tile(eye, (50, 1))) == pytest.approx(10.0, rel=1e-6)  # sure and balanced
    assert quality.classifier_score(np.tile(eye[3], (500, 1))) == pytest.approx(1.0, rel=1e-6)  # one class only
    assert quality.classifier_score(np.full((500, 10), 0.1)) == pytest.approx(1.0, rel=1e-6)  # never sure


@pytest.fixture(scope="module")
def mnist_judge(mnist_root):
    return judge_for(dataset_config("mnist", mnist_root))


def test_the_judge_is_trained_once_and_reused(mnist_root, mnist_judge, monkeypatch, tmp_path):
    # the session's quick judge (conftest): the cached file, not a new training
    assert mnist_judge.path.parent == judge_mod.judges_dir(mnist_root)
    assert mnist_judge.info["n_train"] == QUICK_JUDGE["n_train"] and mnist_judge.info["n_test"] == 10_000
    assert mnist_judge.accuracy >= 0.9, mnist_judge.info  # the full judge's 99%: benchmarks/judge.py
    monkeypatch.setattr(judge_mod, "train_judge", lambda *a, **k: pytest.fail("trained again"))
    assert judge_for(Config.from_dict({"dataset": "mnist", "data_dir": str(mnist_root)})) is mnist_judge
    judge_mod._CACHE.clear()  # as a new process finds it: the same weights from the file
    again = load_judge("mnist", mnist_root)
    x = torch.randint(0, 256, (16, 1, 28, 28), dtype=torch.uint8)
    assert np.allclose(again.run(x)[0], mnist_judge.run(x)[0], atol=1e-5)
    with pytest.raises(NoJudge, match="no judge exists for 'folder:/x'"):
        judge_for(Config.from_dict({"dataset": "folder:/x", "image_size": 28, "channels": 1}))
    monkeypatch.setenv("INFOGAN_JUDGES", str(tmp_path))
    (tmp_path / "mnist.safetensors").write_bytes(b"not a judge")
    with pytest.raises(FileError, match=r"judge .*mnist.safetensors is unreadable .*; delete it to train a new one"):
        load_judge("mnist", mnist_root)
    # the trunk a file names is read, and checked: a file from before trunks were named is `small`
    assert mnist_judge.info["trunk"] == judge_mod.trunk_for(28) == "small" and judge_mod.trunk_for(64) == "conv4"
    weights = load_file(str(mnist_judge.path))
    for trunk, problem in ((None, None), ("conv4", "RuntimeError"), ("../x", "unknown judge trunk '../x'")):
        info = {k: v for k, v in mnist_judge.info.items() if k != "trunk"} | ({"trunk": trunk} if trunk else {})
        save_file(weights, tmp_path / "mnist.safetensors", metadata={"info": json.dumps(info)})
        judge_mod._CACHE.clear()
        if problem is None:
            assert np.allclose(load_judge("mnist", mnist_root).run(x)[0], mnist_judge.run(x)[0], atol=1e-5)
        else:
            with pytest.raises(FileError, match=rf"mnist.safetensors is unreadable \(.*{problem}"):
                load_judge("mnist", mnist_root)


def test_fd_grows_with_noise_and_with_a_missing_class(mnist_root, mnist_judge):
    cfg = dataset_config("mnist", mnist_root)
    train, test = judge_mod.splits(cfg)
    real, _ = mnist_judge.run(test.images[:2000])
    floor = quality.frechet_distance(real, mnist_judge.run(train.images[:2000])[0])
    gen = torch.Generator().manual_seed(0)
    noisy = [quality.frechet_distance(real, mnist_judge.run(
        (train.images[:2000].float() + sd * 255 * torch.randn(train.images[:2000].shape, generator=gen))
        .clamp(0, 255).to(torch.uint8))[0]) for sd in (0.1, 0.3, 0.6)]
    assert floor < noisy[0] < noisy[1] < noisy[2], (floor, noisy)
    no_ones = train.labels != 1
    missing = quality.frechet_distance(real, mnist_judge.run(train.images[no_ones][:2000])[0])
    assert missing > 2 * floor, (floor, missing)


def test_quality_is_in_eval_json_and_on_monitor_and_compare(tiny_runs, tmp_path, monkeypatch):
    for name in ("f", "g"):
        shutil.copytree(tiny_runs / name, tmp_path / name)
    run = Run(tmp_path / "f")
    assert evaluate_steps(run, budget=SMOKE) == [10, 20]  # the first SMOKE.test_images test images
    q = run.eval_result(20)["quality"]
    assert set(scores.QUALITY) <= set(q) and set(q["floor"]) == set(scores.QUALITY)
    assert q["n"] == q["n_knn"] == SMOKE.test_images and q["judge"]["accuracy"] >= 0.9
    assert q["fd"] > 5 * q["floor"]["fd"]  # 20 steps of training are far from real digits
    assert q["floor"]["precision"] > 0.8 and q["floor"]["recall"] > 0.8  # real against real
    assert 1.0 <= q["score"] <= 10.0 and json.loads(json.dumps(q)) == q
    at = visit(app(monkeypatch, tmp_path, run="f"), "app_pages/monitor.py")
    chart = next(c for c in at.get("plotly_chart") if "Sample quality" in c.proto.spec)
    spec = json.loads(chart.proto.spec)
    assert {t["name"] for t in spec["data"]} == set(scores.QUALITY)
    fig = quality_figure({"f": eval_table(run)})  # what the page drew: every number at both checkpoints
    assert all(list(t.x) == [10, 20] for t in fig.data) and len(fig.layout.shapes) == 6  # and six floors
    one = quality_figure({"f": eval_table(run).loc[[20]]})  # one checkpoint: a point on an axis from 0
    assert all(t.mode == "lines+markers" for t in one.data) and one.layout.xaxis.range[0] == 0
    at = visit(app(monkeypatch, tmp_path), "app_pages/compare.py")  # the two runs there
    row = at.dataframe[0].value.set_index("run")
    assert row.loc["f", "fd"] == pytest.approx(q["fd"]) and np.isnan(row.loc["g", "fd"])  # g: never evaluated
    assert at.dataframe[0].proto.placeholder == "–"  # which the browser shows, not "None"
    assert any("Evaluate the runs" in w.value for w in visit(app(monkeypatch, tmp_path, picture="c1"),
                                                             "app_pages/compare.py").warning)


def test_compare_lines_up_a_categorical_code_by_its_labels(tiny_runs, tmp_path, monkeypatch):
    """g's categories are f's renumbered (category perm[j] of g is f's j, by the labels the
    evaluations matched): Compare lays g's columns out in f's order and says so."""
    for name in ("f", "g"):
        shutil.copytree(tiny_runs / name, tmp_path / name)
    perm = [3, 7, 0, 9, 1, 5, 2, 8, 6, 4]
    conf_f = (np.eye(10) * 90 + np.arange(100).reshape(10, 10) % 7).astype(int)  # f's j -> label j, one matching
    conf_g = np.zeros_like(conf_f)
    conf_g[perm] = conf_f
    for name, conf in (("f", conf_f), ("g", conf_g)):
        codes = {"c1": {"accuracy": 0.9, "confusion": conf.tolist(), "label_to_code": [0] * 10}}
        Run(tmp_path / name).save_eval({"step": 20, "categorical": {"best_code": "c1", "accuracy": 0.9,
                                                                    "codes": codes, "n_images": 1000}})
    near_f, near_g = labels_near(Run(tmp_path / "f"), 10), labels_near(Run(tmp_path / "g"), 10)
    assert near_f == (20, {"c1": {j: j for j in range(10)}})  # the nearest evaluation (20 for step 10)
    assert aligned_order(near_f[1]["c1"], near_g[1]["c1"], 10) == perm
    assert aligned_order(near_f[1]["c1"], {0: 1}, 10) is None  # g's values not all named: no alignment
    source = film.frames(Run(tmp_path / "g"), "c1")[-1][1]
    out = np.asarray(film.reorder_columns(source, perm))
    src, cell = np.asarray(film.picture(source)), (Image.open(source).width - 2) // 10  # cell + padding
    for j, k in enumerate(perm):
        assert np.array_equal(out[:, j * cell:(j + 1) * cell + 2], src[:, k * cell:(k + 1) * cell + 2])
    with pytest.raises(ValueError, match="does not split into 9 columns"):
        film.reorder_columns(source, list(range(9)))
    at = visit(app(monkeypatch, tmp_path, picture="c1", mode="difference"), "app_pages/compare.py")
    said = " ".join(c.value for c in at.caption)
    assert "c1 aligned by label" in said and "c1 = " + ", ".join(map(str, perm)) in said
    assert not at.warning and not at.exception


def test_nearest_real_images_find_a_copy(mnist_root, mnist_judge, monkeypatch, tiny_runs):
    monkeypatch.setattr(quality, "NEAREST_POOL", 5_000)  # a fixed random 5,000 of the 60,000: the same code path
    quality._pool.cache_clear(), quality._space.cache_clear()
    cfg = dataset_config("mnist", mnist_root)
    pool = quality.training_pool(cfg)
    assert len(pool) == 5_000
    found = quality.nearest_real(cfg, pool[123], k=4, judge=mnist_judge)
    for space in ("features", "pixels"):
        # cdist's matrix-product route leaves rounding of ~1e-3 where the exact distance is 0
        assert found[space]["index"][0] == 123 and found[space]["distance"][0] < 0.01 * found[space]["typical"]
        assert found[space]["typical"] > 0.1 and len(found[space]["index"]) == 4
        assert found[space]["distance"] == sorted(found[space]["distance"])
    pixels_only = quality.nearest_real(cfg, pool[7], k=2)
    assert list(pixels_only) == ["pixels"] and pixels_only["pixels"]["index"][0] == 7
    # Explore's toggle, opened by a link: both spaces, 8 neighbours each under the generated image
    at = visit(app(monkeypatch, tiny_runs, run="f", nearest="true"), "app_pages/explore.py")
    shown = " ".join(m.value for m in at.markdown)
    assert "**In the judge's features** · typical distance" in shown and "**In pixels (0-1 per pixel)**" in shown
    captions = [c for i in at.get("image") for c in (img.caption for img in i.proto.imgs) if c.startswith("#")]
    assert len(captions) == 16
    quality._pool.cache_clear(), quality._space.cache_clear()  # the next reader gets the real pool
