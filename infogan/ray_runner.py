"""Running a sweep's trials on Ray: an embedded local instance by default, any cluster by address.

Ray core tasks, one per member, rather than Ray Tune: a trial is "train this run folder to its
end", and the run folder, not Ray's result directory, is the record. Ray places each task by its
CPU/GPU needs and re-runs it when its worker or node dies (`RETRIES`); the re-run resumes from
the member's newest checkpoint (our resume), so a lost node costs at most `ckpt_every` steps,
and the resumed run's metrics.jsonl has no duplicate or missing steps (resume truncates it to
the checkpoint). An error in training itself is not retried: it is the member's one-line
reason. Stopping is sweep.json's flag, polled by every trial (sweeps.py).

The embedded instance is sized to the sweep (parallel x threads CPUs), has no dashboard, a small
object store, quiet logs, and listens on loopback only (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0,
read when ray is imported; tests/test_sweeps.py checks the listeners). A cluster address is the
user's explicit choice (--ray-address, INFOGAN_RAY_ADDRESS, the dashboard's sidebar); its nodes
must see the runs folder and the data at the same paths, and each trial checks that first."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import lease
from .budget import FULL, Budget, named
from .runs import STATES, Run, RunBusy, RunError, child_pythonpath
from .sweeps import Sweep

RETRIES = 3  # re-runs of a trial whose worker process or node died
# seconds a trial waits for a member's lease to lapse: Ray can re-run a trial of a lost node
# before that node's last heartbeat is STALE (or, on one host, before its worker has exited)
TAKEOVER = lease.STALE + lease.PERIOD
OBJECT_STORE = 80 * 2**20  # bytes; trials pass file paths, never tensors, through Ray


class TrialError(RuntimeError):
    """A trial cannot run on its node; the message says which node and why."""


def cluster_address(explicit: str | None = None) -> str | None:
    """The cluster to use, if the user named one (flag or sidebar first, then the environment)."""
    return (explicit or os.environ.get("INFOGAN_RAY_ADDRESS") or "").strip() or None


def sweep_address(explicit: str | None, info: dict[str, Any]) -> str | None:
    """The cluster a sweep's driver connects to: the user's own choice (`explicit`: --ray-address,
    or the dashboard's already checked field; then INFOGAN_RAY_ADDRESS) as given, else the one
    stored in sweep.json, which is a file anyone sharing the folder may have written: used only
    as HOST:PORT (`check_address`), never a ray:// client address."""
    address = cluster_address(explicit)
    if address:
        return address
    stored = (info.get("ray_address") or "").strip()
    if not stored:
        return None
    try:
        return check_address(stored)
    except RunError:
        raise RunError(f"sweep.json names the Ray address {stored[:80]!r}, which is not HOST:PORT; an address read "
                       "from the runs folder is never a ray:// client: give it with --ray-address to use it") from None


_HOST_PORT = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63})*|\[[0-9A-Fa-f:.]+\]):(\d{1,5})")


def check_address(address: str) -> str:
    """An address from the dashboard: HOST:PORT of a Ray head, nothing else. A `ray://` address
    is Ray Client, which unpickles what the server it names sends back, so a browser form must
    not be able to point this machine at one; the CLI's --ray-address is the user's own choice."""
    text = address.strip()
    m = _HOST_PORT.fullmatch(text)
    if not m or not 0 < int(m.group(1)) < 65536:
        raise RunError(f"Ray address {text[:80]!r}: the dashboard takes HOST:PORT of a Ray head (ray start --head), "
                       "e.g. 10.0.0.5:6379; a ray:// client address only from the command line")
    return text


def token_auth() -> bool:
    """Send this machine's Ray token to a cluster: Ray 2.60 turns token authentication on for a
    head started where a token exists, but a driver connecting by address sends one only with
    RAY_AUTH_MODE=token. Set when a token is configured (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or
    ~/.ray/auth_token) and the user has not chosen a mode; True when a token will be sent."""
    if "RAY_AUTH_MODE" not in os.environ and (
            os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")
            or (Path.home() / ".ray" / "auth_token").is_file()):
        os.environ["RAY_AUTH_MODE"] = "token"
    return os.environ.get("RAY_AUTH_MODE", "").lower() == "token"


