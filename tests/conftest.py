import contextlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from infogan.config import Config
from infogan.data import available

ROOT = Path(__file__).resolve().parents[1]
# every page of the app, as AppTest switches to them (app_pages.common.page_list routes the same files)
PAGES = [f"app_pages/{name}.py" for name in ("runs", "train", "monitor", "explore", "disentangle", "compare",
                                              "sweeps", "learn")]
SHM_NEEDED = 8 * 2**30  # bytes free on /dev/shm: the suite's run folders take ~3.5 GB at their peak


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """The tests' run folders on tmpfs (/dev/shm) where it has room, unless --basetemp names a
    place. Every tiny run writes checkpoints of ~160 MB (weights and Adam state); on a disk
    they wait for writeback once the suite has written a few GB (a 10-step run took 5.4-6.9 s in
    /tmp and 3.3 s in /dev/shm on the 2-core machine). The product's writes (fsync included)
    are the same either way. INFOGAN_TEST_TMP=disk keeps pytest's default."""
    if config.option.basetemp or os.environ.get("INFOGAN_TEST_TMP") == "disk":
        return
    try:
        if shutil.disk_usage("/dev/shm").free < SHM_NEEDED:
            return
        config.option.basetemp = config._infogan_shm = tempfile.mkdtemp(prefix="infogan-tests-", dir="/dev/shm")
    except OSError:  # no /dev/shm (macOS, some containers): pytest's default
        return


# Test files that start a Streamlit server, a browser or a Ray cluster (the README's commands
# include Ray sweeps and servers): with `pytest -n 2` (`make test`) they run one after another
# on one worker, beside the other files on the other, as they ran when the suite was serial.
SERVERS = {"test_browser.py", "test_soak.py", "test_sweeps.py", "test_sweeps_page.py", "test_cluster.py",
           "test_readme.py"}


@pytest.hookimpl(optionalhook=True)  # pytest without pytest-xdist (or `-p no:xdist`) runs serially
def pytest_xdist_make_scheduler(config, log):
    """With `pytest -n N`: one unit of work per test file (its module fixtures and its order are
    kept, as `--dist loadscope` would), and one for all of SERVERS. A scheduler rather than
    xdist_group marks: pytest-xdist 3.8 renames a marked test through an attribute that pytest
    9.2 no longer reads, so `--dist loadgroup` groups nothing there."""
    from xdist.scheduler import LoadScopeScheduling

    class ByFile(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file = nodeid.split("::", 1)[0]
            return "servers" if Path(file).name in SERVERS else file

    return ByFile(config, log)


def pytest_unconfigure(config):
    if getattr(config, "_infogan_shm", None):  # it holds memory, not disk: never left behind
        shutil.rmtree(config._infogan_shm, ignore_errors=True)


QUICK_JUDGE = {"epochs": 2, "n_train": 6000}  # about 93% test accuracy (the full judge: benchmarks/judge.py)


@pytest.fixture(scope="session", autouse=True)
def quick_judge(tmp_path_factory) -> Path:
    """Every evaluation in the suite (this process, the CLI, dashboard children, Ray trials: they
    inherit INFOGAN_JUDGES) reads one quick MNIST judge trained here once, in a folder of the
    session's own: no test trains the full one, none writes beside the shared data."""
    folder = tmp_path_factory.mktemp("judges")
    os.environ["INFOGAN_JUDGES"] = str(folder)
    root = Path(os.environ.get("INFOGAN_DATA") or ROOT.parent / "shared" / "data")
    if available("mnist", root):  # without MNIST the tests that need it skip (or fail in CI) on their own
        from infogan.judge import dataset_config, train_judge

        train_judge(dataset_config("mnist", root), **QUICK_JUDGE)
    return folder


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """Real MNIST; absent files skip locally but fail in CI (CI sets CI=true)."""
    root = Path(os.environ.get("INFOGAN_DATA") or ROOT.parent / "shared" / "data")
    if not available("mnist", root):
        msg = f"MNIST raw files not found under {root}/MNIST/raw (set INFOGAN_DATA)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return root


@pytest.fixture
def tiny_mnist(mnist_root) -> Config:
    return tiny_config(mnist_root)


def tiny_config(mnist_root: Path) -> Config:
    """A few dozen steps on a few hundred real MNIST images (20 steps; the auto intervals: samples,
    film frames and checkpoints at 10 and 20)."""
    return Config.from_dict({"dataset": "mnist", "data_dir": str(mnist_root), "subset": 320,
                             "batch_size": 32, "epochs": 2, "log_every": 5, "download": False})


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory, mnist_root) -> Path:
    """Two finished runs of `tiny_config`, trained once per test session and read by every test
    that only reads a finished run: "f" (seed 0) and "g" (seed 1), each with checkpoints and film
    panels at steps 10 and 20. A test that changes a run works on a copy (shutil.copytree)."""
    from infogan.train import train

    root = tmp_path_factory.mktemp("tiny-runs")
    cfg = tiny_config(mnist_root)
    train(cfg, "f", root)
    train(cfg.replace(seed=1), "g", root)
    return root


