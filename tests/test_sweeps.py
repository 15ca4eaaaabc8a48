"""Sweeps on Ray: validation before anything is written, a 2x2 sweep on the embedded instance
through the CLI, a simulated two-node cluster that loses a node mid-sweep, and reading a
sweep back as a distribution. Ray tests run serially (Ray's own advice for clusters in tests)."""

import json
import os
import subprocess
import sys
import threading
import time

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before ray is imported: loopback only

import pytest

from infogan.budget import SMOKE
from infogan.config import ConfigError
from infogan.ray_runner import TrialError, run_sweep, run_trial
from infogan.runs import Run, list_runs
from infogan.sweeps import Sweep, expand, final_table, list_sweeps, parse_axis, parse_seeds, spread
from tests.conftest import ROOT, cli_here, joined, wait_until


def _base(root, **more) -> dict:
    return {"dataset": "mnist", "data_dir": str(root), "download": False, "subset": 256, "batch_size": 32,
            "epochs": 2, "log_every": 4, "sample_every": 8, "ckpt_every": 8, **more}


def test_seeds_and_axes_parse_and_refuse_bad_text():
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    assert parse_axis("lr-g=1e-3,5e-4") == ("lr_g", ["1e-3", "5e-4"])
    assert parse_axis("cat_codes=10;10,5") == ("cat_codes", ["10", "10,5"])
    for bad in ("", "a-b", "1,1"):
        with pytest.raises(ConfigError, match="seeds"):
            parse_seeds(bad)
    with pytest.raises(ConfigError, match="FIELD=V1"):
        parse_axis("lr_g")


def test_a_bad_value_on_one_grid_point_names_the_field_and_the_point_and_creates_nothing(
        tmp_path, mnist_root, capsys, monkeypatch):
    with pytest.raises(ConfigError) as err:
        Sweep.create("bad", _base(mnist_root), [0, 1], {"lr_g": ["1e-3", "2"], "batch_size": ["32", "x"]},
                     root=tmp_path)
    errors = err.value.errors
    assert errors["lr_g at grid point 3 (lr_g=2, batch_size=32)"] == "must be in (0, 1]"
    assert "batch_size at grid point 2 (lr_g=1e-3, batch_size=x)" in errors
    assert "grid point 1 " not in str(err.value)  # the good point is not blamed
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ConfigError, match="at most 3 axes"):
        expand("bad", {}, [0], {"lr_g": ["1"], "lr_d": ["1"], "beta1": ["0"], "beta2": ["0"]})
    code, _, err = cli_here(capsys, monkeypatch, ROOT, "--runs-dir", str(tmp_path), "sweep", "--seeds", "0-1",
                            "--grid", "lr_g=1e-3,2")
    assert code == 2 and err.strip() == "error: lr_g at grid point 2 (lr_g=2): must be in (0, 1]"
    assert list(tmp_path.iterdir()) == []


def test_a_trial_on_a_node_that_cannot_see_the_runs_folder_says_so(tmp_path):
    with pytest.raises(TrialError, match=r"cannot see the runs folder .*missing: every node must mount it"):
        run_trial(str(tmp_path / "missing"), "m", str(tmp_path / "sw"), 1, None, "none")


def test_embedded_ray_listens_on_loopback_only(sweep_2x2):
    """RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER is an internal switch: fail loudly if an upgrade drops it.
    The addresses are those of the session's sweep's processes, read while it ran."""
    ips = sweep_2x2.listen_ips
    assert ips and all(ip in ("127.0.0.1", "::ffff:127.0.0.1", "::1") for ip in ips), ips


