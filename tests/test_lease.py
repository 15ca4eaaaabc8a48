"""Leases: one owner per run on any machine sharing the runs folder (lease.py, runs.py)."""

import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from infogan import lease
from infogan.files import write_json
from infogan.runs import Run, RunBusy, RunError
from infogan.sweeps import Sweep
from tests.conftest import ROOT, tiny_config, wait_until

ROUNDS, CLAIMANTS = 30, 4


def _record(folder: Path, gen: int, kind: str = "train", **fields) -> None:
    """A lease record as a holder writes it (by default this process, heartbeat now), atomically
    as `Lease.renew` does: a reader that caught a half-written record would take it as damaged."""
    (folder / "lease").mkdir(parents=True, exist_ok=True)
    rec = {"host": lease.host(), "pid": os.getpid(), "started": lease.process_started(os.getpid()),
           "heartbeat": time.time(), "what": {"train": "training", "eval": "evaluation"}[kind], **fields}
    write_json(folder / "lease" / f"{kind}.{gen:08d}.json", rec)


def _claimant(base: str, barrier, results) -> None:
    for i in range(ROUNDS):
        held = lease.Lease(Path(base) / str(i), "train", "training")
        barrier.wait()  # every claimant starts this round together
        try:
            held.acquire()
            won = True
        except lease.Busy:
            won = False
        barrier.wait()  # a winner holds the lease until every claimant has tried
        results.put((i, won))
        if won:
            held.release()


def test_claimants_racing_for_a_free_or_a_stale_lease_have_exactly_one_winner(tmp_path):
    """4 processes started together claim the same folder, 30 rounds: a free folder, a dead
    holder on this host, a holder on another host whose heartbeat stopped. One winner each time."""
    for i in range(ROUNDS):
        (tmp_path / str(i)).mkdir()
        if i % 3 == 1:
            _record(tmp_path / str(i), 1, pid=2**22 + 7, started=1.0)  # no such process
        elif i % 3 == 2:
            _record(tmp_path / str(i), 4, host="gone-node", pid=1, heartbeat=time.time() - 10 * lease.STALE)
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(CLAIMANTS), ctx.Queue()
    procs = [ctx.Process(target=_claimant, args=(str(tmp_path), barrier, results)) for _ in range(CLAIMANTS)]
    for p in procs:
        p.start()
    got = [results.get(timeout=120) for _ in range(ROUNDS * CLAIMANTS)]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    wins = [sum(won for i, won in got if i == r) for r in range(ROUNDS)]
    assert wins == [1] * ROUNDS, wins
    # the winner took over at the next generation; the older records are gone
    assert sorted(p.name for p in (tmp_path / "2" / "lease").iterdir()) == ["train.00000005.json"]


def test_a_lease_is_live_while_its_holder_is_and_is_lost_to_a_newer_generation(tmp_path):
    held = lease.Lease(tmp_path, "train", "training").acquire()
    try:
        found = lease.holder(tmp_path, "train")
        assert found is not None and found.pid == os.getpid() and found.host == lease.host()
        with pytest.raises(lease.Busy, match=r"held by training \(pid \d+ on this host\)"):
            lease.Lease(tmp_path, "train", "training").acquire()
        assert held.renew() and not held.lost.is_set()
        _record(tmp_path, held.generation + 1, host="node-b", pid=4242)  # another machine took it over
        assert not held.renew() and held.lost.is_set()
    finally:
        held.release()
    assert lease.holder(tmp_path, "train").host == "node-b"  # our release did not touch theirs
    _record(tmp_path, 9, host="node-b", pid=4242, heartbeat=time.time() - 2 * lease.STALE)
    assert lease.holder(tmp_path, "train") is None  # another host's stopped heartbeat: stale
    (tmp_path / "lease" / "train.00000010.json").write_text("{garbage")
    assert lease.holder(tmp_path, "train") is None  # a damaged record blocks nothing


def test_busy_runs_refuse_resume_delete_rename_and_a_second_evaluation(tmp_path, mnist_root):
    run = Run.create(tiny_config(mnist_root), "r", tmp_path)
    run.set_status("stopped")
    _record(run.path, 1, host="node-b", pid=77)  # a trainer on another machine, heartbeat fresh
    assert run.state() == "running" and run.is_busy()
    for action, what in ((run.delete, "deleted"), (lambda: run.rename("r2"), "renamed"),
                         (run.check_resumable, "resumed")):
        with pytest.raises(RunBusy, match=rf"busy with training \(pid 77 on host node-b\).*can be {what}"):
            action()
    from infogan.evaluate import evaluate_run

    _record(run.path, 1, "eval", host="node-b", pid=78)
    assert run.eval_busy()
    with pytest.raises(RunBusy, match=r"run 'r' is busy: held by evaluation \(pid 78 on host node-b\)"):
        evaluate_run(run)
    assert run.path.is_dir() and not (tmp_path / "r2").exists()


