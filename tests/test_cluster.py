"""A sweep on a real Ray cluster started by `ray start --head`, token authentication on, as the
README's "On a cluster" section writes it; the dashboard's Ray address field (HOST:PORT only)."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from infogan.ray_runner import check_address
from infogan.runs import RunError
from infogan.sweeps import Sweep
from tests.conftest import ROOT

VENV = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(temp: str) -> None:
    """Every process of the head we started (their command lines name its temp folder), by pid."""
    procs = [p for p in psutil.process_iter(["cmdline"]) if temp in " ".join(p.info["cmdline"] or [])]
    for p in procs:
        p.kill()  # a test cluster: nothing in it to save
    psutil.wait_procs(procs, timeout=10)
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def head(tmp_path):
    """A one-node cluster on loopback whose head holds a token (~/.ray/auth_token in its HOME)."""
    home, temp = tmp_path / "home", tempfile.mkdtemp(prefix="rt-", dir="/tmp")  # short: socket paths
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "RAY_TMPDIR": temp, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
           "PYTHONPATH": str(ROOT)}  # the trials' workers import the package, as every node must
    env.pop("RAY_AUTH_MODE", None)
    subprocess.run([str(VENV / "ray"), "get-auth-token", "--generate"], env=env, check=True, capture_output=True)
    assert (home / ".ray" / "auth_token").is_file()
    port = _free_port()
    try:
        subprocess.run([str(VENV / "ray"), "start", "--head", "--port", str(port), "--num-cpus", "1",
                        "--node-ip-address", "127.0.0.1", "--include-dashboard=false",
                        "--object-store-memory", str(80 * 2**20), "--disable-usage-stats"],
                       env=env, check=True, capture_output=True, timeout=120)
        yield {"address": f"127.0.0.1:{port}", "home": home, "env": env}
    finally:
        _stop(temp)


def test_a_cluster_sweep_sends_the_token_and_a_driver_without_one_is_told_why(head, tmp_path, mnist_root):
    env = {**head["env"], "INFOGAN_SMOKE": "1", "INFOGAN_DATA": str(mnist_root)}
    sweep = [sys.executable, "-m", "infogan", "--runs-dir", str(tmp_path / "runs"), "sweep", "--run-name", "far",
             "--seeds", "0", "--epochs", "1", "--evaluate", "none", "--ray-address", head["address"]]
    (tmp_path / "empty").mkdir()
    # a driver on a machine without the token, started at the same time (Ray retries for ~20 s)
    refused = subprocess.Popen([*sweep[:4], str(tmp_path / "refused"), *sweep[5:]], cwd=ROOT,
                               env={**env, "HOME": str(tmp_path / "empty")}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    done = subprocess.run(sweep, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    far = Sweep.open("far", tmp_path / "runs")
    assert far.state() == "completed" and far.info()["ray"] == head["address"]
    out, err = refused.communicate(timeout=120)
    assert refused.returncode == 2, out + err
    assert ("asks for an authentication token and this machine has none: give this machine the head's token"
            in err), err
    assert err.count("error: ") == 1 and "gcs_client" not in err and "Unauthenticated" not in err, err  # no spam
    assert time.time() - t0 < 200


@pytest.mark.parametrize("bad", ["ray://10.0.0.5:10001", "10.0.0.5", "10.0.0.5:0", "host:99999", "a b:1",
                                 "http://x:80", "auto", "[::1]"])
def test_the_dashboard_takes_host_port_only(bad):
    with pytest.raises(RunError, match="the dashboard takes HOST:PORT of a Ray head"):
        check_address(bad)
    assert check_address(" 10.0.0.5:6379 ") == "10.0.0.5:6379"
    assert check_address("head-1.cluster.local:6379") == "head-1.cluster.local:6379"
    assert check_address("[fd00::1]:6379") == "[fd00::1]:6379"


def test_a_dashboard_sweep_is_refused_a_client_address(tmp_path, mnist_root, monkeypatch):
    from infogan.jobs import JobManager
    from tests.conftest import tiny_config

    sweep = Sweep.create("sw", tiny_config(mnist_root).to_dict(), [0], {}, root=tmp_path,
                         ray_address="ray://10.0.0.5:10001")  # e.g. made by the CLI
    with pytest.raises(RunError, match="a ray:// client address only from the command line"):
        JobManager(str(tmp_path)).sweep(sweep)
    monkeypatch.setenv("INFOGAN_RAY_ADDRESS", "ray://10.0.0.5:10001")
    with pytest.raises(RunError, match="HOST:PORT"):
        JobManager(str(tmp_path)).sweep(Sweep.create("sw2", tiny_config(mnist_root).to_dict(), [0], {},
                                                     root=tmp_path))