@contextlib.contextmanager
def _stderr_into(path: Path) -> Iterator[None]:
    """Ray's C++ client prints a warning a second (for ~20 s) while a cluster refuses it; they go
    to a file, and the caller reads the reason from it."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "wb") as f:
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def connect(address: str | None, cpus: int, gpus: float = 0.0) -> Any:
    """Start the embedded instance (address None) or connect to a cluster; returns the ray module."""
    if address is None:  # the embedded instance's workers inherit this environment
        if "ray" not in sys.modules:
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback only
        os.environ["PYTHONPATH"] = child_pythonpath()
    token = address is not None and token_auth()
    import ray

    if ray.is_initialized():
        return ray
    opts: dict[str, Any] = {"log_to_driver": False, "logging_level": "ERROR"}
    fd, name = tempfile.mkstemp(prefix="infogan-ray-connect-", suffix=".log")
    os.close(fd)  # _stderr_into opens it by name
    said = Path(name)
    try:
        if address is None:
            ray.init(address="local", num_cpus=cpus, num_gpus=gpus, include_dashboard=False,
                     object_store_memory=OBJECT_STORE, **opts)
        else:
            with _stderr_into(said):
                ray.init(address=address, **opts)
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "the embedded Ray instance"
        log = said.read_text(errors="replace")
        if "Unauthenticated" in log or "InvalidAuthToken" in log:
            fix = ("give this machine the head's token (`ray get-auth-token` on the head) in ~/.ray/auth_token "
                   "or RAY_AUTH_TOKEN; README, \"On a cluster\"")
            raise RunError(f"{where} refused this driver's authentication token: {fix}" if token else
                           f"{where} asks for an authentication token and this machine has none: {fix}") from None
        raise RunError(f"could not start or reach {where}: {str(exc).strip().splitlines()[0][:200]}") from None
    finally:
        said.unlink(missing_ok=True)
    return ray


def node_label() -> str:
    import ray

    return f"{socket.gethostname()}/{ray.get_runtime_context().get_node_id()[:8]}"


def run_trial(root: str, name: str, sweep_dir: str, threads: int, data_dir: str | None, evaluate: str,
              budget: str = "full") -> str:
    """One member, in a Ray worker: check the runs folder is visible here, train the run folder
    to its end (resuming from its newest checkpoint when it has one), evaluate it on the driver's
    `budget` (by name); returns its state."""
    import torch

    path = Path(root) / name
    if not (path / "config.json").is_file():
        raise TrialError(f"node {socket.gethostname()} cannot see the runs folder {root}: every node must "
                         "mount it at the same path (a shared filesystem)")
    if data_dir and "INFOGAN_DATA" not in os.environ:
        os.environ["INFOGAN_DATA"] = data_dir
    torch.set_num_threads(threads)
    run = Run(path)
    with open(path / "job.log", "a", buffering=1) as log, contextlib.redirect_stdout(log), \
            contextlib.redirect_stderr(log):
        with contextlib.ExitStack() as held:
            _hold_when_free(held, run, TAKEOVER)  # RunBusy if another process trains it: the driver leaves it be
            if run.state() != "completed":  # else only its evaluation was cut short
                _train(run, Sweep(Path(sweep_dir)), threads)
        if run.state() == "completed":
            evaluate_checkpoints(run, evaluate, named(budget))
    return run.state()


def _hold_when_free(stack: contextlib.ExitStack, run: Run, wait: float) -> None:
    """Take the member's train lease into `stack`, waiting up to `wait` seconds while it is
    held: the holder may be this trial's previous attempt on a node that just died, whose
    heartbeat still reads live for up to lease.STALE seconds. A holder still live after that is
    another process's run (RunBusy)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            stack.enter_context(run.lease("train"))
            return
        except RunBusy:
            if time.monotonic() >= deadline:
                raise
            holder = run.holder()
            print(f"run {run.name} is held by {holder.describe() if holder else 'another process'}; "
                  "waiting for it to lapse", flush=True)
            time.sleep(1.0)


def _train(run: Run, sweep: Sweep, threads: int) -> None:
    """Train or resume one member, following the sweep's stop flag; every attempt is recorded
    in its status.json (the node it ran on, the step it resumed from)."""
    from .train import resume, train_run

    status, stop = run.status(), threading.Event()

    def watch() -> None:  # the sweep's stop flag, read from the shared folder
        while not stop.wait(1.0):
            if sweep.stop_requested():
                stop.set()

    threading.Thread(target=watch, daemon=True).start()
    attempts, node = int(status.get("attempts") or 0) + 1, node_label()
    state = status.get("state") if status.get("state") in STATES else "queued"
    run.set_status(state, node=node, nodes=[*status.get("nodes", []), node], attempts=attempts)
    print(f"trial attempt {attempts} on {node} with {threads} thread(s)", flush=True)
    try:
        if run.resume_steps():
            step = run.resume_steps()[0]
            print(f"resuming from the checkpoint at step {step}", flush=True)
            run.set_status(state, resumed_from=[*status.get("resumed_from", []), step])
            resume(run, stop, by_sweep=True)
        else:
            run.truncate_metrics(0)  # an attempt that died before its first checkpoint starts over
            train_run(run, stop)
    finally:
        stop.set()


def evaluate_checkpoints(run: Run, which: str = "all", budget: Budget = FULL) -> None:
    """Accuracy and code effects of the kept checkpoints ("all" or the "last"), where the dataset
    has labels: the sweep's spread of accuracy over training reads them."""
    from .data import load
    from .evaluate import evaluate_run

    todo = evaluation_todo(run, which)
    data = load(run.config(), train=False, test_images=budget.test_images) if todo else None
    for step in todo:
        print(f"evaluating the checkpoint at step {step}", flush=True)
        evaluate_run(run, step, test_data=data, budget=budget)


