"""precision = "auto": the choice logic on fake timings, the real probe on a small run, and the
choice recorded in status.json and kept by a resumed run."""

import math
import threading
import time

import pytest
import torch

from infogan import precision
from infogan.config import Config
from infogan.data import ImageData
from infogan.precision import Trial, choose, disagreement
from infogan.train import resume, train

STATS = {"loss_d": 1.40, "loss_g": 0.80, "loss_info": 4.70}


def test_fastest_agreeing_candidate_wins():
    trials = [Trial("fp32", 500.0), Trial("bf16", 900.0)]
    name, why = choose(trials)
    assert name == "bf16" and why.startswith("bf16: 1.80x fp32") and "fp32 500, bf16 900" in why


def test_a_candidate_within_the_margin_of_fp32_does_not_win():
    assert choose([Trial("fp32", 500.0), Trial("bf16", 510.0)])[0] == "fp32"
    assert choose([Trial("fp32", 500.0), Trial("bf16", 300.0)]) == (
        "fp32", "fp32: nothing beat fp32 by 5% (images/s: fp32 500, bf16 300)")


def test_a_candidate_whose_losses_differ_is_refused_with_its_reason():
    assert disagreement(STATS, dict(STATS)) == ""
    assert disagreement(STATS, {**STATS, "loss_g": 0.80 + 0.02 + 0.02 * 0.80 - 1e-6}) == ""  # at the edge
    why = disagreement(STATS, {**STATS, "loss_g": 0.95})
    assert why == "loss_g = 0.95 vs fp32 0.8 (tolerance 0.02 + 2%)"
    assert disagreement(STATS, {**STATS, "loss_d": math.nan}).startswith("loss_d is nan")
    fast_but_wrong = Trial("bf16", 2000.0, refused=why)
    name, reason = choose([Trial("fp32", 500.0), fast_but_wrong])
    assert name == "fp32" and "bf16 refused: loss_g = 0.95" in reason


def test_a_candidate_far_slower_than_fp32_is_stopped_early():
    """A candidate 20x slower than fp32 (bf16 on a CPU without bf16 kernels: 14x-28x) is stopped once
    it has taken SLOWER x fp32's round, and sits out the second round; its first step is still
    checked against fp32's."""
    calls = {"fp32": 0, "bf16": 0}

    def step(nets, x, cfg, gen, name):
        calls[name] += 1
        time.sleep(0.002 if name == "fp32" else 0.04)
        return {k: torch.tensor(v) for k, v in STATS.items()}

    trials = precision.measure(step, {}, [torch.zeros(4, 1, 2, 2)], None, torch.Generator(), ["fp32", "bf16"])
    per_round = precision.WARMUP + precision.TIMED
    assert calls["fp32"] == precision.ROUNDS * per_round
    assert 1 <= calls["bf16"] < per_round  # a round of fp32 (~16 ms) allows 32 ms: the first step, not all 8
    fp32, bf16 = trials
    assert bf16.refused == "" and bf16.images_per_s < fp32.images_per_s / 5
    assert choose(trials)[0] == "fp32"


def small_images(n=256):
    return ImageData((torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8))


def small_config(**kw):
    return Config.from_dict({"batch_size": 32, "seed": 1, "max_steps": 6, "log_every": 2, "ckpt_every": 3,
                             "sample_every": 6, **kw})


def test_a_short_run_keeps_fp32_without_probing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(precision, "candidates", lambda device: ["fp32", "bf16"])  # whatever this CPU has
    run = train(small_config(), "short", tmp_path, data=small_images())
    probe = run.status()["precision_probe"]
    assert run.status()["precision"] == "fp32" and probe["images_per_s"] == {}
    assert probe["reason"] == "fp32: 6 steps are too few to pay for a probe"
    assert "precision fp32: 6 steps are too few" in capsys.readouterr().err  # the CLI's first line


