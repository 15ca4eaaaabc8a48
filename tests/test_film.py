"""The film (one cached panel per checkpoint), its GIF/MP4, overlay/difference, code usage, notes,
and metrics over training: on a real tiny MNIST run."""

import base64
import json
import math
import os
import shutil
from io import BytesIO

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from PIL import Image

from infogan import film
from infogan.budget import SMOKE
from infogan.checkpoint import load_model
from infogan.evaluate import evaluate_steps
from infogan.figures import eval_figure, usage_verdict
from infogan.film import render_film
from infogan.runs import Run, RunError, list_runs, save_weights
from infogan.summary import eval_table, run_summary
from infogan.train import Trainer
from tests.conftest import app, live_charts, visit, wait_until


def test_the_trainer_draws_one_panel_per_checkpoint_and_it_is_reused(tiny_runs):
    run = Run(tiny_runs / "f")
    assert film.steps(run) == run.checkpoint_steps() == [10, 20]
    panel = film.load(run, 20)
    assert panel.names == ["samples", "c1", "c2", "c3", "c4"]
    c1 = Image.open(panel.path("c1"))
    assert c1.size == (10 * 30 + 2, 8 * 30 + 2)  # K=10 columns, 8 seeds, 28 px + 2 px padding
    assert Image.open(panel.path("c2")).size == (7 * 30 + 2, 8 * 30 + 2)
    assert render_film(run) == []  # nothing drawn twice
    # the panel is what the checkpoint draws: the pixels of rendering from the loaded weights. Two
    # routes (the trainer's channels-last nets vs the reloaded ones) round their last float bits
    # differently on some CPUs, and a value at a rounding edge then lands one grey level away:
    # every pixel within 1 level, and at most 0.1% of them off at all
    m = load_model(run, 20)
    again = film.panel_grids(m.G, m.cfg)["c3"]
    drawn = np.asarray(Image.open(panel.path("c3")).convert("RGB")).astype(int)
    redrawn = (again * 255).add(0.5).clamp(0, 255).byte().permute(1, 2, 0).numpy().astype(int)
    off = np.abs(drawn - redrawn)
    assert drawn.shape == redrawn.shape and off.max() <= 1 and (off > 0).mean() <= 1e-3, (off.max(), (off > 0).mean())


def test_a_replaced_checkpoint_makes_its_panel_stale_and_it_is_redrawn_once(tiny_runs, tmp_path):
    shutil.copytree(tiny_runs / "f", tmp_path / "f")
    run = Run(tmp_path / "f")
    m = load_model(run, 10)
    before = Image.open(film.load(run, 10).path("samples")).tobytes()
    torch.nn.init.normal_(next(m.G.parameters()))  # different weights under the same step
    os.utime(run.weights_path(10), ns=(1, 1))
    save_weights(run.weights_path(10), m.G, m.D, m.cfg, 10)
    assert film.load(run, 10) is None and film.missing(run) == [10]
    assert render_film(run) == [10]
    assert render_film(run) == []
    assert Image.open(film.load(run, 10).path("samples")).tobytes() != before
    # pruned weights: the panel stays, the film still covers the step
    run.weights_path(10).unlink()
    assert film.steps(run) == [10, 20] and run.checkpoint_steps() == [20]


def test_gif_and_mp4_of_a_code_over_training_and_a_latent_walk(tiny_runs):
    run = Run(tiny_runs / "f")
    frames = film.film_frames(run, "c2", scale=2)
    gif = Image.open(BytesIO(film.gif_bytes(frames)))
    assert gif.format == "GIF" and gif.n_frames == 2 and gif.is_animated
    assert gif.size == (2 * (7 * 30 + 2), 2 * (8 * 30 + 2) + 16)  # 2x and a caption strip
    mp4 = film.mp4_bytes(frames)
    assert mp4[4:8] == b"ftyp"
    video = iio.imread(mp4, extension=".mp4", index=None)
    assert video.shape[0] == 2 and video.shape[1] % 16 == 0 and video.shape[2] % 16 == 0
    m = load_model(run, 20)
    walk = film.walk_frames(m.G, m.cfg, "c3", 20, n=12)
    assert len(walk) == 12  # -2 -> 2 in 7 values and back in 5
    cat = Image.open(BytesIO(film.gif_bytes(film.walk_frames(m.G, m.cfg, "c1", 20))))
    assert cat.n_frames == 10
    with pytest.raises(ValueError, match="at least one frame"):
        film.gif_bytes([])


