"""The README is executable documentation: every shell command in a fenced block of README.md and
docs/*.md runs as written, in order, on a tiny budget (INFOGAN_SMOKE=1, honoured by the CLI and
the benchmarks), in a scratch folder that links the repository's files. A command whose comment
starts with `(example)` stands for the user's own values and is skipped by that rule; `make run`
is started, its health endpoint answered, and stopped; `make test` is the suite this check is in.

`.venv/bin/python -m infogan ARGS` runs as `infogan.cli.main(ARGS)` and `.venv/bin/python
benchmarks/X.py ARGS` as runpy's `__main__` of that file, in this process, in the scratch folder
with the same environment and argv: that is what those commands do (infogan/__main__.py), and a
fresh process would spend ~4 s importing torch for each; the entry point itself is run by
test_the_package_runs_from_any_folder. Every other command runs in bash as written."""

import os
import re
import runpy
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, TIME_SCALE, wait_until

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINKED = [".venv", ".streamlit", "Makefile", "dashboard.py", "pages", "infogan", "benchmarks", "requirements.txt",
          "requirements-dev.txt", "pyproject.toml"]
# commands that a test of their own runs for real, with more than the tiny budget would check
NOT_RUN_HERE = {"make test": "the suite this check is part of", "make run": "test_make_run_answers_its_health_check",
                ".venv/bin/python benchmarks/soak.py": "tests/test_soak.py (run_soak: 2 jobs, 2 browsers, 6 s)",
                # on the suite's trained fixture run instead of a 4-step one it would train first
                ".venv/bin/python benchmarks/invert_speed.py":
                    "tests/test_invert.py::test_the_inversion_benchmark_reports_time_error_and_reading"}
# the README's sweep on its tiny budget (2 seeds x 2 values on the embedded Ray) and the two
# commands that read it: tests/test_sweeps.py::test_a_2x2_sweep_on_the_embedded_ray runs the
# same sweep, `select` and `runs --sweep` through the CLI and checks what they wrote
SWEEP = "tests/test_sweeps.py::test_a_2x2_sweep_on_the_embedded_ray"
NOT_RUN_HERE |= {".venv/bin/python -m infogan sweep --seeds 0-5 --grid lr_g=1e-3,5e-4 --parallel 2 --threads 1 "
                 "--run-name sw1": SWEEP, ".venv/bin/python -m infogan runs --sweep sw1": SWEEP,
                 ".venv/bin/python -m infogan select sw1": SWEEP}
# INFOGAN_SMOKE gives mnist_seeds one seed of one epoch whatever --seeds and --epochs say, so
# docs/results.md's line would repeat the README's to the byte
NOT_RUN_HERE[".venv/bin/python benchmarks/mnist_seeds.py --seeds 0 1 2 3 4 --epochs 5"] = \
    "README.md's mnist_seeds line (the same run on the tiny budget)"


def documented_commands() -> list[tuple[str, str, str]]:
    """(document, command, comment) for every line of every ```bash block, in reading order."""
    out = []
    for doc in DOCS:
        for block in re.findall(r"```(?:bash|sh)\n(.*?)```", doc.read_text(), re.S):
            for line in block.splitlines():
                cmd, comment = re.match(r"(.*?)(?:\s+#\s*(.*))?$", line.strip()).groups()
                if cmd and not cmd.startswith("#"):
                    out.append((doc.relative_to(ROOT).as_posix(), cmd.strip(), (comment or "").strip()))
    return out


COMMANDS = documented_commands()
TO_RUN = [(doc, cmd) for doc, cmd, comment in COMMANDS
          if not comment.startswith("(example)") and cmd not in NOT_RUN_HERE]


def test_the_readme_shows_commands_and_marks_its_examples():
    assert {"make run", "make test"} <= {cmd for _, cmd, _ in COMMANDS}
    assert len(TO_RUN) >= 10, TO_RUN
    for doc, cmd, comment in COMMANDS:  # a placeholder only ever appears in a marked example
        if re.search(r"\b(RUN_DIR|PATH|HOST)\b|/path/to/|my\.json", cmd):
            assert comment.startswith("(example)"), f"{doc}: {cmd!r} has a placeholder but is not marked (example)"