def test_a_2x2_sweep_on_the_embedded_ray(sweep_2x2, capsys, monkeypatch):
    tmp_path, select_out = sweep_2x2.root, sweep_2x2.select_out  # the sweep and `select sw`, through the CLI
    assert "sw: completed" in sweep_2x2.sweep_out
    sweep = Sweep.open("sw", tmp_path)
    info = sweep.info()
    names = ["sw-1-s0", "sw-1-s1", "sw-2-s0", "sw-2-s1"]
    assert [m["name"] for m in info["members"]] == names
    assert info["state"] == "completed" and info["grid"] == {"lr_g": ["1e-3", "5e-4"]} and info["seeds"] == [0, 1]
    assert info["ray"] == "embedded" and info["finished"] >= info["started"]
    assert [r.name for r in list_runs(tmp_path)] == names  # the sweep's own folder is not a run
    assert [s.name for s in list_sweeps(tmp_path)] == ["sw"]
    for run in sweep.runs():
        st = run.status()
        assert st["state"] == "completed" and st["step"] == 4 and st["sweep"] == "sw" and st["attempts"] == 1
        assert run.config().lr_g == (1e-3 if "-1-" in run.name else 5e-4) and run.config().seed == int(run.name[-1])
        steps = [rec["step"] for rec in run.metrics()[0]]
        assert steps == [2, 4]  # INFOGAN_SMOKE: 4 steps of 8 per epoch, a line every 2
        cat = run.eval_result(4)["categorical"]  # --evaluate last: the final checkpoint
        assert cat["accuracy"] > 0.1 and cat["n_images"] == SMOKE.test_images  # the tiny budget's test images
    # the spread over seeds: per grid point and epoch, 2 seeds each, min <= median <= max
    band = spread(sweep, "loss_d")
    assert sorted(band["point"].unique()) == ["lr_g=1e-3", "lr_g=5e-4"]
    assert list(band["epoch"].unique()) == [0.4, 0.6] and (band["n"] == 2).all()  # tenths of 2 epochs
    assert ((band["min"] <= band["median"]) & (band["median"] <= band["max"])).all()
    acc = spread(sweep, "accuracy")  # at the checkpoint's epoch, though max_steps cut the run short
    assert len(acc) == 2 and (acc["epoch"] == 0.5).all() and (acc["n"] == 2).all()
    table = final_table(sweep)
    assert list(table["member"]) == names and table["accuracy"].notna().all()
    # the label-free ranking and the members table, through the CLI as the README shows them
    # (which is why the README check does not run its own copy of this sweep)
    res = Sweep.open("sw", tmp_path).info()["selection"]
    assert sorted(res["ranking"]) == names and res["pick"] == res["ranking"][0]
    assert f"label-free pick: {res['pick']} (rule: partition consensus" in select_out
    assert "by accuracy (labels, not used to pick)" in select_out
    assert "consensus_nmi: Spearman with accuracy" in select_out
    assert set(res["criteria"]) == {"centrality", "consensus_nmi", "consensus_ari", "fd"}
    assert res["by"] == "consensus_nmi"
    assert all(len(v) == 4 for v in res["criteria"].values())
    assert len(res["cross"]) == 4 and all(0 <= v <= 1 for row in res["cross"] for v in row)
    assert res["accuracy"]["best"] >= res["accuracy"]["pick"] and res["accuracy"]["n"] == 4
    code, out, _ = cli_here(capsys, monkeypatch, ROOT, "--runs-dir", str(tmp_path), "runs", "--sweep", "sw")
    assert code == 0 and "sweep sw: completed" in out and all(n in out for n in names)