def test_a_deleted_run_is_never_recreated_by_a_late_writer(tmp_path, mnist_root):
    run = Run.create(tiny_config(mnist_root), "gone", tmp_path)
    run.set_status("stopped")
    run.delete()
    for late in (lambda: run.set_status("failed", error="x"), lambda: run.save_eval({"step": 0}),
                 lambda: run.set_eval_job(state="running"), lambda: run.append_metrics([{"step": 1}]),
                 lambda: run.set_notes("n", "")):
        with pytest.raises(RunError, match="run 'gone' no longer exists"):
            late()
    assert not run.path.exists()


def test_an_unreadable_status_file_does_not_stop_the_next_write(tmp_path, mnist_root):
    run = Run.create(tiny_config(mnist_root), "s", tmp_path)
    (run.path / "status.json").write_bytes(b"\x00garbage")
    run.set_status("running", checkpoint=10)  # what save_checkpoint writes; was an AssertionError
    assert run.status()["state"] == "running" and run.status()["checkpoint"] == 10


def test_sweep_members_are_reserved_until_their_sweep_completes(tmp_path, mnist_root):
    base = tiny_config(mnist_root).to_dict()
    sweep = Sweep.create("sw", base, [0, 1], {}, root=tmp_path)
    member = Run(tmp_path / "sw-s0")
    assert member.state() == "queued" and member.status().get("pid") is None  # not the creator's
    for action, what in ((member.delete, "deleted"), (lambda: member.rename("x"), "renamed"),
                         (member.check_resumable, "resumed")):
        with pytest.raises(RunBusy, match=rf"member of sweep sw \(created\); it can be {what} through the sweep"):
            action()
    from infogan.summary import run_summary, state_label

    assert state_label(run_summary(member)) == "queued (sweep sw)"
    sweep.update(state="completed")
    member.set_status("completed")
    Run(tmp_path / "sw-s1").rename("kept")
    member.delete()
    assert [m.name for m in sweep.members()] == ["kept"]  # sweep.json follows; nothing points at a gone folder
    assert sweep.info()["selection"] is None


def test_a_trial_that_finds_its_member_held_elsewhere_leaves_it_alone(tmp_path, mnist_root, monkeypatch):
    """The holder on node-b renews its heartbeat (it is alive): the trial waits TAKEOVER for it
    to lapse (a dead attempt's would: tests/test_trust.py), then leaves the member alone."""
    from infogan import ray_runner

    monkeypatch.setattr(ray_runner, "TAKEOVER", 2.5)
    sweep = Sweep.create("sw", tiny_config(mnist_root).to_dict(), [0], {}, root=tmp_path)
    member = Run(tmp_path / "sw-s0")
    alive = threading.Event()

    def heartbeat():
        while not alive.wait(0.5):
            _record(member.path, 1, host="node-b", pid=9)

    _record(member.path, 1, host="node-b", pid=9)
    before = member.status()
    beat = threading.Thread(target=heartbeat)
    beat.start()
    try:
        with pytest.raises(RunBusy, match="held by training"):
            ray_runner.run_trial(str(tmp_path), "sw-s0", str(sweep.path), 1, None, "none")
    finally:
        alive.set()
        beat.join()
    assert member.status() == before


def _unshare_works() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "--uts", "true"],
                          capture_output=True).returncode == 0


@pytest.fixture
def other_host():
    """Commands in their own PID and UTS namespaces with another host name, over the same files:
    another machine sharing the runs folder, as far as pids and host names go."""
    if not _unshare_works():
        if os.environ.get("INFOGAN_REQUIRE_UNSHARE"):
            pytest.fail("`unshare --pid --fork --mount-proc --uts` does not work here (CI needs it, as root)")
        pytest.skip("`unshare --pid --fork --mount-proc --uts` is unavailable (needs root or user namespaces)")

    def start(*args: str) -> subprocess.Popen:
        script = 'hostname node-b && exec "$0" -m infogan "$@"'
        return subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", "--uts", "sh", "-c", script,
                                 sys.executable, *args], cwd=ROOT, start_new_session=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT)},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return start