@pytest.fixture(scope="module")
def scratch(mnist_root):
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.fail("no .venv: run the suite through `make test`, which creates it")
    stale = [f for f in ("requirements.txt", "requirements-dev.txt", "pyproject.toml")
             if (ROOT / f).stat().st_mtime > (ROOT / ".venv" / ".installed").stat().st_mtime]
    if stale:  # else `make run` here reinstalls the package through the scratch folder's path
        pytest.fail(f"the venv is older than {', '.join(stale)}: run `make .venv/.installed` first")
    folder = Path(tempfile.mkdtemp(prefix="readme-"))
    for name in LINKED:
        (folder / name).symlink_to(ROOT / name)
    env = {**os.environ, "INFOGAN_SMOKE": "1", "INFOGAN_DATA": str(mnist_root), "PYTHONPATH": ""}
    env.pop("INFOGAN_RUNS", None)
    yield folder, env
    shutil.rmtree(folder, ignore_errors=True)


def python_here(args: list[str], monkeypatch) -> int:
    """`python ARGS` in this process: `-m infogan ...` through infogan.cli.main, `SCRIPT ...` as
    runpy's __main__ (sys.argv as Python sets it); the exit status either way."""
    if args[:2] == ["-m", "infogan"]:
        from infogan.cli import main

        return main(args[2:])
    monkeypatch.setattr(sys, "argv", args)
    try:
        runpy.run_path(args[0], run_name="__main__")
    except SystemExit as exc:  # sys.exit(message) prints it and exits 1, as the interpreter does
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return 0


@pytest.mark.parametrize("doc,cmd", TO_RUN, ids=[cmd[:100] for _, cmd in TO_RUN])
def test_documented_command_runs_as_written(scratch, doc, cmd, monkeypatch, capfd):
    folder, env = scratch
    words = [] if set(cmd) & set("|;&<>$`") else shlex.split(cmd)
    if words[:1] == [".venv/bin/python"] and (words[1:3] == ["-m", "infogan"] or words[1].startswith("benchmarks/")):
        monkeypatch.chdir(folder)
        for k in set(os.environ) - set(env):
            monkeypatch.delenv(k)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        code = python_here(words[1:], monkeypatch)
        out, err = capfd.readouterr()
    else:
        r = subprocess.run(["bash", "-c", cmd], cwd=folder, env=env, capture_output=True, text=True,
                           timeout=300 * TIME_SCALE)
        code, out, err = r.returncode, r.stdout, r.stderr
    tail = "\n".join((out + err).strip().splitlines()[-8:])
    assert code == 0, f"{doc}: `{cmd}` exited {code}:\n{tail}"


def test_make_run_answers_its_health_check(scratch):
    folder, env = scratch
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(["make", "run"], cwd=folder, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env={**env, "STREAMLIT_SERVER_PORT": str(port),
                                                           "STREAMLIT_SERVER_HEADLESS": "true"})

    def healthy() -> bool:
        assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
        try:
            return urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=2).read() == b"ok"
        except OSError:
            return False

    try:
        wait_until(healthy, 90, "`make run` to answer /_stcore/health", poll=0.5)
        # DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1 is
        # same-origin with itself, so only the Host header tells it from this machine's own pages
        assert handshake(port, f"evil.example:{port}", f"http://evil.example:{port}") != 101
        assert handshake(port, f"localhost:{port}", f"http://localhost:{port}") == 101
        assert handshake(port, f"127.0.0.1:{port}", f"http://127.0.0.1:{port}") == 101
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def handshake(port: int, host: str, origin: str) -> int:
    """The HTTP status of a WebSocket opening handshake on the app's stream, as a browser sends it."""
    request = (f"GET /_stcore/stream HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Protocol: streamlit\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request.encode())
        status = s.recv(4096).split(b"\r\n", 1)[0]
    return int(status.split()[1])


def test_the_package_runs_from_any_folder(tmp_path):
    """Installed editable by the Makefile: the console command and a benchmark script work
    outside the repository with the venv's Python."""
    venv = ROOT / ".venv" / "bin"
    env = {"PATH": f"{venv}:/usr/bin:/bin", "HOME": str(tmp_path)}
    r = subprocess.run([str(venv / "infogan"), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0 and "train" in r.stdout and "traverse" in r.stdout, r.stderr
    r = subprocess.run([str(venv / "python"), str(ROOT / "benchmarks" / "soak.py"), "--help"], cwd=tmp_path,
                       env=env, capture_output=True, text=True)  # it imports benchmarks.* and infogan.*
    assert r.returncode == 0 and "usage:" in r.stdout, r.stderr