def test_the_real_probe_leaves_the_run_as_if_started_with_its_choice(tmp_path, monkeypatch):
    """Both candidates really run (on copies); the run then trains exactly like one started with
    the chosen precision: the same metrics at every logged step, to rounding."""
    monkeypatch.setattr(precision, "MAX_SHARE", 100.0)  # let a 6-step run pay for a probe
    monkeypatch.setattr(precision, "candidates", lambda device: ["fp32", "bf16"])  # even without bf16 kernels
    auto = train(small_config(batch_size=8), "auto", tmp_path, data=small_images())  # bf16 is slow without its kernels
    st = auto.status()
    probe = st["precision_probe"]
    assert set(probe["images_per_s"]) == {"fp32", "bf16"} and probe["refused"] == {}  # bf16 agrees on CPU
    assert st["precision"] == probe["chosen"] and probe["seconds"] > 0
    explicit = train(small_config(batch_size=8, precision=st["precision"]), "explicit", tmp_path, data=small_images())
    a, b = auto.metrics()[0], explicit.metrics()[0]
    assert a and [r["step"] for r in a] == [r["step"] for r in b]
    for ra, rb in zip(a, b):
        assert ra.keys() == rb.keys()
        for k in ra.keys() - {"step", "time", "images_per_s"}:
            # the same weights, batches and random draws; the probe ran kernels in between, which may
            # pick other ones (oneDNN) for the same op, so the last float bits may differ.
            # usage_* are shares of 256 argmaxes: one flipped argmax moves a share by 1/256
            tol = {"abs": 1.5 / 256} if k.startswith("usage_") else {"rel": 1e-5, "abs": 1e-6}
            assert rb[k] == pytest.approx(ra[k], **tol), (ra["step"], k)


def test_the_choice_is_recorded_and_kept_on_resume(tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "MAX_SHARE", 100.0)
    monkeypatch.setattr(precision, "candidates", lambda device: ["fp32", "bf16"])
    monkeypatch.setattr(precision, "measure", lambda *a: [Trial("fp32", 100.0), Trial("bf16", 300.0)])
    stop = threading.Event()
    # batch 8: bf16 steps on a CPU without native bf16 are slow, and this test trains with bf16
    run = train(small_config(batch_size=8), "r", tmp_path, stop=stop, on_log=lambda rec: stop.set(),
                data=small_images())
    st = run.status()
    assert st["state"] == "stopped" and st["step"] == 3
    assert st["precision"] == "bf16" and st["precision_probe"]["images_per_s"] == {"fp32": 100.0, "bf16": 300.0}
    assert run.load_checkpoint(3)[2]["precision"] == "bf16"

    def no_probe(*a):
        raise AssertionError("a resumed run must not probe again")

    monkeypatch.setattr(precision, "measure", no_probe)
    resume(run, data=small_images())
    assert run.status()["state"] == "completed" and run.status()["precision"] == "bf16"
    assert run.load_checkpoint(6)[2]["precision"] == "bf16"


@pytest.mark.parametrize("kernels", [True, False])
@pytest.mark.parametrize("device", ["cpu", "cuda", "mps"])
def test_candidates_follow_what_autocast_runs_fast(device, kernels, monkeypatch):
    """bf16 is tried on CUDA, and on a CPU where oneDNN has bf16 kernels; never on MPS."""
    monkeypatch.setattr(precision, "cpu_has_bf16_kernels", lambda: kernels)
    two = device == "cuda" or (device == "cpu" and kernels)
    assert precision.candidates(torch.device(device)) == (["fp32", "bf16"] if two else ["fp32"])


def test_a_cpu_without_bf16_kernels_trains_fp32_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_bf16_kernels", lambda: False)
    monkeypatch.setattr(precision, "MAX_SHARE", 100.0)  # long enough for a probe, were there two candidates
    monkeypatch.setattr(precision, "measure", lambda *a: pytest.fail("one candidate needs no probe"))
    st = train(small_config(), "avx2", tmp_path, data=small_images()).status()
    assert st["precision"] == "fp32"
    assert st["precision_probe"]["reason"] == ("fp32: this CPU has no bf16 kernels (oneDNN's need AVX512), "
                                               "so bf16 is not tried")
