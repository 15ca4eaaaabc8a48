"""Background training jobs for the dashboard: the only code here that knows about concurrency.

One `JobManager` per server process (the dashboard keeps it with st.cache_resource), shared
by every browser tab. Each job is a child process running the same trainer as the CLI,
watched by a daemon thread that never touches Streamlit; the child writes the run folder and
pages read the files. Why a process and not a training thread: measured on 2 cores, a thread
shared the server's GIL, so every page rerun stalled the training step (the CPU sat 21% idle
while a job trained 0.67x slower with Monitor open), and three jobs plus two browser tabs
trained at ~13 images/s each. A process also keeps a crash in training away from the server.

Stop is cooperative: a line (or end of file) on the child's stdin sets the trainer's stop
event, checked after every step, so training ends with a checkpoint. When the server dies
its end of the pipe closes, so its children stop the same way, checkpoint included."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .config import Config
from .runs import Run, RunError
from .train import check_resumable, extend

_PACKAGE_PARENT = str(Path(__file__).resolve().parents[1])


@dataclass
class Job:
    run: Run
    kind: str  # "train" or "resume"
    started: float = field(default_factory=time.time)
    process: subprocess.Popen | None = None
    thread: threading.Thread | None = None  # waits for the process and records how it ended
    error: str | None = None

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    @property
    def log_path(self) -> Path:
        return self.run.path / "job.log"


class JobManager:
    def __init__(self, root: str | None = None):
        self.root = root
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, cfg: Config, name: str | None = None) -> Job:
        """Create the run folder now (so every reader sees it at once), train in a child process."""
        return self._launch(Job(Run.create(cfg, name, self.root), "train"))

    def resume(self, run: Run, epochs: int | None = None) -> Job:
        """Continue a stopped run; `epochs` first raises its budget (a completed run trains longer)."""
        if self.is_running(run.name):
            raise RunError(f"run {run.name!r} is already training")
        if epochs is not None:
            extend(run, epochs)
        check_resumable(run)  # here too, so the page hears of it at once and not from a dead child
        return self._launch(Job(run, "resume"))

    def _launch(self, job: Job) -> Job:
        path = os.pathsep.join(filter(None, [_PACKAGE_PARENT, os.environ.get("PYTHONPATH")]))
        with open(job.log_path, "ab") as log:
            job.process = subprocess.Popen(
                [sys.executable, "-m", "infogan.jobs", job.kind, str(job.run.path.resolve()),
                 str(_share(len(self.running()) + 1))],
                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": path})
        job.thread = threading.Thread(target=self._watch, args=(job,), name=f"job-{job.run.name}", daemon=True)
        with self._lock:
            self._jobs[job.run.name] = job
        job.thread.start()
        self._rebalance()
        return job

    def _watch(self, job: Job) -> None:
        rc = job.process.wait()
        self._rebalance(ending=job)
        status = job.run.status()
        if status.get("state") in ("completed", "stopped"):  # the trainer finished its work and said so
            return
        job.error = status.get("error") or f"training process exited with code {rc}: {_last_line(job.log_path)}"
        if status.get("state") != "failed":  # it died before the trainer could say why
            job.run.set_status("failed", error=job.error[:500])

    def _rebalance(self, ending: Job | None = None) -> None:
        """Split the cores between the running jobs: a full thread team each would oversubscribe
        them, and OpenMP teams that wait on each other's stragglers waste most of the time (one
        job launched first with 2 threads ran at a third of the others' speed beside them)."""
        running = [j for j in self.running() if j is not ending]
        for job in running:
            _send(job, f"threads {_share(len(running))}")

    def stop(self, name: str) -> bool:
        with self._lock:
            job = self._jobs.get(name)
        if job is None or not job.alive:
            return False
        _send(job, "stop")
        return True

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def running(self) -> list[Job]:
        return [j for j in self.jobs() if j.alive]

    def is_running(self, name: str) -> bool:
        return any(j.run.name == name for j in self.running())


def _share(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


def _send(job: Job, line: str) -> None:
    try:
        job.process.stdin.write(line.encode() + b"\n")
        job.process.stdin.flush()
    except (BrokenPipeError, ValueError):  # already on its way out
        pass


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "no output"


def _child(kind: str, path: str, threads: int) -> None:
    """The child process: lower its priority so pages stay responsive, train, and follow the
    manager's lines on stdin: `threads N` (applied at the next log interval, in the training
    thread, where OpenMP's setting lives) and `stop`; end of file also stops."""
    import torch

    from .train import resume, train_run

    os.nice(10)  # before torch starts its worker threads, which inherit it
    torch.set_num_threads(threads)
    stop, wanted = threading.Event(), [threads]

    def listen() -> None:
        buf = b""
        while chunk := os.read(0, 256):  # raw reads: no buffer lock held when the interpreter exits
            *lines, buf = (buf + chunk).split(b"\n")
            for line in lines:
                if line.startswith(b"threads "):
                    wanted[0] = int(line.split()[1])
                else:
                    stop.set()
        stop.set()

    def on_log(_: dict) -> None:
        if torch.get_num_threads() != wanted[0]:
            torch.set_num_threads(wanted[0])
            print(f"using {wanted[0]} CPU threads", flush=True)

    threading.Thread(target=listen, daemon=True).start()
    print(f"using {threads} CPU threads", flush=True)
    (train_run if kind == "train" else resume)(Run(Path(path)), stop, on_log)


def demo_config(data_dir: str) -> Config:
    """A quick demo that shows something within minutes on a CPU: MNIST when its files are
    present, otherwise the built-in generated dSprites-style data (no download needed)."""
    from .data import available

    quick = {"epochs": 2, "log_every": 10, "sample_every": 50, "ckpt_every": 100, "data_dir": data_dir}
    if available("mnist", Path(data_dir)):
        return Config.from_dict({"dataset": "mnist", **quick})
    return Config.from_dict({"dataset": "dsprites", "subset": 20000, **quick})


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], int(sys.argv[3]))
