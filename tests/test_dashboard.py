"""Every page through streamlit's AppTest: no runs, a finished run, a running run, a broken run."""

import json
import math
import os
import shutil
from pathlib import Path

import pytest
import torch

from infogan import precision
from infogan.config import Config
from infogan.figures import monitor_figures
from infogan.runs import Run
from infogan.summary import eval_table, metrics_frame
from infogan.train import train
from tests.conftest import PAGES, app, joined, live_charts, tiny_config, visit, wait_until

ROOT = Path(__file__).resolve().parents[1]



@pytest.fixture(scope="module")
def finished_root(tmp_path_factory, tiny_runs, mnist_root):
    """"done": a copy of the session's tiny run "f" (20 steps); "done2": two categorical codes."""
    root = tmp_path_factory.mktemp("runs")
    shutil.copytree(tiny_runs / "f", root / "done")
    train(tiny_config(mnist_root).replace(seed=1, cat_codes=[10, 3]), "done2", root)
    return root


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_no_runs(monkeypatch, tmp_path, page):
    at = visit(app(monkeypatch, tmp_path), page)
    text = " ".join(m.value for m in at.markdown) + " ".join(i.value for i in at.info)
    if page == "app_pages/runs.py":
        assert "No runs yet" in text and at.button[0].label.startswith("Start a quick demo run on")
        assert at.button[1].label == "Start a quick demo run on shapes3d"
        assert "floor, wall and object hue" in " ".join(c.value for c in at.caption)
    elif page in ("app_pages/monitor.py", "app_pages/explore.py", "app_pages/disentangle.py"):
        assert "No run selected" in text
    elif page == "app_pages/compare.py":
        assert "at least two runs with a saved checkpoint" in text


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_finished_runs_and_a_broken_one(monkeypatch, finished_root, page, tmp_path):
    root = tmp_path / "mixed"
    root.mkdir()
    for name in ("done", "done2"):
        os.symlink(finished_root / name, root / name)
    broken = root / "broken"
    (broken / "ckpt").mkdir(parents=True)
    (broken / "config.json").write_text('{"batch_size": "lots"}')
    (broken / "metrics.jsonl").write_text('{"step": 1, "loss_d": 1}\ngarbage\n')
    (broken / "ckpt" / "step_000001.safetensors").write_bytes(b"not a checkpoint")
    at = visit(app(monkeypatch, root, run="done"), page)
    if page == "app_pages/runs.py":
        df = at.dataframe[0].value
        assert list(df["name"]) == ["done2", "done", "broken"]  # newest first; no status.json: last
        assert df.set_index("name").loc["done", "state"] == "completed"
        assert "batch_size: expected a whole number" in df.set_index("name").loc["broken", "problem"]
    if page == "app_pages/monitor.py":
        # losses, MI, D outputs, sigma, and c1's code-health histogram, each in a live-charts component
        assert list(live_charts(at)) == ["losses", "mi", "d_outputs", "sigma", "usage_c1"]
        assert [s.key for s in at.select_slider] == ["monitor_film_step"]  # the film, one frame per checkpoint
        assert "**done** · completed · step 20 / 20" in " ".join(m.value for m in at.markdown)
    if page == "app_pages/explore.py":
        assert len(at.get("image")) >= 1
        assert [s.label for s in at.slider][:2] == ["c2 · continuous (trained on -1..1)",
                                                   "c3 · continuous (trained on -1..1)"]
    if page == "app_pages/disentangle.py":
        monkeypatch.setenv("INFOGAN_SMOKE", "1")  # the job's child evaluates on the first SMOKE.test_images test images
        at.button[0].click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        done = Run(root / "done")
        # a background job: the script run returned at once with a progress bar, not the results
        assert done.eval_busy() and not at.metric and at.button[0].disabled
        wait_until(lambda: not done.eval_busy(), 120, "the evaluation job to finish")
        at.run()
        assert not at.error, [e.value for e in at.error]
        assert "Unsupervised accuracy of c1" in at.metric[0].label
        charts = at.get("plotly_chart")
        assert len(charts) == 4  # confusion, code/label NMI, continuous code correlations and effect sizes
        assert at.dataframe[0].value["number"].tolist() == ["fd", "score", "precision", "recall", "density",
                                                            "coverage"]  # and the sample quality beside real data's
        for chart in charts[2:]:
            assert json.loads(chart.proto.spec)["data"][0]["x"] == ["slant", "width", "thickness"]
    if page == "app_pages/compare.py":
        quality = "fd" in eval_table(Run(root / "done"))  # once the disentanglement case has evaluated it
        assert len(at.get("image")) == 2 and len(at.get("plotly_chart")) == 2 + quality
    # the broken run is selectable and explained instead of crashing the page
    at.session_state["run"] = "broken"
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def test_the_train_form_refuses_bad_input_then_its_job_shows_on_every_page_and_stops(monkeypatch, tmp_path,
                                                                                  mnist_root):
    """The form refuses bad input and creates nothing; then it starts a job (a child of this
    process's JobManager, the one the pages see), every page renders while it trains (3,200
    steps outlast them and pay for the precision probe), and Stop ends it with a checkpoint."""
    from app_pages.common import job_manager

    at = visit(app(monkeypatch, tmp_path), "app_pages/train.py")
    at.text_input(key="form_mnist_cat_codes").set_value("10,1")
    at.text_input(key="form_mnist_lr_g").set_value("fast")
    at.button[0].click().run()  # the form's submit button
    err = at.error[0].value
    # each field named as the form shows it, and as the CLI and config files name it
    assert "Not started" in err and "**Categorical codes** (`cat_codes`): every categorical code needs K >= 2" in err
    assert "**Learning rate of G** (`lr_g`): expected a number" in err
    assert not any(tmp_path.iterdir())  # no run folder for invalid input

    at.text_input(key="form_mnist_cat_codes").set_value("10")
    at.text_input(key="form_mnist_lr_g").set_value("1e-3")
    at.text_input(key="form_mnist_data_dir").set_value(str(mnist_root))
    for field, value in {"subset": 2048, "batch_size": 32, "epochs": 50, "log_every": 2, "ckpt_every": 4,
                         "sample_every": 4}.items():
        at.number_input(key=f"form_mnist_{field}").set_value(value)
    next(t for t in at.text_input if t.label == "Run name (optional)").set_value("live")
    at.button[0].click().run()
    assert not at.exception and "Started **live**" in at.success[0].value
    run = Run(tmp_path / "live")
    try:
        wait_until(lambda: run.checkpoint_steps(), 90, "the live job's first checkpoint")
        for page in PAGES:
            at = visit(app(monkeypatch, tmp_path, run="live"), page)
            text = " ".join(m.value for m in at.markdown)
            if page == "app_pages/monitor.py":
                assert "**live** · running" in text and len(live_charts(at)) == 5
                # what the precision probe chose and each candidate's speed
                st = run.status()
                assert f"· {st['precision']}" in text and st["precision"] in ("fp32", "bf16")
                assert f"precision = auto): {st['precision']}: " in " ".join(c.value for c in at.caption)
                probed = len(precision.candidates(torch.device("cpu"))) > 1  # not on a CPU without bf16 kernels
                assert ("images/s: fp32" in st["precision_probe"]["reason"]) == probed
            if page == "app_pages/train.py":
                assert "1 training now" in " ".join(s.value for s in at.subheader)
            if page == "app_pages/runs.py":
                assert at.dataframe[0].value.set_index("name").loc["live", "state"] == "running"
        at = visit(app(monkeypatch, tmp_path), "app_pages/train.py")
        at.button(key="stop_live").click().run()
        wait_until(lambda: run.status()["state"] != "running", 60, "the form's job to stop")
    finally:
        job = next(j for j in job_manager().jobs() if j.name == "live")
        job_manager().stop("live")
        joined(job.thread, 60, "the form's child to exit")
    st = run.status()
    assert st["state"] == "stopped" and run.checkpoint_steps()[-1] == st["step"]
    assert json.loads((run.path / "config.json").read_text())["subset"] == 2048


