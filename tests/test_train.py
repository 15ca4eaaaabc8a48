import json
import math
import subprocess
import sys

import pytest
import torch
from PIL import Image

from infogan.evaluate import evaluate_run, load_model, traversal_grid
from infogan.runs import Run, RunError
from infogan.train import Trainer, extend, resume, train


def test_tiny_real_mnist_run_writes_every_file(tiny_mnist, tmp_path):
    run = train(tiny_mnist, "tiny", tmp_path)
    files = {p.relative_to(run.path).as_posix() for p in run.path.rglob("*") if p.is_file()}
    assert {"config.json", "status.json", "metrics.jsonl", "samples/step_000010.png",
            "samples/step_000020.png", "ckpt/step_000020.safetensors", "ckpt/step_000020.pt"} <= files
    st = run.status()
    assert st["state"] == "completed" and st["step"] == 20 and st["total_steps"] == 20
    records, bad = run.metrics()
    assert bad == 0 and [r["step"] for r in records] == [5, 10, 15, 20]
    for key in ["loss_d", "loss_g", "loss_info", "d_real", "d_fake", "images_per_s", "mi_c1", "mi_c2",
                "mi_c3", "ce_c1", "nll_c2", "sigma_c2"]:
        assert key in records[-1], key
    assert 0 < records[-1]["mi_c1"] <= 2.3026
    # ~0 at initialisation (CE = ln 10); within 5 steps Q reads c1 (the rise after that is noise-level here)
    assert min(r["mi_c1"] for r in records) > 0.1
    img = Image.open(run.path / "samples/step_000020.png")
    assert img.size == (10 * 30 + 2, 8 * 30 + 2)  # 8 noise seeds (rows) x the 10 values of c1
    out = evaluate_run(run, test_data=None)
    assert 0.1 < out["categorical"]["accuracy"] <= 1.0
    effects = out["continuous"]
    assert list(effects["codes"]) == ["c2", "c3", "c4"] and set(effects["best"]) == {"slant", "width"}
    for code, corr in effects["codes"].items():
        assert list(corr) == ["slant", "width", "thickness"] and all(-1 <= r <= 1 for r in corr.values())
        assert list(effects["effect"][code]) == list(corr)
        assert all(math.isfinite(e) for e in effects["effect"][code].values())
    assert json.loads((run.path / "eval.json").read_text())["step"] == 20


@pytest.mark.parametrize("jitter", [0.0, 1.0])
def test_resume_equals_uninterrupted(tiny_mnist, tmp_path, jitter):
    cfg = tiny_mnist.replace(log_every=2, ckpt_every=6, sample_every=100, lambda_cat_jitter=jitter)
    full = train(cfg, "full", tmp_path)
    part_cfg = cfg
    part = Run.create(part_cfg, "part", tmp_path)
    t = Trainer(part_cfg, part)
    t.total_steps = 8  # interrupt after 8 steps: the newest checkpoint is at step 6
    t.fit()
    part.set_status("stopped")
    part.append_metrics([{"step": 99, "loss_d": 0.0}])  # logged after the checkpoint: dropped
    resume(part)
    a, _ = full.metrics()
    b, _ = part.metrics()
    assert [r["step"] for r in a] == [r["step"] for r in b]
    for ra, rb in zip(a, b):
        for k in ("loss_d", "loss_g", "loss_info", "mi_c1", "mi_c2") + (("ce_jitter",) if jitter else ()):
            assert rb[k] == pytest.approx(ra[k], rel=1e-4, abs=1e-5), (ra["step"], k)
    assert ("ce_jitter" in a[0]) == bool(jitter)


def test_extending_a_finished_run_equals_training_longer(tiny_mnist, tmp_path):
    cfg = tiny_mnist.replace(log_every=5, ckpt_every=100, sample_every=100)
    full = train(cfg, "full", tmp_path)  # 2 epochs of 10 steps
    short = train(cfg.replace(epochs=1), "short", tmp_path)
    with pytest.raises(RunError, match="already has epochs = 1; ask for more"):
        extend(short, 1)
    assert extend(short, "2").epochs == 2 and short.status()["state"] == "stopped"
    assert short.status()["total_steps"] == 20
    assert short.config() == full.config()
    resume(short)
    assert short.status()["state"] == "completed" and short.checkpoint_steps() == [10, 20]
    a, b = load_model(full), load_model(short)
    for pa, pb in zip(a.G.state_dict().values(), b.G.state_dict().values(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-4, atol=1e-5)
    assert [r["step"] for r in short.metrics()[0]] == [r["step"] for r in full.metrics()[0]]


def test_non_finite_loss_fails_with_reason_and_keeps_checkpoint(tiny_mnist, tmp_path):
    cfg = tiny_mnist.replace(ckpt_every=5)
    run = Run.create(cfg, "nan", tmp_path)
    t = Trainer(cfg, run)
    t.total_steps = 5
    t.fit()
    t.total_steps = 20
    with torch.no_grad():
        for p in t.G.parameters():
            p.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="non-finite"):
        t.fit()
    st = run.status()
    assert st["state"] == "failed" and "non-finite" in st["error"]
    assert run.checkpoint_steps() == [5]
    load_model(run)  # the last good checkpoint still loads