def test_a_trainer_on_another_host_owns_its_run_until_its_heartbeat_stops(tmp_path, mnist_root, other_host):
    cfg = ["--dataset", "mnist", "--data-dir", str(mnist_root), "--subset", "320", "--batch-size", "32",
           "--epochs", "500", "--log-every", "5", "--ckpt-every", "10", "--sample-every", "1000",
           "--precision", "fp32"]
    proc = other_host("--runs-dir", str(tmp_path), "train", "--run-name", "far", "--quiet", *cfg)
    run = Run(tmp_path / "far")
    try:
        wait_until(lambda: run.path.is_dir() and run.checkpoint_steps() and run.state() == "running", 120,
                   "the other host's trainer to save a checkpoint")
        st = run.status()
        assert st["host"] == "node-b" and run.holder().host == "node-b"
        # its pid means nothing here (pid 1 of its namespace): the heartbeat is what keeps it live
        assert st["pid"] != proc.pid
        for action, what in ((run.delete, "deleted"), (lambda: run.rename("near"), "renamed"),
                             (run.check_resumable, "resumed")):
            with pytest.raises(RunBusy, match=rf"training \(pid \d+ on host node-b\); stop it before it can be {what}"):
                action()
        from infogan.jobs import JobManager

        with pytest.raises(RunBusy, match="on host node-b"):
            JobManager(str(tmp_path)).resume(run)  # the dashboard's Resume
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    killed = time.time()
    wait_until(lambda: run.state() == "interrupted", lease.STALE + 10, "the run to read interrupted")
    assert time.time() - killed <= lease.STALE + 2 * lease.PERIOD
    from infogan.train import resume

    resume(run, steps=5)  # a few more steps: its lease is taken over
    assert run.status()["state"] == "stopped" and run.status()["host"] == lease.host()
    assert run.holder() is None


def test_a_sweep_deletes_its_members_but_not_one_held_elsewhere(tmp_path, mnist_root):
    sweep = Sweep.create("sw", tiny_config(mnist_root).to_dict(), [0, 1, 2], {}, root=tmp_path)
    _record(tmp_path / "sw-s1", 1, host="node-b", pid=5)  # a trainer on another machine
    with pytest.raises(RunBusy, match=r"run 'sw-s1' is busy with training \(pid 5 on host node-b\)"):
        sweep.delete()
    assert [m.name for m in sweep.members()] == ["sw-s1", "sw-s2"]  # sw-s0 went, and sweep.json says so
    _record(tmp_path / "sw-s1", 2, host="node-b", pid=5, heartbeat=time.time() - 2 * lease.STALE)
    with sweep.lease():  # this process drives it: another process may not delete it meanwhile
        other = subprocess.run([sys.executable, "-c", "import sys; from infogan.sweeps import Sweep; "
                                "Sweep.open('sw', sys.argv[1]).delete()", str(tmp_path)], cwd=ROOT,
                               capture_output=True, text=True)
        assert other.returncode == 1 and "RunBusy: sweep 'sw' is busy: held by the sweep's driver" in other.stderr
    sweep.delete()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_two_threads_of_one_server_do_not_share_a_lease(tmp_path, mnist_root):
    """Two browser tabs are two script threads of one Streamlit server: a delete in one while the
    other renames must be refused, not let in as the same process's re-entry."""
    import threading

    run = Run.create(tiny_config(mnist_root), "tabs", tmp_path)
    run.set_status("stopped")
    seen = []

    def other_tab() -> None:
        try:
            run.delete()
        except RunBusy as exc:
            seen.append(str(exc))

    with run.lease("train", "a rename"):
        tab = threading.Thread(target=other_tab)
        tab.start()
        tab.join(30)
    assert seen == [f"run 'tabs' is busy with a rename (pid {os.getpid()} on this host); wait for it before it "
                    "can be deleted"] and run.path.is_dir()


def test_a_trainer_that_lost_its_lease_stops_without_writing(tmp_path, mnist_root):
    """Another machine took the run over (this process stalled past the stale time): the
    trainer's next step stops it with a reason, and nothing more is written to the run."""
    from infogan import runs
    from infogan.train import LeaseLost, train_run

    run = Run.create(tiny_config(mnist_root).replace(subset=160, log_every=2, ckpt_every=100), "lost", tmp_path)

    def on_log(rec):
        if rec["step"] == 4:
            _record(run.path, 99, host="node-b", pid=5)  # the newer generation: node-b holds it now
            held = next(v[0] for k, v in runs._HELD.items() if k[0] == str(run.path.resolve()))
            assert not held.renew()  # what the heartbeat thread finds within 2 s

    with pytest.raises(LeaseLost, match="taken over by another process at step 4"):
        train_run(run, on_log=on_log)
    assert run.status()["state"] == "running"  # not "failed" over node-b's run
    assert [r["step"] for r in run.metrics()[0]] == [2, 4] and run.checkpoint_steps() == []
    assert run.holder().host == "node-b"  # and our exit gave nothing back in its name