def test_monitor_charts_carry_every_logged_term_and_ln_k(finished_root):
    run = Run(finished_root / "done")
    df = metrics_frame(run)
    figs = monitor_figures({"done": df}, run.config().to_dict())
    losses = {t.name: list(t.y) for t in figs["losses"].data}
    assert list(losses) == ["loss_d", "loss_g", "loss_info", "ce_jitter"]  # MNIST default has the term
    assert losses["ce_jitter"] == pytest.approx(df["ce_jitter"].tolist())
    assert [t.name for t in figs["mi"].data] == ["mi_c1", "mi_c2", "mi_c3", "mi_c4"]
    assert [s.y0 for s in figs["mi"].layout.shapes] == pytest.approx([math.log(10)])


def test_train_page_trains_a_finished_run_longer(monkeypatch, tmp_path, finished_root):
    shutil.copytree(finished_root / "done", tmp_path / "done")
    at = visit(app(monkeypatch, tmp_path), "app_pages/train.py")
    assert "Train a finished run longer" in [s.value for s in at.subheader]
    assert at.number_input(key="epochs_done").value == 7  # its 2 epochs + 5
    at.number_input(key="epochs_done").set_value(1)
    next(b for b in at.button if b.label == "Train longer").click().run()
    assert "already has epochs = 2; ask for more" in at.error[0].value
    at.number_input(key="epochs_done").set_value(3)
    next(b for b in at.button if b.label == "Train longer").click().run()
    assert not at.exception and "**done** continues to 3 epochs" in at.success[0].value
    run = Run(tmp_path / "done")
    wait_until(lambda: run.status()["state"] == "completed", 120, "the extended run to complete")
    assert run.status()["step"] == 30 and run.checkpoint_steps()[-1] == 30  # 10 steps per epoch
    steps = [r["step"] for r in run.metrics()[0]]
    assert steps == sorted(set(steps)) and steps[-1] == 30


