"""The job manager: each job is a child process that stops with a checkpoint when asked, or
when the server that started it dies, and reports how it ended; evaluations run the same way."""

import json
import shutil
import subprocess
import sys
import time

import pytest

from infogan.budget import SMOKE
from infogan.config import Config
from infogan.jobs import JobManager
from infogan.runs import Run, RunError
from tests.conftest import ROOT, app, joined, visit, wait_until


def _long(cfg: Config) -> Config:
    """1,000 steps, more than any test waits for; fp32, as a run of "auto" that long would probe
    first, and these tests are about jobs, not precision (tests/test_precision.py)."""
    return cfg.replace(epochs=100, ckpt_every=1000, precision="fp32")


def _step(job, above: int):
    return lambda: job.run.status().get("state") == "running" and job.run.status().get("step", 0) > above


@pytest.fixture
def manager(tmp_path):
    """A job manager whose children never outlive the test: after a failed assertion, a 1,000-step
    job would otherwise go on training beside the rest of the suite."""
    m = JobManager(str(tmp_path))
    yield m
    for job in m.running():
        job.process.kill()
        joined(job.thread, 60, f"the leftover job {job.name!r} to exit")


def test_stop_ends_the_child_with_a_checkpoint(tiny_mnist, manager):
    job = manager.start(_long(tiny_mnist), "stoppable")
    wait_until(_step(job, 3), 90, "the child to pass step 3")
    assert job.run.status()["pid"] == job.process.pid  # training runs outside the server process
    assert job.run.is_busy()  # what the Runs page asks before rename or delete
    assert manager.stop("stoppable") and manager.is_running("stoppable")
    joined(job.thread, 60, "the stopped child to exit")
    status = job.run.status()
    assert status["state"] == "stopped" and job.error is None
    assert status["reason"] == "stopped from the dashboard"
    assert job.run.checkpoint_steps() == [status["step"]]
    assert not manager.stop("stoppable")  # nothing left to stop
    # resume continues from the stopped step in a new child; a TERM (a process manager, `kill`)
    # stops it the same way, after its step with a checkpoint, and is not a failure
    again = manager.resume(job.run)
    wait_until(lambda: job.run.status().get("step", 0) > status["step"] + 2, 90, "the resumed child to train on")
    again.process.terminate()
    joined(again.thread, 60, "the terminated child to exit")
    st = job.run.status()
    assert (st["state"], st["reason"], again.error, again.process.returncode) == ("stopped", "terminated", None, 0)
    assert job.run.checkpoint_steps()[-1] == st["step"] > status["step"]
    steps = [json.loads(line)["step"] for line in (job.run.path / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps))


def test_a_child_killed_by_a_signal_is_reported_by_its_name(tmp_path):
    """Its last log line is whatever it was doing (a precision message, say), not why it ended."""
    from infogan.jobs import _ended

    log = tmp_path / "job.log"
    log.write_text("precision fp32: 400 steps are too few to pay for a probe\n")
    assert _ended(-9, log) == "was killed by SIGKILL"
    assert _ended(-15, log) == "was killed by SIGTERM"
    assert _ended(1, log) == "exited with code 1: precision fp32: 400 steps are too few to pay for a probe"


def test_children_stop_with_a_checkpoint_when_the_server_dies(tiny_mnist, tmp_path):
    cfg = _long(tiny_mnist).to_dict()
    script = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r})\n"
              "from infogan.config import Config\nfrom infogan.jobs import JobManager\n"
              f"job = JobManager({str(tmp_path)!r}).start(Config.from_dict({cfg!r}), 'orphan')\n"
              "while job.run.status().get('step', 0) < 3: time.sleep(0.1)\n"
              "import os; os._exit(0)\n")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    run = Run(tmp_path / "orphan")
    wait_until(lambda: run.state() != "running", 90, "the orphaned child to stop")
    assert run.status()["state"] == "stopped" and run.checkpoint_steps() == [run.status()["step"]]


def test_a_job_that_cannot_start_says_why(tiny_mnist, tmp_path):
    manager = JobManager(str(tmp_path))
    job = manager.start(tiny_mnist.replace(data_dir=str(tmp_path / "nowhere")), "nodata")
    joined(job.thread, 90, "the child without data to exit")
    assert job.run.status()["state"] == "failed"
    assert "nowhere" in job.error and "\n" not in job.error
    assert not manager.running()


