import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from infogan import quality
from infogan.budget import SMOKE
from infogan.checkpoint import load_model
from infogan.data import load
from infogan.evaluate import evaluate_run
from infogan.film import traversal_grid
from infogan.runs import KEEP_STATES, Run, RunError
from infogan.train import Trainer, resume, train
from tests.conftest import cli_here


def test_tiny_real_mnist_run_writes_every_file(tiny_runs, tiny_mnist, tmp_path, monkeypatch):
    run = Run(shutil.copytree(tiny_runs / "f", tmp_path / "tiny"))  # the shared run, trained once; eval writes
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
    monkeypatch.setattr(quality, "N_FD", 1_000)  # accuracy on the full split; quality on 1,000 (test_quality's)
    out = evaluate_run(run, test_data=None)
    assert out["quality"]["n"] == 1_000
    cat = out["categorical"]
    conf = np.asarray(cat["codes"]["c1"]["confusion"])
    assert conf.shape == (10, 10) and conf.sum() == cat["n_images"] == 10_000
    assert conf.sum(0).tolist() == np.bincount(load(tiny_mnist, train=False).labels.numpy()).tolist()
    # the reported accuracy is the Hungarian-matched diagonal of that confusion matrix
    assert cat["accuracy"] == pytest.approx(conf[cat["codes"]["c1"]["label_to_code"], range(10)].sum() / 10_000)
    effects = out["continuous"]
    assert list(effects["codes"]) == ["c2", "c3", "c4"] and set(effects["best"]) == {"slant", "width"}
    for code, corr in effects["codes"].items():
        assert list(corr) == ["slant", "width", "thickness"] and all(-1 <= r <= 1 for r in corr.values())
        assert list(effects["effect"][code]) == list(corr)
        assert all(math.isfinite(e) for e in effects["effect"][code].values())
    assert json.loads((run.path / "eval.json").read_text())["step"] == 20


def test_resume_equals_uninterrupted(tiny_mnist, tmp_path, jitter=1.0):
    """With the jitter term on (MNIST's default), so its own random draws are restored too; the
    loop without it is the same loop minus that term."""
    cfg = tiny_mnist.replace(subset=160, log_every=2, ckpt_every=4, sample_every=100, lambda_cat_jitter=jitter)
    full = train(cfg, "full", tmp_path)  # 2 epochs of 5 steps
    part = Run.create(cfg, "part", tmp_path)
    t = Trainer(cfg, part)
    t.total_steps = 6  # interrupt after 6 steps: the newest checkpoint is at step 4, before the epoch's end
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


def test_a_term_between_the_d_and_the_g_update_stops_after_the_step(tiny_mnist, tmp_path, monkeypatch):
    """A TERM from a process manager (or Ctrl-C: the same handler, next test) arriving right after
    a D update: the step is finished and checkpointed, so the resumed run equals one never
    interrupted. (A KeyboardInterrupt there used to save a D one update ahead of its step
    counter; a TERM used to kill the trainer mid-step and read failed.)"""
    import os
    import signal

    from infogan.runs import load_weights
    from infogan.train import train_run

    cfg = tiny_mnist.replace(subset=160, log_every=2, ckpt_every=4, sample_every=100, precision="fp32")
    full = train(cfg, "full", tmp_path)  # 2 epochs of 5 steps
    original, calls = torch.optim.Adam.step, [0]

    def step(self, *args, **kwargs):  # D's update, then G's, every training step
        out = original(self, *args, **kwargs)
        calls[0] += 1
        if calls[0] == 2 * 5 + 1:  # right after step 6's D update
            os.kill(os.getpid(), signal.SIGTERM)
        return out

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    part = Run.create(cfg, "part", tmp_path)
    # Python's own handlers, as a terminal's process has them (a suite started with `&` inherits SIG_IGN)
    own = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
    outer = {s: signal.signal(s, h) for s, h in own.items()}
    try:
        assert train_run(part) == "stopped"
    finally:
        for s, h in outer.items():
            assert signal.signal(s, h) is own[s]  # put back
    monkeypatch.setattr(torch.optim.Adam, "step", original)
    status = part.status()
    assert status["step"] == 6 and part.checkpoint_steps()[-1] == 6
    assert status["reason"] == "terminated"
    resume(part)
    _, _, g_full, d_full = load_weights(full.weights_path(10))
    _, _, g_part, d_part = load_weights(part.weights_path(10))
    for k in d_full:  # one extra D update would move every weight by about lr = 2e-4
        torch.testing.assert_close(d_part[k], d_full[k], rtol=1e-4, atol=1e-5, msg=k)
    for k in g_full:
        torch.testing.assert_close(g_part[k], g_full[k], rtol=1e-4, atol=1e-5, msg=k)