def test_the_train_form_has_every_config_field_once(monkeypatch, tmp_path):
    at = visit(app(monkeypatch, tmp_path), "app_pages/train.py")
    keys = [w.key for kind in ("text_input", "number_input", "selectbox", "checkbox") for w in at.get(kind)
            if w.key and w.key.startswith("form_mnist_")]
    assert sorted(k[len("form_mnist_"):] for k in keys) == sorted(Config.__dataclass_fields__)
    from infogan.datasets import RECORDS  # the presets offered are the registry's (tests/test_datasets.py)

    assert list(next(s for s in at.selectbox if s.label == "Dataset and preset").options) == [d.label for d in RECORDS]


def test_a_first_logged_point_draws_as_a_point_and_a_long_legend_makes_the_chart_taller():
    import pandas as pd

    one = pd.DataFrame({"loss_d": [1.3], "loss_g": [0.8], "mi_c1": [0.2]}, index=pd.Index([2], name="step"))
    figs = monitor_figures({"r": one}, Config().to_dict())
    assert {t.mode for t in figs["losses"].data} == {"markers"}  # not a line of one point: empty axes
    two = pd.concat([one, one.set_axis([4])])
    assert {t.mode for t in monitor_figures({"r": two}, Config().to_dict())["losses"].data} == {"lines"}
    many = monitor_figures({f"run{i}": two for i in range(4)}, Config().to_dict())["losses"]
    assert many.layout.height > figs["losses"].layout.height


def test_the_train_form_turns_minutes_into_steps_at_the_speed_measured_here(monkeypatch, finished_root):
    """The form's estimate and its minutes both rest on the newest comparable run on this machine
    ("done2": MNIST, batch 32, the same network and precision)."""
    from infogan.runs import list_runs
    from infogan.summary import measured_rate

    at = visit(app(monkeypatch, finished_root), "app_pages/train.py")
    at.number_input(key="form_mnist_batch_size").set_value(32).run()
    cfg = Config.from_dict({"dataset": "mnist", "batch_size": 32})
    rate, name = measured_rate(list_runs(finished_root), cfg)
    assert name == "done2"  # the newest of the two
    assert f"at {rate:,.0f} images/s (measured on run done2)" in " ".join(c.value for c in at.caption)
    at.radio(key="form_mnist_unit").set_value("minutes").run()
    at.number_input(key="form_mnist_minutes").set_value(2).run()
    steps = int(2 * 60 * rate / 32)
    assert f"This run: **{steps:,} steps**" in " ".join(c.value for c in at.caption) and not at.exception


def test_a_cli_run_shows_as_running_on_the_runs_page(monkeypatch, tmp_path, mnist_root):
    """The table's state (what the rename/delete guard uses) comes from the run's status.json and
    its live pid, so a run the dashboard did not start still counts as training."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "infogan", "--runs-dir", str(tmp_path), "train", "--run-name", "cli",
         "--data-dir", str(mnist_root), "--subset", "320", "--batch-size", "32", "--epochs", "100",
         "--quiet", "--no-download"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: Run(tmp_path / "cli").state() == "running", 90, "the CLI run to start")
        at = visit(app(monkeypatch, tmp_path), "app_pages/runs.py")
        assert at.dataframe[0].value.set_index("name").loc["cli", "state"] == "running"
    finally:
        proc.kill()
        proc.wait()
    at.run()
    assert at.dataframe[0].value.set_index("name").loc["cli", "state"] == "interrupted"


def test_the_dashboard_listens_on_localhost_and_reports_nothing():
    import tomllib

    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["address"] == "localhost"
    assert cfg["browser"]["gatherUsageStats"] is False
    assert "--server.address localhost" in (ROOT / "Makefile").read_text()


def test_the_sidebar_folder_and_address_survive_a_change_of_page(monkeypatch, tmp_path):
    """Streamlit drops a widget's value when the page changes; the data folder used to come back
    empty after any click on another page, and new runs then had no data."""
    monkeypatch.setenv("INFOGAN_DATA", "/datasets")
    at = app(monkeypatch, tmp_path)
    assert at.text_input(key="data_dir").value == "/datasets"
    at.text_input(key="data_dir").set_value("/mine").run()
    at.text_input(key="ray_address").set_value("10.0.0.5:6379").run()
    for page in ("app_pages/train.py", "app_pages/explore.py", "app_pages/sweeps.py"):
        visit(at, page)
        at.run()
        assert at.text_input(key="data_dir").value == "/mine", page
        assert at.text_input(key="ray_address").value == "10.0.0.5:6379", page
    assert at.session_state["data_dir"] == "/mine"
