import json
import os
import pickle
import random

import pytest
import torch

from infogan import lease
from infogan.config import Config
from infogan.evaluate import hungarian_accuracy
from infogan.models import build
from infogan.runs import (
    Run,
    RunError,
    atomic_write,
    check_name,
    load_state,
    load_weights,
    save_state,
    save_weights,
)


def test_safetensors_round_trip_is_bit_exact(tmp_path):
    cfg = Config.from_dict({"cat_codes": [4], "n_cont": 1, "noise_dim": 3})
    g, d = build(cfg)
    save_weights(tmp_path / "w.safetensors", g, d, cfg, step=42)
    cfg2, step, gs, ds = load_weights(tmp_path / "w.safetensors")
    assert cfg2 == cfg and step == 42
    for k, v in g.state_dict().items():
        assert torch.equal(gs[k], v), k
    for k, v in d.state_dict().items():
        assert torch.equal(ds[k], v), k


def _flip(raw: bytes, pos: int) -> bytes:
    return raw[:pos] + bytes([raw[pos] ^ 0x10]) + raw[pos + 1:]


@pytest.mark.parametrize("damage", ["truncate", "zero", "garbage", "flip_header", "flip_data"])
def test_damaged_checkpoint_gives_clear_error(tmp_path, damage):
    cfg = Config.from_dict({"noise_dim": 3})
    g, d = build(cfg)
    p = tmp_path / "w.safetensors"
    save_weights(p, g, d, cfg, step=1)
    raw = p.read_bytes()
    p.write_bytes({"truncate": raw[: len(raw) // 2], "zero": b"", "garbage": random.Random(0).randbytes(500),
                   "flip_header": _flip(raw, 20), "flip_data": _flip(raw, len(raw) - 1000)}[damage])
    with pytest.raises(RunError, match=r"w\.safetensors (is unreadable|has bad metadata|is corrupt)"):
        load_weights(p)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_pickle_payload_is_refused_and_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = tmp_path / "state.pt"
    torch.save({"opt": _Evil()}, p)
    with pytest.raises(RunError, match="unreadable or unsafe"):
        load_state(p)
    assert not (tmp_path / "pwned").exists()
    p.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(RunError):
        load_state(p)
    assert not (tmp_path / "pwned").exists()


def test_resume_state_round_trip(tmp_path):
    opt = torch.optim.Adam([torch.nn.Parameter(torch.ones(3))])
    opt.step()
    save_state(tmp_path / "s.pt", {"step": 3, "opt": opt.state_dict(), "gen": torch.Generator().get_state()})
    back = load_state(tmp_path / "s.pt")
    assert back["step"] == 3 and back["opt"]["param_groups"][0]["betas"] == (0.9, 0.999)


def test_atomic_write_survives_a_crash_mid_write(tmp_path, monkeypatch):
    p = tmp_path / "status.json"
    atomic_write(p, b'{"ok": 1}')
    assert p.stat().st_mode & 0o777 == 0o644  # readable like a normally written file

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        atomic_write(p, b'{"ok": 2, "partial": ')
    assert json.loads(p.read_text()) == {"ok": 1}
    assert [f.name for f in tmp_path.iterdir()] == ["status.json"]  # no temp left behind


@pytest.mark.parametrize("bad", ["../x", "/abs", "a/b", "", "a\x00b", "x" * 101, "é", ".hidden", "a..b"])
def test_unsafe_run_names_are_refused(bad):
    with pytest.raises(RunError, match="invalid run name"):
        check_name(bad)


def test_torn_metrics_lines_are_skipped(tmp_path):
    run = Run.create(Config(), "m", tmp_path)
    run.append_metrics([{"step": 1, "loss_d": 1.0}, {"step": 2, "loss_d": 0.9}])
    with open(run.path / "metrics.jsonl", "a") as f:
        f.write('garbage\n{"step": 3, "loss_d": 0.')
    records, bad = run.metrics()
    assert [r["step"] for r in records] == [1, 2] and bad == 2


def test_hungarian_accuracy_on_known_confusion():
    # code 0 -> label 2, code 1 -> label 0, code 2 -> label 1, with 2 mistakes out of 10
    pred = [0, 0, 0, 1, 1, 1, 2, 2, 2, 0]
    labels = [2, 2, 2, 0, 0, 1, 1, 1, 1, 0]
    import numpy as np

    acc, conf, order = hungarian_accuracy(np.array(pred), np.array(labels), 3, 3)
    assert acc == pytest.approx(0.8)
    assert conf.tolist() == [[1, 0, 3], [2, 1, 0], [0, 3, 0]]
    assert order == [1, 2, 0]  # label 0 <- code 1, label 1 <- code 2, label 2 <- code 0


def test_a_reused_pid_does_not_make_a_dead_holder_look_alive(tmp_path):
    """A lease names its holder by pid and start time: after a reboot or a long uptime a new
    process can get the same number."""
    run = Run.create(Config(), "reuse", tmp_path)
    run.set_status("running")
    assert run.state() == "interrupted"  # status.json alone proves nothing: no live holder
    record = {"host": lease.host(), "pid": os.getpid(), "started": lease.process_started(os.getpid()),
              "heartbeat": 0.0, "what": "training"}
    (run.path / "lease").mkdir()
    (run.path / "lease" / "train.00000001.json").write_text(json.dumps(record))
    assert run.state() == "running" and run.is_busy()  # this process, this host: alive
    record["started"] -= 1000  # the same pid with another start time: the holder died
    (run.path / "lease" / "train.00000002.json").write_text(json.dumps(record))
    assert run.state() == "interrupted" and not run.is_busy()
    record["pid"] = 2**22 + 12345  # above pid_max: no such process
    (run.path / "lease" / "train.00000003.json").write_text(json.dumps(record))
    assert run.state() == "interrupted"


def test_rename_and_delete_and_their_refusal_while_a_cli_run_trains(tiny_mnist, tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT, wait_until

    run = Run.create(Config(), "a", tmp_path)
    assert run.is_busy()  # queued by this live process: its job is about to start
    run.set_status("stopped")
    b = run.rename("b")
    assert b.name == "b" and not run.path.exists() and (tmp_path / "b" / "config.json").is_file()
    with pytest.raises(RunError, match="invalid run name"):
        b.rename("../escape")
    Run.create(Config(), "c", tmp_path).set_status("stopped")
    with pytest.raises(RunError, match="run 'c' already exists"):
        b.rename("c")
    b.delete()
    assert not (tmp_path / "b").exists()

    proc = subprocess.Popen(
        [sys.executable, "-m", "infogan", "--runs-dir", str(tmp_path), "train", "--run-name", "live",
         "--data-dir", tiny_mnist.data_dir, "--subset", "320", "--batch-size", "32", "--epochs", "100",
         "--quiet", "--no-download"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        live = Run(tmp_path / "live")
        wait_until(lambda: live.path.exists() and live.status().get("pid") == proc.pid
                   and live.status().get("state") == "running", 90, "the CLI run to start training")
        for act in (lambda: live.rename("moved"), live.delete):
            busy = rf"run 'live' is busy with training \(pid {proc.pid} on this host\); stop it"
            with pytest.raises(RunError, match=busy):
                act()
        assert live.path.is_dir() and not (tmp_path / "moved").exists()
    finally:
        proc.kill()
        proc.wait()
    assert live.state() == "interrupted"
    live.delete()  # its process is gone: now it may go
    assert not live.path.exists()