def test_a_cluster_that_loses_a_node_finishes_every_trial_from_its_checkpoints(tmp_path, mnist_root):
    """Two simulated nodes of one CPU each, one trial on each; the second node is removed once its
    trial has a checkpoint. Ray re-runs that trial on the head node, where it resumes. The lost
    node leaves a heartbeat that reads live for up to lease.STALE seconds, as another machine's
    would (on one host its dead pid would give it away at once): the re-run waits it out."""
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                           "object_store_memory": 80 * 2**20})
    second = cluster.add_node(num_cpus=1, object_store_memory=80 * 2**20)
    try:
        sweep = Sweep.create("cl", _base(mnist_root, subset=512, epochs=2, log_every=8, ckpt_every=8,
                                         sample_every=32, precision="fp32"),
                             [0, 1], {}, parallel=0, threads=1, ray_address=cluster.address, evaluate="none",
                             root=tmp_path)
        lines: list[str] = []
        driver = threading.Thread(target=lambda: lines.append(run_sweep(sweep, say=lines.append, rank=False)))
        driver.start()
        node2 = second.node_id[:8]

        def on_node2_with_checkpoint():
            return [r for r in sweep.runs() if str(r.status().get("node", "")).endswith(node2)
                    and r.status().get("checkpoint", 0) >= 8 and r.status().get("state") == "running"]

        wait_until(lambda: on_node2_with_checkpoint(), 180, "a trial on the second node to save a checkpoint")
        victim = on_node2_with_checkpoint()[0]
        cluster.remove_node(second)
        gen = max(int(p.name.split(".")[1]) for p in (victim.path / "lease").glob("train.*.json")) + 1
        (victim.path / "lease" / f"train.{gen:08d}.json").write_text(json.dumps(
            {"host": "lost-node", "pid": 9, "started": None, "heartbeat": time.time(), "what": "training"}))
        joined(driver, 300, "the sweep to finish after losing a node")
        assert lines[-1] == "completed", lines
        nodes = {r.name: r.status()["nodes"] for r in sweep.runs()}
        assert {n[-8:] for ns in nodes.values() for n in ns} == {cluster.head_node.node_id[:8], node2}, nodes
        for run in sweep.runs():
            st = run.status()
            assert st["state"] == "completed" and st["step"] == 32
            steps = [rec["step"] for rec in run.metrics()[0]]
            assert steps == list(range(8, 33, 8)), (run.name, steps)  # no duplicate or missing step
        st = victim.status()
        assert st["attempts"] == 2 and st["nodes"][0].endswith(node2) and not st["nodes"][1].endswith(node2)
        assert st["resumed_from"] and st["resumed_from"][0] >= 8  # from its checkpoint, not from scratch
        assert "resuming from the checkpoint at step" in (victim.path / "job.log").read_text()
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_a_sweep_whose_driver_died_resumes_from_its_files(tmp_path, mnist_root):
    """The driver (here the CLI; the dashboard's child alike) is killed outright mid-sweep, both
    members training: the sweep reads interrupted, and --resume finishes every member (from its
    checkpoint, or from scratch if it had none yet)."""
    import signal

    cmd = [sys.executable, "-m", "infogan", "--runs-dir", str(tmp_path), "sweep", "--run-name", "k", "--seeds", "0-1",
           "--parallel", "2", "--threads", "1", "--evaluate", "none", "--no-rank", "--data-dir", str(mnist_root),
           "--no-download", "--subset", "384", "--batch-size", "32", "--epochs", "2", "--log-every", "4",
           "--ckpt-every", "8", "--precision", "fp32"]
    driver = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = tmp_path / "k-s0"
    wait_until(lambda: (first / "status.json").exists() and json.loads((first / "status.json").read_text())
               .get("checkpoint", 0) >= 8, 120, "the first member's first checkpoint")
    driver.send_signal(signal.SIGKILL)
    driver.wait(30)
    sweep = Sweep.open("k", tmp_path)
    wait_until(lambda: sweep.state() == "interrupted" and sweep.member_states()["k-s0"] == "interrupted", 60,
               "the sweep and its running member to read interrupted")
    r = subprocess.run([sys.executable, "-m", "infogan", "--runs-dir", str(tmp_path), "sweep", "--resume", "k",
                        "--no-rank"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "k: completed" in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]
    for run in sweep.runs():
        assert run.status()["state"] == "completed"
        assert [rec["step"] for rec in run.metrics()[0]] == list(range(4, 25, 4))
    assert Run(first).status()["resumed_from"][0] >= 8