def test_cores_are_resplit_as_jobs_start_and_end(tiny_mnist, manager, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    first = manager.start(_long(tiny_mnist), "first")
    wait_until(lambda: first.run.status().get("step", 0) > 5, 90, "the first job to pass step 5")
    second = manager.start(_long(tiny_mnist).replace(seed=1), "second")
    wait_until(lambda: "using 1 CPU threads" in first.log_path.read_text(), 90, "the first job to drop to 1 thread")
    manager.stop("second")
    joined(second.thread, 60, "the second job to exit")
    wait_until(lambda: first.log_path.read_text().count("using 2 CPU threads") == 2, 90,
               "the first job to take both cores again")  # alone again
    assert second.log_path.read_text().splitlines()[0] == "using 1 CPU threads"
    manager.stop("first")
    joined(first.thread, 60, "the first job to exit")
    assert first.run.status()["state"] == second.run.status()["state"] == "stopped"


def stages_until_done(job, run: Run, what: str) -> set:
    """Every stage an evaluation child wrote to eval_job.json while it ran; it must end cleanly."""
    stages = set()
    while job.alive:
        stages.add((run.eval_job() or {}).get("stage"))
        time.sleep(0.05)
    joined(job.thread, 120, what)
    assert job.error is None, job.error
    return stages


def test_evaluation_runs_in_a_child_with_progress_and_one_at_a_time(tiny_runs, tmp_path, monkeypatch):
    monkeypatch.setenv("INFOGAN_SMOKE", "1")  # the child inherits it: the first SMOKE.test_images test images
    run = Run(shutil.copytree(tiny_runs / "f", tmp_path / "ev"))
    manager = JobManager(str(tmp_path))
    job = manager.evaluate(run, 10)
    assert job.process.pid != __import__("os").getpid() and run.eval_busy()
    with pytest.raises(RunError, match="is already being evaluated"):  # a second click
        manager.evaluate(run, 10)
    with pytest.raises(RunError, match="is already being evaluated"):  # another server's click
        JobManager(str(tmp_path)).evaluate(run, 10)
    with pytest.raises(RunError, match="being evaluated; wait"):
        run.delete()
    stages = stages_until_done(job, run, "the evaluation child to exit")
    ev = run.eval_job()
    assert ev["state"] == "completed" and ev["stage"] == "done" and ev["done"] == 1.0 and not run.eval_busy()
    assert "encoding the test images" in stages  # the long stage (accuracy and NMI then read its codes)
    assert run.eval_result(10)["categorical"]["n_images"] == SMOKE.test_images
    again = manager.evaluate(run, 10)  # a finished evaluation does not block the next
    assert again.alive and run.eval_busy()
    again.process.kill()  # what it would compute, the first one did
    joined(again.thread, 60, "the second evaluation to exit")


def test_the_judge_alone_trains_in_a_child_with_its_stage_and_the_page_offers_it(tiny_runs, tmp_path, monkeypatch):
    monkeypatch.setenv("INFOGAN_SMOKE", "1")  # the smoke budget's judge: 512 images, one epoch
    monkeypatch.setenv("INFOGAN_JUDGES", str(tmp_path / "judges"))  # none cached yet
    (tmp_path / "runs").mkdir()
    run = Run(shutil.copytree(tiny_runs / "f", tmp_path / "runs" / "f"))
    at = visit(app(monkeypatch, tmp_path / "runs", run="f"), "app_pages/disentangle.py")
    assert [b for b in at.button if b.label == "Train the mnist judge now"]  # offered before any evaluation
    job = JobManager(str(tmp_path / "runs")).evaluate(run, 20, "judge")
    stages = stages_until_done(job, run, "the judge's child to exit")
    assert run.eval_job()["state"] == "completed" and run.eval_results() is None  # a judge, no evaluation
    assert any(s and "judge for mnist" in s for s in stages), stages  # its own stage, named
    assert list((tmp_path / "judges").rglob("mnist.safetensors"))
    at = visit(app(monkeypatch, tmp_path / "runs", run="f"), "app_pages/disentangle.py")
    assert not [b for b in at.button if b.label == "Train the mnist judge now"]  # cached now


def test_a_failed_evaluation_says_why(tiny_runs, tmp_path):
    run = Run(shutil.copytree(tiny_runs / "f", tmp_path / "evbad"))
    job = JobManager(str(tmp_path)).evaluate(run, 3)  # no checkpoint at step 3
    joined(job.thread, 120, "the evaluation child to exit")
    ev = run.eval_job()
    assert ev["state"] == "failed" and "no checkpoint at step 3" in ev["error"] and job.error == ev["error"]
    assert not run.eval_busy()


def test_a_child_that_cannot_start_fails_the_run_instead_of_leaving_it_queued(tiny_mnist, tmp_path, monkeypatch):
    def no_fork(*args, **kwargs):
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr("subprocess.Popen", no_fork)
    manager = JobManager(str(tmp_path))
    with pytest.raises(RunError, match="could not start a process for run 'nofork'"):
        manager.start(tiny_mnist, "nofork")
    run = Run(tmp_path / "nofork")
    assert run.state() == "failed" and not run.is_busy() and "Resource temporarily" in run.status()["error"]
    assert not manager.running()
