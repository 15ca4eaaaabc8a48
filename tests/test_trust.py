"""The runs folder is data, never an instruction (issue: a runs folder is data): names, paths and
addresses read from its files pass the checks they passed where they entered, and nothing read
from a file deletes, writes or connects outside the runs root. Also the review's defects, one
test each; the fuzz test of the files every reader opens is tests/test_fuzz_files.py."""

import io
import json
import re
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from infogan import budget, lease, quality
from infogan.budget import FULL, SMOKE, Budget
from infogan.config import Config
from infogan.data import image_from_bytes
from infogan.evaluate import category_labels, evaluate_steps, hungarian_accuracy, needs_eval
from infogan.invert import invert
from infogan.judge import JudgeTooWeak, judge_for, judge_path, load_judge
from infogan.metrics import dci_scores
from infogan.models import build
from infogan.ray_runner import run_sweep, run_trial, sweep_address
from infogan.runs import Run, RunBusy, RunError
from infogan.sweeps import Sweep
from tests.conftest import ROOT, app, cli_here, tiny_config, visit


def _hostile_sweep(root: Path, mnist_root: Path, members: list) -> Sweep:
    """A valid sweep whose sweep.json was then rewritten (damaged, or by someone sharing the folder)."""
    sweep = Sweep.create("sw", tiny_config(mnist_root).to_dict(), [0], {}, root=root)
    info = json.loads(sweep.file.read_text())
    sweep.file.write_text(json.dumps({**info, "members": members}))
    return sweep


@pytest.mark.parametrize("name", ["", "../victim", "..", "/etc", "a/b", None, 7])
def test_a_sweep_naming_a_member_outside_the_runs_root_is_unreadable_and_deletes_nothing(
        tmp_path, mnist_root, name):
    root, victim = tmp_path / "runs", tmp_path / "victim"
    victim.mkdir()
    (victim / "config.json").write_text("{}")  # looks like a run, but outside the runs root
    sweep = _hostile_sweep(root, mnist_root, [{"name": name, "seed": 0}])
    with pytest.raises(RunError, match=r"sweep\.json is not a usable sweep file: members: member 1's name .* is not a "
                                       r"run name"):
        sweep.delete()
    with pytest.raises(RunError, match="not a run name"):
        Sweep.open("sw", root)
    assert victim.is_dir() and root.is_dir() and (root / "sw-s0" / "config.json").is_file() and sweep.file.is_file()


def test_a_sweep_deletes_only_run_folders_that_name_it(tmp_path, mnist_root):
    root = tmp_path / "runs"
    other = Run.create(tiny_config(mnist_root), "someone-elses", root)  # a run, not this sweep's
    other.set_status("completed")
    (root / "notes-folder").mkdir(parents=True)  # inside the root, not a run
    sweep = _hostile_sweep(root, mnist_root, [{"name": "sw-s0", "seed": 0}, {"name": "someone-elses", "seed": 1},
                                              {"name": "notes-folder", "seed": 2}])
    assert sweep.delete() == ["someone-elses", "notes-folder"]
    assert not (root / "sw-s0").exists() and not sweep.path.exists()
    assert (other.path / "config.json").is_file() and (root / "notes-folder").is_dir()
    with pytest.raises(RunError, match="is not a run folder"):
        Run(root / "notes-folder").delete()
    (root / "link").symlink_to(other.path)
    with pytest.raises(RunError, match="is not a run folder"):
        Run(root / "link").delete()
    assert (other.path / "config.json").is_file()


def test_an_address_from_sweep_json_is_host_port_only(tmp_path, mnist_root, monkeypatch):
    monkeypatch.delenv("INFOGAN_RAY_ADDRESS", raising=False)
    assert sweep_address(None, {"ray_address": "10.0.0.5:6379"}) == "10.0.0.5:6379"
    assert sweep_address("ray://mine:10001", {"ray_address": "10.0.0.5:6379"}) == "ray://mine:10001"  # the flag
    sweep = Sweep.create("sw", tiny_config(mnist_root).to_dict(), [0], {}, root=tmp_path,
                         ray_address="ray://10.0.0.5:10001")  # the CLI's own choice when it was created ...
    connected = []
    monkeypatch.setattr("infogan.ray_runner.connect", lambda *a, **k: connected.append(a))
    with pytest.raises(RunError, match="never a ray:// client: give it with --ray-address"):
        run_sweep(sweep)  # ... is not followed when read back from the file
    assert connected == [] and sweep.info()["state"] == "failed"


