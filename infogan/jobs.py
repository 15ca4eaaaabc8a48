"""Background training jobs for the dashboard: the only code here that knows about threads.

One `JobManager` per server process (the dashboard keeps it with st.cache_resource), shared
by every browser tab. Each job runs the same trainer as the CLI in a daemon thread; the
thread never touches Streamlit. It writes the run folder, and pages read the files. Stop is
cooperative: an event the trainer checks after every step, ending with a checkpoint."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field

import torch

from .config import Config
from .runs import Run
from .train import resume, train_run


@dataclass
class Job:
    run: Run
    kind: str  # "train" or "resume"
    stop: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.time)
    thread: threading.Thread | None = None
    error: str | None = None

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


class JobManager:
    def __init__(self, root: str | None = None):
        self.root = root
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, cfg: Config, name: str | None = None) -> Job:
        """Create the run folder now (so every reader sees it at once), train in a thread."""
        run = Run.create(cfg, name, self.root)
        return self._launch(Job(run, "train"), lambda job: train_run(job.run, job.stop))

    def resume(self, run: Run) -> Job:
        if self.is_running(run.name):
            raise RuntimeError(f"run {run.name!r} is already training")
        return self._launch(Job(run, "resume"), lambda job: resume(job.run, job.stop))

    def _launch(self, job: Job, target) -> Job:
        def body() -> None:
            _yield_to_the_ui()
            self._share_cores()
            try:
                target(job)
            except BaseException as exc:  # recorded for the UI; the trainer also wrote status.json
                job.error = f"{type(exc).__name__}: {exc}"
            finally:
                self._share_cores(ending=job)

        job.thread = threading.Thread(target=body, name=f"train-{job.run.name}", daemon=True)
        with self._lock:
            self._jobs[job.run.name] = job
        job.thread.start()
        return job

    def _share_cores(self, ending: Job | None = None) -> None:
        """One intra-op thread team per running job would oversubscribe the cores; split them."""
        busy = sum(1 for j in self.running() if j is not ending)
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, busy)))

    def stop(self, name: str) -> bool:
        with self._lock:
            job = self._jobs.get(name)
        if job is None or not job.alive:
            return False
        job.stop.set()
        return True

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def running(self) -> list[Job]:
        return [j for j in self.jobs() if j.alive]

    def is_running(self, name: str) -> bool:
        return any(j.run.name == name for j in self.running())


def _yield_to_the_ui() -> None:
    """Lower this training thread's priority (Linux nice is per thread and inherited by the
    thread's OpenMP workers), so the server thread that renders pages stays responsive."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


def demo_config(data_dir: str) -> Config:
    """A quick demo that shows something within minutes on a CPU: MNIST when its files are
    present, otherwise the built-in generated dSprites-style data (no download needed)."""
    from pathlib import Path

    from .data import available

    quick = {"epochs": 2, "log_every": 10, "sample_every": 50, "ckpt_every": 100, "data_dir": data_dir}
    if available("mnist", Path(data_dir)):
        return Config.from_dict({"dataset": "mnist", **quick})
    return Config.from_dict({"dataset": "dsprites", "subset": 20000, **quick})