def test_ctrl_c_and_term_share_the_stop_after_the_step_handler():
    """Ctrl-C takes the same path as the TERM above (one handler for both); only its reason differs."""
    import os
    import signal

    from infogan.train import Stop, _ctrl_c_stops

    own = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
    outer = {s: signal.signal(s, h) for s, h in own.items()}
    try:
        with _ctrl_c_stops(Stop()) as stop:
            assert signal.getsignal(signal.SIGINT) is signal.getsignal(signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)
            assert stop.is_set() and stop.reason == "interrupted (Ctrl-C)"
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # a second one abandons
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # put back
    finally:
        for s, h in outer.items():
            signal.signal(s, h)


def test_extending_a_finished_run_equals_training_longer(tiny_mnist, tmp_path):
    cfg = tiny_mnist.replace(log_every=5, ckpt_every=100, sample_every=100)
    full = train(cfg, "full", tmp_path)  # 2 epochs of 10 steps
    short = train(cfg.replace(epochs=1), "short", tmp_path)
    with pytest.raises(RunError, match="already has epochs = 1; ask for more"):
        short.extend(1)
    assert short.extend("2").epochs == 2 and short.status()["state"] == "stopped"
    assert short.status()["total_steps"] == 20
    assert short.config() == full.config()
    resume(short)
    assert short.status()["state"] == "completed" and short.checkpoint_steps() == [10, 20]
    a, b = load_model(full), load_model(short)
    for pa, pb in zip(a.G.state_dict().values(), b.G.state_dict().values(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-4, atol=1e-5)
    assert [r["step"] for r in short.metrics()[0]] == [r["step"] for r in full.metrics()[0]]


def _poison(t: Trainer) -> None:
    with torch.no_grad():
        for p in t.G.parameters():
            p.fill_(float("nan"))


def test_non_finite_loss_fails_with_reason_and_keeps_checkpoint(tiny_mnist, tmp_path):
    cfg = tiny_mnist.replace(ckpt_every=5)
    run = Run.create(cfg, "nan", tmp_path)
    t = Trainer(cfg, run)
    t.total_steps = 5
    t.fit()
    t.total_steps = 20
    _poison(t)
    with pytest.raises(FloatingPointError, match="non-finite"):
        t.fit()
    st = run.status()
    assert st["state"] == "failed" and "non-finite" in st["error"]
    assert run.checkpoint_steps() == [5]
    load_model(run)  # the last good checkpoint still loads


def test_non_finite_weights_are_never_checkpointed_between_log_steps(tiny_mnist, tmp_path):
    """ckpt_every 3 with log_every 100: no log step comes before the checkpoint, so the save
    itself must refuse, and the good checkpoints must not be pruned by a bad one."""
    cfg = tiny_mnist.replace(log_every=100, ckpt_every=3, sample_every=3, keep_checkpoints=2)
    run = Run.create(cfg, "nan3", tmp_path)
    t = Trainer(cfg, run)
    t.total_steps = 6
    t.fit()
    assert run.checkpoint_steps() == [3, 6]
    t.total_steps = 20
    _poison(t)
    with pytest.raises(FloatingPointError, match=r"non-finite weights \(G\..*\) at step 9"):
        t.fit()
    assert run.checkpoint_steps() == [3, 6] and [p.name for p in run.sample_paths()][-1] == "step_000006.png"
    assert run.status()["state"] == "failed"
    for s in (3, 6):
        g = run.load_checkpoint(s)[0]
        assert all(torch.isfinite(v).all() for v in g.values() if v.is_floating_point())


def test_pruning_keeps_a_spare_resume_state_and_resume_falls_back_to_it(tiny_mnist, tmp_path):
    cfg = tiny_mnist.replace(log_every=2, ckpt_every=4, sample_every=100, keep_checkpoints=3)
    full = train(cfg, "full", tmp_path)
    part = Run.create(cfg, "part", tmp_path)
    t = Trainer(cfg, part)
    t.total_steps = 18  # checkpoints at 4, 8, 12, 16 and the stop at 18
    t.fit()
    part.set_status("stopped")
    assert part.checkpoint_steps() == [12, 16, 18]  # keep_checkpoints weight files
    assert sorted(p.name for p in (part.path / "ckpt").glob("*.pt")) == ["step_000016.pt", "step_000018.pt"]
    assert KEEP_STATES == 2 and part.resume_steps() == [18, 16]
    # damage the newest pair: resume must go on from step 16, with the metrics after it dropped
    part.weights_path(18).write_bytes(part.weights_path(18).read_bytes()[:-100])
    part.state_path(18).write_bytes(b"garbage")
    resume(part)
    assert part.status()["state"] == "completed" and part.checkpoint_steps()[-1] == 20
    a, b = full.metrics()[0], part.metrics()[0]
    assert [r["step"] for r in a] == [r["step"] for r in b]
    for ra, rb in zip(a, b):  # the same numbers as an uninterrupted run: no step lost or repeated
        assert rb["loss_g"] == pytest.approx(ra["loss_g"], rel=1e-4, abs=1e-5), ra["step"]
    # with no usable pair left, resume says so in one line
    part.set_status("stopped")
    for s in part.resume_steps():
        part.state_path(s).write_bytes(b"")
    with pytest.raises(RunError, match="has no usable checkpoint to resume from"):
        resume(part)


def test_traversal_grid_from_a_checkpoint(tiny_runs):
    run = Run(tiny_runs / "f")
    model = load_model(run)
    grid, values = traversal_grid(model.G, model.cfg, "c1", seeds=[0, 1, 2])
    assert values == list(range(10)) and grid.shape == (3, 3 * 30 + 2, 10 * 30 + 2)
    grid2, values2 = traversal_grid(model.G, model.cfg, "c2", seeds=[0], values=[-2, 0, 2])
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
    (["train", "--seed", "9300000000000"], "seed: must be between 0 and 4,294,967,295"),
    (["train", "--device", "cuda:x"], "device: must be one of"),
    (["sweep", "--seeds", "0-1000000000"], "is more than 1000 seeds"),  # refused before any list is built
])
def test_cli_bad_arguments_exit_nonzero_with_one_line(capsys, monkeypatch, tmp_path, args, text):
    code, _, err = cli_here(capsys, monkeypatch, tmp_path, *args)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], err