def test_overlay_difference_and_nearest_step(tiny_runs):
    a = film.load(Run(tiny_runs / "f"), 20).path("samples")
    b = film.load(Run(tiny_runs / "g"), 20).path("samples")
    same, mean = film.difference(a, a)
    assert mean == 0.0 and np.asarray(same).max() == 0
    diff, mean = film.difference(a, b)
    assert 0.01 < mean < 0.9 and np.asarray(diff).max() == 255  # stretched to full scale
    half = np.asarray(film.overlay(a, b, 0.5), dtype=float)
    assert np.allclose(half, (np.asarray(film.picture(a), float) + np.asarray(film.picture(b), float)) / 2, atol=1)
    # same route twice (PIL's blend at alpha 0 of the same decoded picture): exact by design
    assert np.array_equal(np.asarray(film.overlay(a, b, 0.0)), np.asarray(film.picture(a)))
    with pytest.raises(ValueError, match="differ in size"):
        film.overlay(a, film.load(Run(tiny_runs / "f"), 20).path("c1"))
    assert film.nearest([10, 20, 40], 29) == 20 and film.nearest([10, 20], 15) == 10 and film.nearest([], 5) is None


def test_code_usage_is_logged_and_leaves_batchnorm_statistics_alone(tiny_runs, tiny_mnist, tmp_path):
    records, _ = Run(tiny_runs / "f").metrics()
    for rec in records:
        assert len(rec["usage_c1"]) == 10 and math.isclose(sum(rec["usage_c1"]), 1.0, abs_tol=1e-3)
    trainer = Trainer(tiny_mnist, Run.create(tiny_mnist, "u", tmp_path))
    before = {k: v.clone() for k, v in trainer.D.state_dict().items()}
    usage = trainer.code_usage()
    assert list(usage) == ["usage_c1"] and math.isclose(sum(usage["usage_c1"]), 1.0, abs_tol=1e-3)
    after = trainer.D.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # put back, not recomputed: exact
    assert usage_verdict("c1", [0.0, 0.0, 0.2, *[0.1] * 6, 0.2]) == \
        "c1: values 0, 1 almost never chosen (collapsed); values 2, 9 chosen about twice as often as 1/K " \
        "(merged classes?)"
    assert usage_verdict("c1", [0.1] * 10) is None


def test_notes_round_trip_and_bad_notes_files(tiny_runs, tmp_path):
    shutil.copytree(tiny_runs / "f", tmp_path / "f")
    run = Run(tmp_path / "f")
    assert run.notes() == {"note": "", "tags": []}
    run.set_notes("lr 2e-4, looks collapsed after 5k", "baseline,  collapse, baseline,")
    assert run.notes() == {"note": "lr 2e-4, looks collapsed after 5k", "tags": ["baseline", "collapse"]}
    with pytest.raises(RunError, match="the note has 10,485,760 characters; at most 5,000"):
        run.set_notes("x" * 10 * 2**20, "")
    with pytest.raises(RunError, match="at most 12 per run"):
        run.set_notes("", ",".join(f"t{i}" for i in range(13)))
    assert run.notes()["tags"] == ["baseline", "collapse"]  # a refused edit changed nothing
    (run.path / "notes.json").write_bytes(b'{"note": "caf\xe9"}')
    row = run_summary(run)
    assert "notes.json is not UTF-8 text (byte 0xe9 at offset 13)" in row["problem"]
    assert row["state"] == "completed" and row["note"] is None
    assert "f" in [r.name for r in list_runs(tmp_path)]
    (run.path / "notes.json").write_bytes(json.dumps({"note": "y" * 10 * 2**20}).encode())
    assert "is too large to be notes (10,485,772 bytes)" in run_summary(run)["problem"]