@pytest.fixture(scope="session")
def knob_run(tmp_path_factory, mnist_root) -> Path:
    """A runs folder with "k": 60 steps on 640 real MNIST images, one checkpoint (step 60). Long
    enough that Q reads G's categorical code back (100 of 100 draws, measured), so the tests of
    reading and inverting images have a Q that means something. Readers only."""
    from infogan.train import train

    root = tmp_path_factory.mktemp("knob-run")
    train(tiny_config(mnist_root).replace(subset=640, epochs=3, log_every=20, sample_every=60, ckpt_every=60,
                                          precision="fp32"), "k", root)
    return root


@dataclass
class SweepRun:
    root: Path  # the runs folder
    sweep_out: str  # the sweep command's stdout
    select_out: str  # `select sw`'s stdout
    listen_ips: set[str]  # the addresses Ray's processes listened on while the sweep ran


@pytest.fixture(scope="session")
def sweep_2x2(tmp_path_factory, mnist_root) -> SweepRun:
    """The README's sweep on its tiny budget (INFOGAN_SMOKE), through the CLI on the embedded
    Ray: 2 seeds x 2 values of lr_g ("sw", members sw-1-s0 ... sw-2-s1, 4 steps each, the last
    checkpoint evaluated), then `select sw`. Ray's listening sockets are read while it runs, in
    an environment without RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER (infogan.ray_runner must set it).
    tests/test_sweeps.py checks what they wrote, tests/test_sweeps_page.py shows it. Readers
    only: a test that writes links it into a folder of its own."""
    import subprocess
    import sys

    import psutil

    root = tmp_path_factory.mktemp("sweep-2x2")
    cli = [sys.executable, "-m", "infogan", "--runs-dir", str(root)]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"} | {"INFOGAN_SMOKE": "1"}
    out, err = root.parent / "sweep-2x2.out", root.parent / "sweep-2x2.err"
    with out.open("w") as o, err.open("w") as e:
        proc = subprocess.Popen(
            [*cli, "sweep", "--run-name", "sw", "--seeds", "0-1", "--grid", "lr_g=1e-3,5e-4", "--parallel", "2",
             "--threads", "1", "--evaluate", "last", "--no-rank", "--data-dir", str(mnist_root), "--no-download",
             "--epochs", "2"], cwd=ROOT, stdout=o, stderr=e, env=env)
        ips: set[str] = set()
        deadline = time.monotonic() + 600 * TIME_SCALE
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                children = psutil.Process(proc.pid).children(recursive=True)
            except psutil.Error:
                children = []
            for p in children:
                with contextlib.suppress(psutil.Error):
                    ips |= {c.laddr.ip for c in p.net_connections("inet") if c.status == "LISTEN"}
            time.sleep(0.5)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert proc.returncode == 0, err.read_text()[-3000:] + out.read_text()[-3000:]
    import io

    from infogan.cli import main

    said, smoke_before = io.StringIO(), os.environ.get("INFOGAN_SMOKE")
    os.environ["INFOGAN_SMOKE"] = "1"  # `select sw` in this process: what the command does, minus its imports
    try:
        with contextlib.redirect_stdout(said):
            code = main(["--runs-dir", str(root), "select", "sw"])
    finally:
        os.environ.pop("INFOGAN_SMOKE") if smoke_before is None else os.environ.update(INFOGAN_SMOKE=smoke_before)
    assert code == 0, said.getvalue()[-3000:]
    return SweepRun(root, out.read_text(), said.getvalue(), ips)


# wall-clock limits in tests are generous bounds on "it happened at all", never speed checks
# (benchmarks/ measure speed); a slow machine raises them all with one factor
TIME_SCALE = float(os.environ.get("INFOGAN_TEST_TIME_SCALE", "1"))


def wait_until(predicate, timeout: float, what: str, poll: float = 0.2) -> None:
    """Poll `predicate` until true; fail naming what was awaited when `timeout` (scaled) runs out."""
    limit = timeout * TIME_SCALE
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {limit:.0f} s waiting for {what}"
        time.sleep(poll)


def joined(thread, timeout: float, what: str) -> None:
    thread.join(timeout * TIME_SCALE)
    assert not thread.is_alive(), f"timed out after {timeout * TIME_SCALE:.0f} s waiting for {what}"


def cli_here(capsys, monkeypatch, cwd, *args) -> tuple[int, str, str]:
    """The CLI's main() in this process, in folder `cwd`: (exit code, stdout, stderr). What
    `python -m infogan` does, without a fresh process's seconds of imports; the first command
    of tests/test_train.py::test_cli_train_eval_traverse_runs runs `python -m infogan` itself."""
    from infogan.cli import main

    monkeypatch.chdir(cwd)
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def app(monkeypatch, root, run=None, **params):
    """The dashboard through streamlit's AppTest on runs folder `root`; `run` and `params` go in the URL."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("INFOGAN_RUNS", str(root))
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=90)
    for k, v in {"run": run, **params}.items():
        if v:
            at.query_params[k] = v
    return at.run()


def visit(at, page: str):
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def live_charts(at) -> dict:
    """The figures (as Plotly JSON) that a page sent to its live-charts component, by key."""
    import json

    out = {}
    for el in at.get("component_instance"):
        args = json.loads(el.proto.json_args)
        out |= {k: json.loads(f) for k, f in zip(args["keys"], args["figures"])}
    return out