def test_traversal_grid_from_a_checkpoint(tiny_mnist, tmp_path):
    run = train(tiny_mnist, "trav", tmp_path)
    model = load_model(run)
    grid, values = traversal_grid(model, "c1", seeds=[0, 1, 2])
    assert values == list(range(10)) and grid.shape == (3, 3 * 30 + 2, 10 * 30 + 2)
    grid2, values2 = traversal_grid(model, "c2", seeds=[0], values=[-2, 0, 2])
    assert values2 == [-2, 0, 2] and grid2.shape[2] == 3 * 30 + 2
    # column images differ as the code changes; rows differ with the noise
    assert not torch.equal(grid[:, 2:30, 2:30], grid[:, 2:30, 32:60])
    with pytest.raises(RunError, match="no checkpoint at step 3"):
        load_model(run, step=3)


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "infogan", *args], capture_output=True, text=True,
                          cwd=cwd, env={"PYTHONPATH": str(__import__("pathlib").Path(__file__).parents[1]),
                                        "PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("args,text", [
    (["train", "--batch-size", "-1"], "batch_size: must be between 2"),
    (["train", "--cat-codes", "10,1"], "cat_codes: every categorical code needs K >= 2"),
    (["train", "--dataset", "imagenet"], "dataset: unknown dataset 'imagenet'"),
    (["eval", "nope"], "no run named 'nope'"),
    (["traverse", "../etc", "--code", "c1", "--out", "x.png"], "invalid run name"),
])
def test_cli_bad_arguments_exit_nonzero_with_one_line(tmp_path, args, text):
    r = cli(*args, cwd=tmp_path)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], r.stderr


def test_cli_train_eval_traverse_runs(tiny_mnist, tmp_path):
    d = tiny_mnist.data_dir
    r = cli("train", "--dataset", "mnist", "--data-dir", d, "--subset", "96", "--batch-size", "32",
            "--epochs", "1", "--run-name", "c", "--quiet", "--no-download", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "c: completed at step 3" in r.stdout
    r = cli("train", "--resume", "c", cwd=tmp_path)
    assert r.returncode == 2 and "is completed; give it more epochs" in r.stderr, r.stderr
    r = cli("train", "--resume", "c", "--epochs", "2", "--lr-g", "0.1", cwd=tmp_path)
    assert r.returncode == 2 and "only --epochs may change (got lr_g)" in r.stderr, r.stderr
    r = cli("train", "--resume", "c", "--epochs", "2", "--quiet", cwd=tmp_path)
    assert r.returncode == 0 and "c: completed at step 6" in r.stdout, r.stderr
    r = cli("eval", "c", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "code c1 accuracy" in r.stdout and "on 10000 test images" in r.stdout
    assert "c3: Spearman slant " in r.stdout and ", thickness " in r.stdout and "; effect (sd) slant " in r.stdout
    assert "width: matched continuous code c" in r.stdout
    r = cli("traverse", "c", "--code", "c3", "--out", "g.png", "--rows", "2", "--steps", "5", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / "g.png").size == (5 * 30 + 2, 2 * 30 + 2)
    r = cli("runs", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.splitlines()[1].split()[:4] == ["c", "mnist", "completed", "6"]


def test_missing_dataset_names_folder_and_files(tmp_path):
    r = cli("train", "--data-dir", str(tmp_path / "empty"), "--no-download", cwd=tmp_path)
    assert r.returncode == 2
    assert "mnist: the files are missing" in r.stderr and "train-images-idx3-ubyte" in r.stderr
    assert str(tmp_path / "empty" / "MNIST" / "raw") in r.stderr and len(r.stderr.splitlines()) == 1