def evaluation_todo(run: Run, which: str) -> list[int]:
    """The checkpoints `which` asks to evaluate that have no evaluation yet."""
    from .data import has_test_split

    if which == "none" or not has_test_split(run.config()):
        return []
    steps = run.checkpoint_steps()[-1:] if which == "last" else run.checkpoint_steps()
    return [s for s in steps if run.eval_result(s) is None]


def run_sweep(sweep: Sweep, address: str | None = None, say: Callable[[str], None] = print,
              rank: bool = True, budget: Budget = FULL) -> str:
    """The driver: keep up to `parallel` trials in flight until every member has ended or the
    sweep is stopped; record each member's failure by name; returns the sweep's final state.
    Members whose data_dir is unset read this process's $INFOGAN_DATA, as an absolute path
    (on a cluster, the path every node must see)."""
    with sweep.lease():  # RunBusy if another driver (any machine) runs it
        return _drive(sweep, address, say, rank, budget)


def _drive(sweep: Sweep, address: str | None, say: Callable[[str], None], rank: bool, budget: Budget) -> str:
    info = sweep.info()
    threads, gpus, parallel = info["threads"], float(info.get("gpus") or 0), info["parallel"]
    t0 = time.perf_counter()
    try:
        address = sweep_address(address, info)
    except RunError as exc:
        sweep.update(state="failed", error=str(exc))
        raise
    sweep.update(state="running", pid=os.getpid(), started=time.time(), stop_requested=False, error=None,
                 finished=None, ray=address or "embedded")
    try:
        slots = parallel or max(1, (os.cpu_count() or 1) // threads)  # the embedded instance's size
        ray = connect(address, cpus=slots * threads, gpus=gpus * slots)
    except RunError as exc:
        sweep.update(state="failed", error=str(exc))
        raise
    say(f"{sweep.name}: Ray {'at ' + address if address else 'embedded'} ready in {time.perf_counter() - t0:.1f} s")
    task = ray.remote(run_trial).options(num_cpus=threads, num_gpus=gpus, max_retries=RETRIES,
                                         retry_exceptions=False)
    pending = [r for r in sweep.runs()
               if r.state() != "completed" or evaluation_todo(r, info.get("evaluate", "all"))]
    limit = parallel or len(pending)
    in_flight: dict[Any, Run] = {}
    failed: list[str] = []
    data = str(Path(os.environ["INFOGAN_DATA"]).resolve()) if os.environ.get("INFOGAN_DATA") else None
    while pending or in_flight:
        stopping = sweep.stop_requested()
        while pending and len(in_flight) < limit and not stopping:
            run = pending.pop(0)
            in_flight[task.remote(str(sweep.root.resolve()), run.name, str(sweep.path.resolve()), threads, data,
                                  info.get("evaluate", "all"), budget.name)] = run
        if stopping and pending:
            for run in pending:
                if run.state() in ("queued", "interrupted"):
                    run.set_status("stopped")
            pending = []
        if not in_flight:
            break
        try:
            done, _ = ray.wait(list(in_flight), num_returns=1, timeout=1.0)
        except KeyboardInterrupt:  # Ctrl-C: every trial stops with a checkpoint; a second one abandons them
            if sweep.stop_requested():
                raise
            sweep.request_stop()
            say(f"{sweep.name}: stopping; each trial saves a checkpoint first (Ctrl-C again to abandon them)")
            continue
        for ref in done:
            run = in_flight.pop(ref)
            try:
                say(f"{run.name}: {ray.get(ref)}")
            except Exception as exc:  # RayTaskError (the trial's own), or a node lost RETRIES times
                why = _reason(exc)
                failed.append(run.name)
                if isinstance(getattr(exc, "cause", None), RunBusy):  # another process's live run: not ours to mark
                    say(f"{run.name}: not run: {why}")
                    continue
                if run.state() != "failed" or not run.status().get("error"):
                    run.set_status("failed", error=why[:500])
                say(f"{run.name}: failed: {why}")
    states = sweep.member_states()
    state = ("stopped" if sweep.stop_requested() or any(s == "stopped" for s in states.values()) else
             "failed" if failed else "completed")
    sweep.update(state=state, finished=time.time(), error=f"{len(failed)} member(s) failed" if failed else None)
    if rank and state == "completed" and len(states) > 1:
        from .selection import select  # ModelCentrality and the other criteria: torch-heavy, and only here

        select(sweep, say, budget)
    say(f"{sweep.name}: {state} in {time.perf_counter() - t0:.0f} s "
        f"({sum(s == 'completed' for s in states.values())} of {len(states)} members completed)")
    return state


def _reason(exc: BaseException) -> str:
    """One line: the trial's own exception when Ray wraps one, else Ray's message."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        exc = cause
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


def shutdown() -> None:
    if "ray" in sys.modules:
        import ray

        ray.shutdown()


