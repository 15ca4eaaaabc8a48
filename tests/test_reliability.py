"""Faults and hostile input: kills, corrupt files, disk full, and generated config input."""

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infogan import runs as runs_mod
from infogan.checkpoint import load_model
from infogan.cli import main as cli_main
from infogan.config import Config, ConfigError
from infogan.runs import Run
from infogan.train import Trainer
from tests.conftest import wait_until

ROOT = Path(__file__).resolve().parents[1]
FIELDS = list(Config.__dataclass_fields__)
values = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True),
                   st.text(max_size=12), st.lists(st.integers(-5, 2000), max_size=4),
                   st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.dictionaries(st.sampled_from(FIELDS + ["bogus", ""]), values, max_size=8))
def test_any_config_input_gives_a_config_or_a_named_field(d):
    try:
        cfg = Config.from_dict(d)
    except ConfigError as exc:
        assert exc.errors and all(k in FIELDS + ["bogus", ""] for k in exc.errors)
        assert "\n" not in str(exc)
        return
    assert cfg.problems() == {}
    assert Config.from_dict(json.loads(cfg.to_json())) == cfg


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.lists(st.text(max_size=10), max_size=6))
def test_any_cli_arguments_end_cleanly(tmp_path_factory, argv):
    d = tmp_path_factory.mktemp("cli")
    cwd = os.getcwd()
    os.chdir(d)
    try:
        cli_main(["runs", *argv]) if argv[:1] == ["runs"] else cli_main(["eval", *argv])
    except SystemExit as exc:  # argparse usage errors exit 2 with a message
        assert exc.code in (0, 2)
    finally:
        os.chdir(cwd)


def test_disk_full_during_save_fails_the_run_and_keeps_the_previous_checkpoint(tiny_mnist, tmp_path, monkeypatch):
    cfg = tiny_mnist.replace(ckpt_every=5, sample_every=100)
    run = Run.create(cfg, "full", tmp_path)
    t = Trainer(cfg, run)
    t.total_steps = 5
    t.fit()
    real = runs_mod.save_file

    def no_space(tensors, path, metadata=None):
        Path(path).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runs_mod, "save_file", no_space)
    t.total_steps = 10
    with pytest.raises(OSError):
        t.fit()
    monkeypatch.setattr(runs_mod, "save_file", real)
    st_ = run.status()
    assert st_["state"] == "failed" and "No space left on device" in st_["error"]
    assert run.checkpoint_steps() == [5] and load_model(run).step == 5
    assert not [p for p in (run.path / "ckpt").iterdir() if p.name.startswith(".")]  # no temp left


def test_hostile_run_files_give_one_line_cli_errors(tmp_path, tiny_mnist, capsys):
    from infogan.train import train

    run = train(tiny_mnist.replace(epochs=1, ckpt_every=10), "victim", tmp_path)
    run.set_status("stopped")
    capsys.readouterr()  # the training's own line ("precision fp32: ..."), not the CLI's
    ckpt, state = run.weights_path(10), run.state_path(10)
    traverse = ["traverse", "victim", "--code", "c1", "--out", str(tmp_path / "x.png")]
    resume = ["train", "--resume", "victim"]
    cases = {
        "zero-byte weights": (lambda: ckpt.write_bytes(b""), traverse, "unreadable or corrupt"),
        "truncated weights": (lambda: ckpt.write_bytes(ckpt.read_bytes()[:1000]), traverse, "unreadable or corrupt"),
        "bit-flipped weights": (lambda: ckpt.write_bytes(_flip(ckpt.read_bytes())), traverse, "corrupt"),
        "pickle in resume state": (lambda: state.write_bytes(_evil_pickle()), resume, "no usable checkpoint"),
        "config wrong types": (lambda: (run.path / "config.json").write_text('{"noise_dim": "many"}'), resume,
                               "noise_dim: expected a whole number"),
        "config missing": (lambda: (run.path / "config.json").unlink(), resume, "no run named 'victim'"),
        "config not json": (lambda: (run.path / "config.json").write_text("{oops"), resume, "not valid JSON"),
    }
    original = {p: p.read_bytes() for p in (ckpt, state, run.path / "config.json")}
    for name, (damage, argv, reason) in cases.items():
        damage()
        code = cli_main(["--runs-dir", str(tmp_path), *argv])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and err.startswith("error: ") and reason in err, (name, err)
        for p, b in original.items():
            p.write_bytes(b)
    assert not (tmp_path / "pwned").exists()


def _flip(raw: bytes) -> bytes:
    pos = len(raw) - 5000
    return raw[:pos] + bytes([raw[pos] ^ 1]) + raw[pos + 1:]


def _evil_pickle() -> bytes:
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch pwned",))

    return pickle.dumps({"opt_d": Evil()})


def _child(args, env):
    return subprocess.Popen([sys.executable, "-m", "infogan", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


KILLS = 4  # each restart is a fresh process, whose imports dominate its cost: the count sets the test's length


def test_sigkill_at_random_moments_never_loses_the_run(tmp_path, mnist_root):
    """4 SIGKILLs of a CLI training process, several inside checkpoint writes (ckpt every step);
    after each, the newest checkpoint loads, metrics.jsonl parses, and training resumes."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(0)
    base = ["--runs-dir", str(tmp_path), "train"]
    args = base + ["--run-name", "k", "--data-dir", str(mnist_root), "--subset", "512", "--batch-size", "32",
                   "--epochs", "50", "--log-every", "1", "--ckpt-every", "1", "--sample-every", "3",
                   "--keep-checkpoints", "2", "--precision", "fp32", "--quiet", "--no-download"]
    run = Run(tmp_path / "k")
    kills, mid_write, last_step = 0, 0, 0
    for i in range(KILLS):
        proc = _child(args if i == 0 else base + ["--resume", "k", "--quiet"], env)
        # wait for this process's first new checkpoint (status names it once written and pruned),
        # so every kill has something to lose

        def checkpointed(proc=proc, last_step=last_step) -> bool:
            assert proc.poll() is None, proc.stderr.read().decode()
            return run.path.exists() and run.status().get("pid") == proc.pid \
                and run.status().get("checkpoint", 0) > last_step

        wait_until(checkpointed, 60, f"restart {i}'s first new checkpoint", poll=0.05)
        stale = [p.name for p in (run.path / "ckpt").glob(".*.tmp") if f".{proc.pid}." not in p.name]
        assert not stale, stale  # temp files of killed writers are removed at the next checkpoint
        time.sleep(rng.uniform(0, 0.6))
        mid_write += any(p.name.endswith(".tmp") for p in (run.path / "ckpt").iterdir())
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        model = load_model(run)  # the newest checkpoint always loads
        records, bad = run.metrics()
        assert bad <= 1  # at most a torn last line, skipped
        last_step = model.step
        assert [r["step"] for r in records if r["step"] <= last_step] == list(range(1, last_step + 1))
    assert kills == KILLS and last_step >= KILLS  # every restart added at least one checkpoint
    print(f"kills={kills} during-write={mid_write} final-step={last_step}")