def test_every_checkpoint_is_evaluated_once_for_the_chart(tiny_runs, tmp_path, monkeypatch):
    shutil.copytree(tiny_runs / "f", tmp_path / "f")
    run = Run(tmp_path / "f")
    seen, saved_before_judge = [], []

    def progress(what: str, done: float) -> None:
        if what.startswith("step 10 (1 of 2): sample quality") or "judge for" in what:
            saved_before_judge.append("categorical" in (run.eval_result(10) or {}))
        seen.append((what, done))

    # the smoke budget's first test images (SMOKE.test_images): the full split is test_train's
    assert evaluate_steps(run, progress=progress, budget=SMOKE) == [10, 20]
    stages = [w for w, _ in seen]
    accuracy = stages.index("step 10 (1 of 2): categorical accuracy (Q on the test images)")
    assert accuracy < stages.index("step 10 (1 of 2): sample quality: Fréchet distance, precision/recall in the "
                                   "judge's features") and seen[-1] == ("done", 1.0)
    # what needs no judge is in eval.json before the judge is asked for (it may train for minutes)
    assert saved_before_judge and all(saved_before_judge)
    assert [d for _, d in seen] == sorted(d for _, d in seen)  # the bar never goes back
    assert evaluate_steps(run) == []
    df = eval_table(run)
    assert list(df.index) == [10, 20] and {"accuracy", "slant_rho", "width_rho", "fd", "fd_floor"} <= set(df.columns)
    assert df["accuracy"].between(0, 1).all()
    assert run.eval_results()["step"] == 20  # the top level is the newest checkpoint
    fig = eval_figure(df)
    assert [t.name for t in fig.data] == ["accuracy (Hungarian)", "slant |ρ|", "width |ρ|"] and not fig.layout.shapes
    ds = eval_figure(df.assign(mig=[0.1, 0.2], factor_vae=[0.5, 0.7]), reference=True)
    labels = [a.text for a in ds.layout.annotations]
    assert "InfoGAN-CR FactorVAE 0.88 (dSprites)" in labels and "InfoGAN (modified) MIG 0.22 (dSprites)" in labels
    assert len(ds.layout.shapes) == 4


def test_pages_step_sliders_move_the_film(monkeypatch, tiny_runs):
    at = visit(app(monkeypatch, tiny_runs, run="f", tab="Film over training"), "app_pages/explore.py")  # a tab's link
    captions = lambda: [i.proto.imgs[0].caption for i in at.get("image") if "· step" in i.proto.imgs[0].caption]
    assert all(c.endswith("step 20") for c in captions()) and len(captions()) == 5
    at.select_slider(key="explore_film_step").set_value(10).run()
    assert all(c.endswith("step 10") for c in captions()) and len(captions()) == 5
    at = visit(app(monkeypatch, tiny_runs), "app_pages/compare.py")
    caps = lambda: [i.proto.imgs[0].caption for i in at.get("image")]
    assert caps() == ["f · step 20", "g · step 20"]
    at.select_slider(key="step").set_value(10).run()
    assert caps() == ["f · step 10", "g · step 10"]
    at.radio(key="mode").set_value("difference").run()
    assert "mean difference" in caps()[0] and len(caps()) == 1


def test_monitor_shows_a_collapsed_code(monkeypatch, tiny_runs, tmp_path):
    shutil.copytree(tiny_runs / "f", tmp_path / "f")
    records, _ = Run(tmp_path / "f").metrics()
    records[-1]["usage_c1"] = [0.0, 0.0, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2]  # two values unused
    (tmp_path / "f" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    at = visit(app(monkeypatch, tmp_path, run="f"), "app_pages/monitor.py")
    warnings = " ".join(w.value for w in at.warning)
    assert "c1: values 0, 1 almost never chosen (collapsed)" in warnings
    bar = live_charts(at)["usage_c1"]
    assert bar["data"][0]["type"] == "bar" and bar["data"][0]["y"][:2] == [0.0, 0.0]
    assert "MI bound" in bar["layout"]["title"]["text"] and "ln K = 2.30" in bar["layout"]["title"]["text"]


def test_the_disentanglement_page_evaluates_every_checkpoint_in_the_background(monkeypatch, tiny_runs, tmp_path):
    monkeypatch.setenv("INFOGAN_SMOKE", "1")  # the job's child evaluates on the first SMOKE.test_images test images
    shutil.copytree(tiny_runs / "g", tmp_path / "g")
    run = Run(tmp_path / "g")
    at = visit(app(monkeypatch, tmp_path, run="g"), "app_pages/disentangle.py")
    next(b for b in at.button if b.label.startswith("Evaluate every checkpoint")).click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert run.eval_job()["step"] == "every"
    wait_until(lambda: not run.eval_busy(), 180, "the evaluation of every checkpoint")
    assert run.eval_job()["state"] == "completed", run.eval_job()
    assert sorted(run.eval_results()["by_step"]) == ["10", "20"]
    at.run()
    chart = next(c for c in at.get("plotly_chart") if "over_training" in c.proto.id)
    spec = json.loads(chart.proto.spec)
    x = spec["data"][0]["x"]  # plotly sends numeric arrays as base64 ("bdata")
    steps = np.frombuffer(base64.b64decode(x["bdata"]), dtype=x["dtype"]).tolist() if isinstance(x, dict) else x
    assert spec["data"][0]["name"] == "accuracy (Hungarian)" and steps == [10, 20]