def test_sweep_resume_refuses_a_client_address_from_the_file(tmp_path, mnist_root, monkeypatch, capsys):
    monkeypatch.delenv("INFOGAN_RAY_ADDRESS", raising=False)
    Sweep.create("sw", tiny_config(mnist_root).to_dict(), [0], {}, root=tmp_path, ray_address="ray://evil:10001")
    connected = []
    monkeypatch.setattr("infogan.ray_runner.connect", lambda *a, **k: connected.append(a))
    code, _, err = cli_here(capsys, monkeypatch, ROOT, "--runs-dir", str(tmp_path), "sweep", "--resume", "sw")
    assert code == 2 and "is not HOST:PORT" in err and len(err.strip().splitlines()) == 1 and connected == []


def test_a_smoke_judge_is_kept_apart_and_a_weak_judge_is_refused(tmp_path, mnist_root, monkeypatch, tiny_runs):
    monkeypatch.setenv("INFOGAN_JUDGES", str(tmp_path / "judges"))
    cfg = Config.from_dict({"dataset": "mnist", "data_dir": str(mnist_root)})
    smoke = judge_for(cfg, budget=SMOKE)  # no full judge here: the smoke budget trains its own
    assert smoke.info["budget"] == "smoke" and smoke.info["n_train"] == 512 and smoke.info["epochs"] == 1
    assert smoke.path == judge_path("mnist", mnist_root, SMOKE) and smoke.path.parent.name == "smoke"
    assert load_judge("mnist", mnist_root) is None  # nothing a full evaluation reads was written
    # a judge file of the smoke budget where the full one lives (copied there, or older code's) is refused
    shutil.copy(smoke.path, judge_path("mnist", mnist_root))
    with pytest.raises(JudgeTooWeak, match=r"trained on the smoke budget, not full; retrain it: python -m infogan"):
        load_judge("mnist", mnist_root)
    # a full-budget judge that measured 14% (what the smoke judge's file said before budgets were
    # recorded): its own weights, its record rewritten
    info = {**smoke.info, "budget": "full", "accuracy": [0.143]}
    save_file(load_file(str(smoke.path)), str(judge_path("mnist", mnist_root)), metadata={"info": json.dumps(info)})
    run = Run(shutil.copytree(tiny_runs / "f", tmp_path / "runs" / "f"))
    # no number is read through the weak judge: the evaluation keeps what needs none and says why
    # sample quality is missing, and the step counts as evaluated
    assert evaluate_steps(run, budget=Budget("full", test_images=200)) == [10, 20]
    saved = run.eval_results()
    assert "categorical" in saved and "quality" not in saved
    assert re.search(r"held-out accuracy .* below the 80% a judge needs to score samples", saved["quality_skipped"])
    assert not needs_eval(run, saved["step"])
    # an evaluation that ended while its judge trained saved the rest: that step is evaluated again
    run.save_eval({k: v for k, v in saved.items() if k not in ("quality_skipped", "by_step")})
    assert needs_eval(run, saved["step"]) and not needs_eval(run, saved["step"], quality=False)


def test_only_the_budget_module_reads_infogan_smoke():
    import re

    read = re.compile(r"""(environ|getenv)[^\n]{0,8}["']INFOGAN_SMOKE""")
    readers = sorted(p.name for p in (ROOT / "infogan").glob("*.py") if read.search(p.read_text()))
    assert readers == ["budget.py"]
    assert budget.current() in (FULL, SMOKE)


def test_category_names_with_fewer_categories_than_labels():
    labels = np.repeat(np.arange(10), 20)
    truth = {7: 0, 2: 1, 5: 2}  # label -> category; other labels spread over all three
    pred = np.array([truth.get(y, i % 3) for i, y in enumerate(labels)])
    _, conf, order = hungarian_accuracy(pred, labels, 3, 10)
    named = category_labels({"categorical": {"codes": {"c2": {"confusion": conf.tolist(), "label_to_code": order}}}})
    assert named == {"c2": {0: 7, 1: 2, 2: 5}}
    assert category_labels({"categorical": {"codes": {"c1": {"confusion": "junk"}}}}) == {}


def test_inversion_keeps_z_inside_a_uniform_prior():
    cfg = Config.from_dict({"noise_dim": 32, "cat_codes": [4], "n_cont": 1, "noise_prior": "uniform"})
    g, d = build(cfg)
    from infogan.checkpoint import Model

    model, images = Model(cfg, 0, g.eval(), d.eval()), (torch.rand(4, 1, 28, 28) * 255).to(torch.uint8)
    start = invert(model, d.eval(), images, starts=2, steps=0).lat.z  # where the search starts: the prior
    assert start.abs().max() <= 1.0 and start.abs().mean() == pytest.approx(0.5, abs=0.15)  # U(-1, 1): mean |z| 1/2
    found = invert(model, d.eval(), images, starts=2, steps=10, lr=2.0)  # big steps: kept inside by projection
    assert found.lat.z.abs().max() <= 1.0 and (found.lat.z.abs() == 1.0).any()


