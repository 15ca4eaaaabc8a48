"""The job manager: each job is a child process that stops with a checkpoint when asked, or
when the server that started it dies, and reports how it ended."""

import json
import subprocess
import sys
import time

from infogan.config import Config
from infogan.jobs import JobManager
from infogan.runs import Run
from infogan.train import effective_state
from tests.conftest import ROOT


def _long(cfg: Config) -> Config:
    return cfg.replace(epochs=100, ckpt_every=1000)


def _wait(predicate, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.2)


def test_stop_ends_the_child_with_a_checkpoint(tiny_mnist, tmp_path):
    manager = JobManager(str(tmp_path))
    job = manager.start(_long(tiny_mnist), "stoppable")
    _wait(lambda: job.run.status().get("state") == "running" and job.run.status().get("step", 0) > 3)
    assert job.run.status()["pid"] == job.process.pid  # training runs outside the server process
    assert manager.stop("stoppable") and manager.is_running("stoppable")
    job.thread.join(60)
    status = job.run.status()
    assert status["state"] == "stopped" and job.error is None
    assert job.run.checkpoint_steps() == [status["step"]]
    assert not manager.stop("stoppable")  # nothing left to stop
    # resume continues from the stopped step in a new child
    again = manager.resume(job.run)
    _wait(lambda: job.run.status().get("step", 0) > status["step"] + 2)
    manager.stop("stoppable")
    again.thread.join(60)
    steps = [json.loads(line)["step"] for line in (job.run.path / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps))


def test_children_stop_with_a_checkpoint_when_the_server_dies(tiny_mnist, tmp_path):
    cfg = _long(tiny_mnist).to_dict()
    script = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r})\n"
              "from infogan.config import Config\nfrom infogan.jobs import JobManager\n"
              f"job = JobManager({str(tmp_path)!r}).start(Config.from_dict({cfg!r}), 'orphan')\n"
              "while job.run.status().get('step', 0) < 3: time.sleep(0.1)\n"
              "import os; os._exit(0)\n")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    run = Run(tmp_path / "orphan")
    _wait(lambda: effective_state(run.status()) != "running")
    assert run.status()["state"] == "stopped" and run.checkpoint_steps() == [run.status()["step"]]


def test_a_job_that_cannot_start_says_why(tiny_mnist, tmp_path):
    manager = JobManager(str(tmp_path))
    job = manager.start(tiny_mnist.replace(data_dir=str(tmp_path / "nowhere")), "nodata")
    job.thread.join(90)
    assert job.run.status()["state"] == "failed"
    assert "nowhere" in job.error and "\n" not in job.error
    assert not manager.running()


def test_cores_are_resplit_as_jobs_start_and_end(tiny_mnist, tmp_path, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    manager = JobManager(str(tmp_path))
    first = manager.start(_long(tiny_mnist), "first")
    _wait(lambda: first.run.status().get("step", 0) > 5)
    second = manager.start(_long(tiny_mnist).replace(seed=1), "second")
    _wait(lambda: "using 1 CPU threads" in first.log_path.read_text())
    manager.stop("second")
    second.thread.join(60)
    _wait(lambda: first.log_path.read_text().count("using 2 CPU threads") == 2)  # alone again
    assert second.log_path.read_text().splitlines()[0] == "using 1 CPU threads"
    manager.stop("first")
    first.thread.join(60)
    assert first.run.status()["state"] == second.run.status()["state"] == "stopped"
