"""Background jobs for the dashboard (training, evaluation, a sweep's driver, a ranking): the
dashboard's one bridge to the package. Who owns a run is the lease's business (runs.py,
lease.py); this module owns the server's child processes and the slots two tabs could race for.

One `JobManager` per server process (the dashboard keeps it with st.cache_resource), shared
by every browser tab. Each job is a child process running the same code as the CLI,
watched by a daemon thread that never touches Streamlit; the child writes the run folder and
pages read the files. Why a process and not a training thread: a thread shares the server's
GIL, so every page rerun stalls the training step (docs/results.md has the measurement); a
process also keeps a crash in training away from the server.

Stop is cooperative: a line (or end of file) on the child's stdin sets the trainer's stop
event, checked after every step, so training ends with a checkpoint. When the server dies
its end of the pipe closes, so its children stop the same way, checkpoint included.
An evaluation (minutes with every metric) runs the same way, so the server keeps answering
every tab meanwhile; its child reports each stage in the run's eval_job.json."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .config import Config
from .ray_runner import check_address, cluster_address
from .runs import Run, RunBusy, RunError, child_pythonpath
from .sweeps import Sweep

EVERY = "every"  # an evaluation job's step: every kept checkpoint not evaluated yet
BUSY = 75  # a child's exit code when another process held the run first (EX_TEMPFAIL): it wrote nothing


@dataclass
class Job:
    folder: Run | Sweep  # the run it trains or evaluates, or the sweep it drives or ranks
    kind: str  # "train", "resume", "eval", "sweep" (the Ray driver) or "select" (ranking a sweep)
    started: float = field(default_factory=time.time)
    process: subprocess.Popen | None = None
    thread: threading.Thread | None = None  # waits for the process and records how it ended
    error: str | None = None

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    @property
    def training(self) -> bool:
        return self.kind in ("train", "resume")

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def run(self) -> Run:
        """The run a train, resume or eval job writes (a sweep's jobs have none)."""
        if not isinstance(self.folder, Run):
            raise TypeError(f"a {self.kind} job drives sweep {self.name!r}, not a run")
        return self.folder

    @property
    def log_path(self) -> Path:
        return self.folder.path / {"eval": "eval.log", "select": "select.log"}.get(self.kind, "job.log")


class JobManager:
    def __init__(self, root: str | None = None):
        self.root = root
        self._jobs: dict[tuple[str, bool], Job] = {}  # (run name, training?) -> newest job
        self._lock = threading.Lock()

    def start(self, cfg: Config, name: str | None = None) -> Job:
        """Create the run folder now (so every reader sees it at once), train in a child process."""
        return self._launch(Job(Run.create(cfg, name, self.root), "train"))

    def resume(self, run: Run, epochs: int | None = None) -> Job:
        """Continue a stopped run; `epochs` first raises its budget (a completed run trains longer)."""
        with self._claim(Job(run, "resume"), f"run {run.name!r} is already training") as job:
            if epochs is not None:
                run.extend(epochs)
            run.check_resumable()  # here too, so the page hears of it at once and not from a dead child
            return self._launch(job)

    def evaluate(self, run: Run, step: int | None, metrics: str = "basic", scale: float = 1.0,
                 estimator: str = "fast") -> Job:
        """Evaluate one checkpoint (None: every kept checkpoint not yet evaluated, for the
        metrics-over-training chart) in a child process that writes eval.json; one at a time per run.
        `metrics` "judge": only train the run's dataset's judge (once per dataset), so a first
        evaluation later finds it; its progress is the run's eval_job.json like an evaluation's."""
        with self._claim(Job(run, "eval"), f"run {run.name!r} is already being evaluated; wait for it to finish",
                         run.eval_busy) as job:
            return self._launch(job, EVERY if step is None else str(step), metrics, str(scale), estimator)

    @contextlib.contextmanager
    def _claim(self, job: Job, busy: str, elsewhere: Callable[[], bool] = lambda: False) -> Iterator[Job]:
        """The run's training (or evaluation) slot, taken under the lock before any check or
        launch: of two tabs pressing the same button at once, the second is refused here, and the
        slot keeps the job that runs (its Stop button with it). A launch that fails gives it back."""
        key = (job.name, job.training)
        with self._lock:
            previous = self._jobs.get(key)
            if (previous is not None and (previous.alive or previous.process is None)) or elsewhere():
                raise RunBusy(busy)  # running, or claimed by a click whose child is starting
            self._jobs[key] = job
        try:
            yield job
        except BaseException:
            with self._lock:
                if self._jobs.get(key) is job:
                    self._jobs[key] = previous  # the ended job's record (its error) stays readable
                    if previous is None:
                        del self._jobs[key]
            raise

    def sweep(self, sweep: Sweep, address: str | None = None) -> Job:
        """Drive a created (or stopped, or interrupted) sweep from a child process: the Ray driver.
        Its trials run in Ray's workers; stop them all with `Sweep.request_stop`."""
        state = sweep.state()
        if state == "running" or self.alive(sweep.name, "sweep"):
            raise RunError(f"sweep {sweep.name!r} is already running")
        if state == "completed":
            raise RunError(f"sweep {sweep.name!r} is completed")
        address = cluster_address(address) or sweep.info().get("ray_address")  # what the page or the file names
        return self._launch(Job(sweep, "sweep"), check_address(address) if address else "")

    def rank(self, sweep: Sweep) -> Job:
        """ModelCentrality over a sweep's members in a child process (a minute or more)."""
        if self.alive(sweep.name, "select"):
            raise RunError(f"sweep {sweep.name!r} is already being ranked")
        return self._launch(Job(sweep, "select"))

    def alive(self, name: str, kind: str) -> bool:
        """Does this manager run a `kind` job ("sweep", "select", ...) of the run or sweep `name`?"""
        return any(j.name == name and j.kind == kind for j in self.running())

    def _launch(self, job: Job, *extra: str) -> Job:
        try:
            with open(job.log_path, "ab") as log:
                job.process = subprocess.Popen(
                    [sys.executable, "-m", "infogan.jobs", job.kind, str(job.folder.path.resolve()),
                     str(_share(len(self.running()) + 1)), *extra],
                    stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                    env={**os.environ, "PYTHONPATH": child_pythonpath()})
        except OSError as exc:  # no child: say so, or a queued run would read busy while this server lives
            if job.training:
                job.run.set_status("failed", error=f"could not start the training process: {exc}"[:500])
            what = type(job.folder).__name__.lower()  # run or sweep
            raise RunError(f"could not start a process for {what} {job.name!r}: {exc}") from None
        if job.kind == "eval":  # written before the child runs, so every reader sees the claim at once
            job.run.set_eval_job(state="running", pid=job.process.pid, step=_step(extra[0]), metrics=extra[1],
                                 stage="starting", done=0.0, started=time.time(), error=None)
        job.thread = threading.Thread(target=self._watch, args=(job,), name=f"job-{job.name}", daemon=True)
        with self._lock:
            self._jobs[(job.name, job.kind if job.kind in ("sweep", "select") else job.training)] = job
        job.thread.start()
        self._rebalance()
        return job

    def _watch(self, job: Job) -> None:
        rc = job.process.wait()
        self._rebalance(ending=job)
        try:
            self._record_end(job, rc)
        except RunError as exc:  # the folder is gone (deleted or renamed meanwhile): nothing to write into
            job.error = job.error or str(exc)

    def _record_end(self, job: Job, rc: int) -> None:
        """What the child's end means for its folder, written where the child could not say it."""
        if rc == BUSY:  # the run (or sweep) is another live process's: leave its files alone
            job.error = _last_line(job.log_path)
            ev = (job.run.eval_job() or {}) if job.kind == "eval" else {}
            if ev.get("pid") == job.process.pid:
                job.run.set_eval_job(state="failed", error=job.error[:500])
            return
        if job.kind in ("sweep", "select"):
            sweep = job.folder
            if job.kind == "sweep" and rc and sweep.state() in ("running", "interrupted"):
                job.error = f"sweep driver {_ended(rc, job.log_path)}"
                sweep.update(state="failed", error=job.error[:500])
            return
        if job.training:
            status = job.run.status()
            if status.get("state") in ("completed", "stopped"):  # the trainer finished its work and said so
                return
            job.error = status.get("error") or f"training process {_ended(rc, job.log_path)}"
            if status.get("state") != "failed":  # it died before the trainer could say why
                job.run.set_status("failed", error=job.error[:500])
            return
        ev = job.run.eval_job() or {}
        if ev.get("state") == "completed":
            return
        job.error = ev.get("error") or f"evaluation process {_ended(rc, job.log_path)}"
        job.run.set_eval_job(state="failed", error=job.error[:500])

    def _rebalance(self, ending: Job | None = None) -> None:
        """Split the cores between the running jobs: a full thread team each would oversubscribe
        them, and OpenMP teams that wait on each other's stragglers waste most of the time (one
        job launched first with 2 threads ran at a third of the others' speed beside them)."""
        running = [j for j in self.running() if j is not ending]
        for job in running:
            _send(job, f"threads {_share(len(running))}")

    def stop(self, name: str) -> bool:
        """Stop a run's training job (it saves a checkpoint first)."""
        with self._lock:
            job = self._jobs.get((name, True))
        if job is None or not job.alive:
            return False
        _send(job, "stop")
        return True

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def running(self) -> list[Job]:
        """Every live child, training or evaluating: they share the cores."""
        return [j for j in self.jobs() if j.alive]

    def training(self) -> list[Job]:
        return [j for j in self.running() if j.training]

    def is_running(self, name: str) -> bool:
        """Is this manager training the run? (Run.is_busy also sees CLI runs and other servers.)"""
        return any(j.name == name for j in self.training())

    def evaluation(self, name: str) -> Job | None:
        """This manager's newest evaluation job of the run, running or ended."""
        with self._lock:
            return self._jobs.get((name, False))


def _share(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


def _send(job: Job, line: str) -> None:
    try:
        job.process.stdin.write(line.encode() + b"\n")
        job.process.stdin.flush()
    except (BrokenPipeError, ValueError):  # already on its way out
        pass


def _ended(rc: int, log: Path) -> str:
    """How a child ended, for its error: killed by a signal is said by the signal's name (its
    last log line is then whatever it was doing, not the cause); else the exit code and the
    log's last line."""
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        return f"was killed by {name}"
    return f"exited with code {rc}: {_last_line(log)}"


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "no output"


def _child(kind: str, path: str, threads: int, *extra: str) -> None:
    """The child process: lower its priority so pages stay responsive, do the work, and follow
    the manager's lines on stdin: `threads N` (training applies it at the next log interval,
    in the training thread, where OpenMP's setting lives) and `stop`; end of file also stops."""
    import torch

    from .train import Stop

    os.nice(10)  # before torch starts its worker threads, which inherit it
    torch.set_num_threads(threads)
    stop, wanted = Stop(), [threads]

    def listen() -> None:
        buf = b""
        while chunk := os.read(0, 256):  # raw reads: no buffer lock held when the interpreter exits
            *lines, buf = (buf + chunk).split(b"\n")
            for line in lines:
                if line.startswith(b"threads "):
                    wanted[0] = int(line.split()[1])
                else:
                    stop.request("stopped from the dashboard")
        stop.request("the dashboard server went away")

    threading.Thread(target=listen, daemon=True).start()
    print(f"using {threads} CPU threads", flush=True)
    try:
        _work(kind, path, stop, wanted, *extra)
    except RunBusy as exc:
        print(f"not started: {exc}", flush=True)
        sys.exit(BUSY)


def _work(kind: str, path: str, stop: threading.Event, wanted: list[int], *extra: str) -> None:
    import torch

    if kind in ("sweep", "select"):
        _sweep_child(kind, Sweep(Path(path)), stop, *extra)
        return
    run = Run(Path(path))
    if kind == "eval":
        _evaluate(run, stop, _step(extra[0]), extra[1], float(extra[2]), extra[3])
        return

    def on_log(_: dict) -> None:
        if torch.get_num_threads() != wanted[0]:
            torch.set_num_threads(wanted[0])
            print(f"using {wanted[0]} CPU threads", flush=True)

    from .train import resume, train_run

    (train_run if kind == "train" else resume)(run, stop, on_log)


def _step(arg: str) -> int | str:
    return arg if arg == EVERY else int(arg)


def _evaluate(run: Run, stop: threading.Event, step: int | str, metrics: str, scale: float, estimator: str) -> None:
    """An evaluation has no checkpoint to save: a stop (or the server's end) ends it at once."""
    from .budget import current
    from .evaluate import evaluate_run, evaluate_steps

    def watch() -> None:
        stop.wait()
        run.set_eval_job(state="failed", error="stopped before it finished")
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
    progress = lambda what, done: run.set_eval_job(stage=what, done=done)
    try:
        if metrics == "judge":
            from .judge import judge_for

            judge_for(run.config(), progress=progress, budget=current())
        elif step == EVERY:
            evaluate_steps(run, metrics, scale, estimator=estimator, progress=progress, budget=current())
        else:
            evaluate_run(run, step, metrics, scale, estimator=estimator, progress=progress, budget=current())
    except RunBusy:
        raise  # eval_job.json is the other evaluation's now
    except Exception as exc:
        run.set_eval_job(state="failed", error=f"{type(exc).__name__}: {exc}"[:500])
        raise
    run.set_eval_job(state="completed", finished=time.time())


def _sweep_child(kind: str, sweep: Sweep, stop: threading.Event, address: str = "") -> None:
    """The Ray driver (or a ranking). A stop line, or the server's end, asks every trial to stop
    with a checkpoint; the driver then ends once they have."""
    from .budget import current
    from .ray_runner import run_sweep, shutdown
    from .selection import select

    def say(line: str) -> None:
        print(line, flush=True)

    if kind == "select":
        select(sweep, say, current())
        return

    def watch() -> None:
        stop.wait()
        sweep.request_stop()

    threading.Thread(target=watch, daemon=True).start()
    try:
        run_sweep(sweep, address or None, say=say, budget=current())
    finally:
        shutdown()


def demo_config(data_dir: str, colour: bool = False) -> Config:
    """A quick demo that shows something within minutes on a CPU: MNIST when its files are
    present, otherwise the built-in generated dSprites-style data (no download needed); with
    `colour`, the built-in `shapes3d` (its factors' live scores every 250 steps) for 4,000 steps
    of its preset: on most runs the three hues get codes of their own within it (the regulariser
    is on from step 1,000), in about 8 minutes on 2 CPU cores with bf16 kernels (docs/results.md)."""
    from .data import available

    if colour:
        return Config.from_dict({"dataset": "shapes3d", "max_steps": 4000, "log_every": 25, "disent_every": 250,
                                 "sample_every": 250, "ckpt_every": 500, "data_dir": data_dir})
    quick = {"epochs": 2, "log_every": 10, "sample_every": 50, "ckpt_every": 100, "data_dir": data_dir}
    if available("mnist", Path(data_dir)):
        return Config.from_dict({"dataset": "mnist", **quick})
    return Config.from_dict({"dataset": "dsprites", "subset": 20000, **quick})


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], int(sys.argv[3]), *sys.argv[4:])