def test_eval_json_top_level_is_the_newest_checkpoint(tmp_path, tiny_runs):
    run = Run(shutil.copytree(tiny_runs / "f", tmp_path / "f"))
    run.save_eval({"step": 20, "categorical": {"accuracy": 0.5}})
    run.save_eval({"step": 10, "categorical": {"accuracy": 0.2}})  # an old checkpoint, evaluated later
    ev = run.eval_results()
    assert ev["step"] == 20 and ev["categorical"]["accuracy"] == 0.5 and set(ev["by_step"]) == {"10", "20"}


def test_explore_says_in_one_line_where_the_dataset_goes(tmp_path, tiny_runs, monkeypatch):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    run = Run(shutil.copytree(tiny_runs / "f", tmp_path / "f"))
    for step in run.checkpoint_steps():  # the run's dataset was at a path that is gone (moved, or another machine)
        path = run.weights_path(step)
        with safe_open(str(path), "pt") as f:
            meta = f.metadata()
        moved = {**json.loads(meta["config"]), "data_dir": str(tmp_path / "moved")}
        save_file(load_file(str(path)), str(path), {**meta, "config": json.dumps(moved)})
    at = visit(app(monkeypatch, tmp_path, run="f", tab="Real image"), "app_pages/explore.py")
    shown = [e.value for e in at.error]
    assert any("needs the run's dataset (mnist), which cannot be read" in e and str(tmp_path / "moved") in e
               for e in shown), shown


def test_an_uploaded_photo_is_turned_as_it_was_taken():
    pixels = np.zeros((40, 40), np.uint8)
    pixels[:5] = 255  # a bar along the top
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the camera was turned; shown rotated 90 degrees clockwise
    Image.fromarray(pixels).save(buf, format="jpeg", exif=exif, quality=95)
    img = image_from_bytes(buf.getvalue(), Config.from_dict({"dataset": "mnist"}), invert=False)
    column = img[0].float().mean(0)  # upright, the bar runs down the right-hand side
    assert column[-3:].mean() > 200 and column[:10].mean() < 30


def test_runs_of_one_dataset_share_one_nearest_image_pool(tmp_path, monkeypatch):
    cfg = Config.from_dict({"dataset": "dsprites:8", "data_dir": str(tmp_path)})
    quality._pool.cache_clear(), quality._space.cache_clear()
    quality.nearest_real(cfg.replace(seed=1), torch.zeros(1, 64, 64, dtype=torch.uint8))
    quality.nearest_real(cfg.replace(seed=2, lr_g=1e-4), torch.zeros(1, 64, 64, dtype=torch.uint8))
    assert quality._pool.cache_info().misses == 1 and quality._space.cache_info().misses == 1
    assert quality._space(quality.pool_key(cfg), "pixels")[0].dtype == torch.uint8  # no float copy of the pool
    quality._pool.cache_clear(), quality._space.cache_clear()


def test_late_writers_never_recreate_a_deleted_run(tmp_path, mnist_root, monkeypatch):
    from infogan import film

    run = Run.create(tiny_config(mnist_root), "r", tmp_path)
    held = lease.Lease(run.path, "eval", "evaluation").acquire()
    listing = lease._files(run.path, "eval")
    shutil.rmtree(run.path)  # deleted while the heartbeat thread was between its listing and its write
    monkeypatch.setattr(lease, "_files", lambda folder, kind: listing)
    with pytest.raises(OSError):
        held.renew()
    monkeypatch.undo()
    held.release()
    cfg = tiny_config(mnist_root)
    g, _ = build(cfg)
    with pytest.raises(RunError, match="no longer exists"):
        film.save(run, 10, g, cfg)  # ensure_film after a delete
    assert not run.path.exists()


def test_dci_completeness_of_an_unexplained_factor_matches_disentanglement_lib():
    importance = np.array([[0.5, 0.0], [0.5, 0.0]])  # factor 2 has no importance at all
    disentanglement, completeness = dci_scores(importance)
    assert completeness == pytest.approx(0.0, abs=1e-6)  # disentanglement_lib: 0 (here it was 0.5)
    assert dci_scores(np.eye(3))[1] == pytest.approx(1.0, abs=1e-6)
    assert dci_scores(np.zeros((3, 3))) == pytest.approx((0.0, 0.0), abs=1e-6)


def test_evaluating_every_checkpoint_skips_one_the_trainer_pruned(tmp_path, tiny_runs, monkeypatch):
    import infogan.evaluate as evaluate

    run = Run(shutil.copytree(tiny_runs / "f", tmp_path / "f"))
    real = evaluate.load_model

    def pruned_meanwhile(r, step=None, device="cpu"):
        if step == 10:
            r.weights_path(10).unlink()  # the trainer's prune, between the listing and this step's turn
        return real(r, step, device)

    monkeypatch.setattr(evaluate, "load_model", pruned_meanwhile)
    said = []
    done = evaluate_steps(run, progress=lambda what, frac: said.append(what), sample_quality=False,
                          budget=SMOKE)
    assert done == [20] and "skipped step(s) 10: pruned by the trainer meanwhile" in said[-1]
    assert set(run.eval_results()["by_step"]) == {"20"}