def test_cli_train_eval_traverse_runs(capsys, monkeypatch, tiny_mnist, tmp_path):
    d = tiny_mnist.data_dir
    r = cli("train", "--dataset", "mnist", "--data-dir", d, "--subset", "96", "--batch-size", "32",
            "--epochs", "1", "--run-name", "c", "--quiet", "--no-download", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "c: completed at step 3" in r.stdout
    code, _, err = cli_here(capsys, monkeypatch, tmp_path, "train", "--resume", "c")
    assert code == 2 and "is completed; give it more epochs" in err, err
    code, _, err = cli_here(capsys, monkeypatch, tmp_path, "train", "--resume", "c", "--epochs", "2", "--lr-g", "0.1")
    assert code == 2 and "only --epochs may change (got lr_g)" in err, err
    code, out, err = cli_here(capsys, monkeypatch, tmp_path, "train", "--resume", "c", "--epochs", "2", "--quiet")
    assert code == 0 and "c: completed at step 6" in out, err
    monkeypatch.setenv("INFOGAN_SMOKE", "1")  # a few steps and a stop, and the run's own budget kept
    code, out, err = cli_here(capsys, monkeypatch, tmp_path, "train", "--resume", "c", "--epochs", "4", "--quiet")
    assert code == 0 and f"c: stopped at step {6 + SMOKE.limits['max_steps']}" in out, err
    config = Run.open("c").config()
    assert (config.epochs, config.max_steps, config.subset) == (4, 0, 96)
    monkeypatch.delenv("INFOGAN_SMOKE")
    code, out, err = cli_here(capsys, monkeypatch, tmp_path, "train", "--resume", "c", "--quiet")
    assert code == 0 and "c: completed at step 12" in out, err
    monkeypatch.setenv("INFOGAN_SMOKE", "1")  # eval on the first SMOKE.test_images test images (full: above)
    code, out, err = cli_here(capsys, monkeypatch, tmp_path, "eval", "c")
    assert code == 0, err
    assert "code c1 accuracy" in out and f"on {SMOKE.test_images} test images" in out
    assert "c3: Spearman slant " in out and ", thickness " in out and "; effect (sd) slant " in out
    assert "width: matched continuous code c" in out
    assert f"sample quality in the judge's features ({SMOKE.test_images} images; judge test accuracy " in out
    assert "FD " in out
    code, _, err = cli_here(capsys, monkeypatch, tmp_path, "traverse", "c", "--code", "c3", "--out", "g.png",
                            "--rows", "2", "--steps", "5")
    assert code == 0, err
    assert Image.open(tmp_path / "g.png").size == (5 * 30 + 2, 2 * 30 + 2)
    code, out, err = cli_here(capsys, monkeypatch, tmp_path, "traverse", "c", "--out", "all.png", "--rows", "2",
                              "--steps", "5")
    assert code == 0 and "every code (c1, c2, c3, c4)" in out, err
    block = 18 + 2 * (2 * 30 + 2)  # a label strip, then 2 rows of the grid at twice the size
    assert Image.open(tmp_path / "all.png").size == (2 * (10 * 30 + 2), 4 * block)  # c1's 10 values widest
    code, out, _ = cli_here(capsys, monkeypatch, tmp_path, "runs")
    assert code == 0 and out.splitlines()[1].split()[:4] == ["c", "mnist", "completed", "12"]


def test_missing_dataset_names_folder_and_files(capsys, monkeypatch, tmp_path):
    code, _, err = cli_here(capsys, monkeypatch, tmp_path, "train", "--data-dir", str(tmp_path / "empty"),
                            "--no-download")
    assert code == 2
    assert "mnist: the files are missing" in err and "train-images-idx3-ubyte" in err
    assert str(tmp_path / "empty" / "MNIST" / "raw") in err and len(err.splitlines()) == 1


def test_cli_config_file_and_folder_dataset_use_the_folder_preset(capsys, monkeypatch, tmp_path):
    images = tmp_path / "imgs"
    images.mkdir()
    for i in range(8):
        Image.new("RGB", (40, 48), (i * 30, 90, 200 - i * 20)).save(images / f"{i}.png")
    (tmp_path / "my.json").write_text(json.dumps({"dataset": f"folder:{images}", "batch_size": 4, "seed": 3,
                                                  "max_steps": 2, "log_every": 1}))
    r = cli("train", "--config", "my.json", "--seed", "4", "--run-name", "f", "--quiet", cwd=tmp_path)
    assert r.returncode == 0 and "f: completed at step 2" in r.stdout, r.stderr
    saved = json.loads((tmp_path / "checkpoints" / "f" / "config.json").read_text())
    # the folder preset (64x64 RGB, 128 noise, 10 x Cat(10)), the file's fields, then the flags
    assert (saved["image_size"], saved["channels"], saved["noise_dim"]) == (64, 3, 128)
    assert saved["cat_codes"] == [10] * 10 and saved["n_cont"] == 0 and saved["lambda_cat_jitter"] == 0.0
    assert (saved["batch_size"], saved["seed"], saved["max_steps"]) == (4, 4, 2)
    assert Image.open(tmp_path / "checkpoints" / "f" / "samples" / "step_000002.png").mode == "RGB"
    for content, reason in [('{"batch_size": "lots"}', "batch_size: expected a whole number"),
                            ("[1, 2]", "my.json must hold a JSON object"), ("{oops", "my.json is not valid JSON")]:
        (tmp_path / "my.json").write_text(content)
        code, _, err = cli_here(capsys, monkeypatch, tmp_path, "train", "--config", "my.json")
        assert code == 2 and len(err.strip().splitlines()) == 1 and reason in err, err
    code, _, err = cli_here(capsys, monkeypatch, tmp_path, "train", "--config", "nope.json")
    assert code == 2 and "nope.json is missing" in err