def test_two_tabs_pressing_resume_at_once_start_one_trainer(tmp_path, tiny_runs, monkeypatch):
    from infogan.jobs import JobManager

    run = Run(shutil.copytree(tiny_runs / "f", tmp_path / "f"))
    run.set_status("stopped")
    manager = JobManager(str(tmp_path))
    slow = run.check_resumable

    def check(*a, **k):
        time.sleep(0.5)  # both clicks are past any early check before either launches
        return slow(*a, **k)

    monkeypatch.setattr(Run, "check_resumable", lambda self, *a, **k: check(*a, **k))
    results: list = []

    def click():
        try:
            results.append(manager.resume(Run(run.path)))
        except RunBusy as exc:
            results.append(exc)

    tabs = [threading.Thread(target=click) for _ in range(2)]
    [t.start() for t in tabs]
    [t.join(30) for t in tabs]
    try:
        started = [r for r in results if not isinstance(r, Exception)]
        refused = [r for r in results if isinstance(r, RunBusy)]
        assert len(started) == 1 and len(refused) == 1 and "already training" in str(refused[0])
        assert manager.is_running("f") and manager.stop("f")  # the Stop button is the trainer's
    finally:
        for job in manager.jobs():
            if job.process is not None:
                job.process.kill()
                job.thread.join(60)


def test_a_retried_trial_waits_out_the_lease_of_its_dead_attempt(tmp_path, mnist_root):
    sweep = Sweep.create("sw", tiny_config(mnist_root).replace(max_steps=2, ckpt_every=2).to_dict(), [0], {},
                         root=tmp_path, evaluate="none")
    member = Run(tmp_path / "sw-s0")
    (member.path / "lease").mkdir()
    lapses = time.time() - lease.STALE + 1.5  # the lost node's last heartbeat: live for 1.5 s more
    (member.path / "lease" / "train.00000001.json").write_text(json.dumps(
        {"host": "lost-node", "pid": 9, "started": None, "heartbeat": lapses, "what": "training"}))
    assert member.holder() is not None
    assert run_trial(str(tmp_path), "sw-s0", str(sweep.path), 1, None, "none") == "completed"
    assert "waiting for it to lapse" in (member.path / "job.log").read_text()


def test_a_sweep_stores_its_data_folder_absolute(tmp_path, mnist_root, monkeypatch):
    monkeypatch.delenv("INFOGAN_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    base = {**tiny_config(mnist_root).to_dict(), "data_dir": ""}
    sweep = Sweep.create("sw", base, [0], {}, root=tmp_path / "runs")
    stored = sweep.info()["base"]["data_dir"]
    assert stored == str((tmp_path / "data").resolve()) and Path(stored).is_absolute()
    assert Run(tmp_path / "runs" / "sw-s0").config().data_dir == stored


def test_a_film_panel_or_a_note_read_back_passes_the_checks_it_passed_when_written(tmp_path, tiny_runs):
    from infogan import film
    from infogan.summary import run_summary

    run = Run(shutil.copytree(tiny_runs / "f", tmp_path / "f"))
    meta_path = film.folder(run, 20) / "panel.json"
    meta = json.loads(meta_path.read_text())
    assert film.load(run, 20) is not None
    (tmp_path / "secret.png").write_bytes((film.folder(run, 20) / "samples.png").read_bytes())
    meta_path.write_text(json.dumps({**meta, "names": ["../../../secret"]}))  # a name is a file path
    assert film.load(run, 20) is None and film.load(run, 10) is not None
    (run.path / "notes.json").write_text(json.dumps({"note": "n", "tags": [f"t{i}" for i in range(40)]}))
    assert "40 tags; at most 12 per run" in run_summary(run)["problem"]


def test_numbers_no_writer_writes_are_refused_in_one_line(tmp_path):
    from infogan.summary import run_summary

    run = tmp_path / "r"
    run.mkdir()
    (run / "status.json").write_text('{"state": "completed", "step": 1' + "0" * 400 + ', "total_steps": 20}')
    row = run_summary(Run(run))  # a 400-digit step used to overflow the progress division
    assert row["state"] == "unknown" and "step: 1000" in row["problem"] and "is not a whole number" in row["problem"]
    (run / "status.json").write_text('{"state": "completed", "step": ' + "9" * 5000 + "}")  # past Python's int limit
    assert "status.json missing or unreadable" in run_summary(Run(run))["problem"]
