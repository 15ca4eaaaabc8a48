"""precision = "auto": try each way of running the training step on the run's own config and
first batches, check it against fp32, and keep the fastest that agrees.

Why measure rather than look the CPU up: bf16 autocast ran at 0.65x fp32 on one 2-core EPYC and
1.67x on another with `avx512_bf16` (docs/results.md), so only a timing on the user's machine
says which pays. The one lookup is where it cannot pay: a CPU without oneDNN's bf16 kernels
(AVX2 only) ran it at 1/14 to 1/28 of fp32, and is not probed. Every candidate runs on a copy
of the run's freshly built nets, optimisers and random generator, so the run itself starts from
the same state whatever is chosen: a run with "auto" that picks bf16 trains exactly like one
started with "bf16".

torch.compile is not a candidate: `benchmarks/throughput.py` measured it on the 2-core CPU (G and
D's stacked pass compiled, the same first-step losses as eager to 1e-6), and after a 23 s compile
it ran at 0.94x eager fp32, so it never pays back (docs/results.md)."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .runs import RunError

# per candidate and round: untimed steps, then timed steps; rounds alternate the candidates so
# machine noise hits them alike, and the best round counts
WARMUP, TIMED, ROUNDS = 2, 6, 2
# a lower precision must beat fp32 by this factor, so timing noise never trades accuracy for nothing
MARGIN = 1.05
# a candidate's first-step statistics (same weights, batch and codes as fp32's) must agree with
# fp32's within ATOL + RTOL * |fp32|: bf16 autocast differed by at most 0.004 on the MNIST and
# dSprites presets (3 seeds each, every statistic), so this leaves a 5x margin
ATOL, RTOL = 0.02, 0.02
# a candidate whose round takes this many times fp32's is stopped: it cannot be the faster
SLOWER = 2.0
# the probe may cost at most this share of the run's steps; a shorter run keeps fp32
MAX_SHARE = 0.05

Step = Callable[..., dict[str, torch.Tensor]]  # train_step(nets, x, cfg, gen, precision)


def resolve_device(name: str) -> torch.device:
    """The device a config or flag names; one line (RunError) when this machine has no such
    device, instead of torch's traceback at the first tensor moved there."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise RunError(f"device {name!r} is not a device name: use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if not count:
            raise RunError(f"device {name!r} requested but CUDA is not available on this machine")
        if device.index is not None and device.index >= count:
            raise RunError(f"device {name!r} requested but this machine has {count} CUDA device(s): "
                           f"cuda:0{f' to cuda:{count - 1}' if count > 1 else ''}")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RunError(f"device {name!r} requested but MPS is not available on this machine")
    if device.type not in ("cpu", "cuda", "mps"):
        raise RunError(f"device {name!r}: use auto, cpu, cuda, cuda:N or mps")
    return device


def cpu_has_bf16_kernels() -> bool:
    """Whether oneDNN has bf16 kernels on this CPU (AVX512 or AMX). Without them (an AVX2-only
    CPU, as many laptops) autocast runs bf16 on reference kernels, 14x to 28x slower than fp32
    (docs/results.md), so it is not worth a probe. Where torch cannot say, the probe decides."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return True


def candidates(device: torch.device) -> list[str]:
    """fp32 first (the reference), then bf16 where autocast runs it on fast kernels."""
    if device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16_kernels()):
        return ["fp32", "bf16"]
    return ["fp32"]


def sole_reason(device: torch.device) -> str:
    """Why fp32 is chosen without a probe where it is the only candidate."""
    if device.type == "cpu":
        return "fp32: this CPU has no bf16 kernels (oneDNN's need AVX512), so bf16 is not tried"
    return f"fp32: the only precision on {device.type}"


def probe_steps(n_candidates: int) -> int:
    return ROUNDS * n_candidates * (WARMUP + TIMED)


@dataclass
class Trial:
    """One candidate's measurement: its speed, and why it was refused ("" when it agrees)."""

    name: str
    images_per_s: float
    refused: str = ""


def disagreement(reference: dict[str, float], got: dict[str, float]) -> str:
    """Why `got` does not match fp32's statistics on the same step ("" when it does)."""
    for k, ref in reference.items():
        v = got.get(k, math.nan)
        if not math.isfinite(v):
            return f"{k} is {v} (fp32: {ref:.4g})"
        if abs(v - ref) > ATOL + RTOL * abs(ref):
            return f"{k} = {v:.4g} vs fp32 {ref:.4g} (tolerance {ATOL} + {RTOL:.0%})"
    return ""


def choose(trials: list[Trial]) -> tuple[str, str]:
    """The fastest candidate that agrees with fp32, and a one-line reason.

    fp32 is the reference and always agrees; another candidate must be MARGIN times faster."""
    fp32 = next(t for t in trials if t.name == "fp32")
    ok = [t for t in trials if not t.refused and (t is fp32 or t.images_per_s >= MARGIN * fp32.images_per_s)]
    best = max(ok, key=lambda t: t.images_per_s)
    speeds = ", ".join(f"{t.name} {t.images_per_s:.0f}" for t in trials)
    refused = "; ".join(f"{t.name} refused: {t.refused}" for t in trials if t.refused)
    if best is fp32:
        why = refused or f"nothing beat fp32 by {MARGIN - 1:.0%}"
    else:
        why = f"{best.images_per_s / fp32.images_per_s:.2f}x fp32, losses agree"
    return best.name, f"{best.name}: {why} (images/s: {speeds})"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(step: Step, nets: object, batches: list[torch.Tensor], cfg: object, gen: torch.Generator,
            names: list[str]) -> list[Trial]:
    """Time each candidate (alternating, best round) on copies of `nets` and `gen`; check each
    candidate's first step against fp32's. `nets` and `gen` are left untouched.

    A candidate still running when SLOWER x fp32's round has passed cannot win: it is stopped
    there, its speed is what it did so far, and it sits out the later rounds, so a candidate far
    slower than fp32 costs the probe about one step, not two rounds."""
    assert names[0] == "fp32", "fp32 runs first: its round times the others'"
    device = batches[0].device
    rates: dict[str, list[float]] = {n: [] for n in names}
    first: dict[str, dict[str, float]] = {}
    stopped: set[str] = set()
    for _ in range(ROUNDS):
        allowed = math.inf  # the seconds a candidate's round may take: SLOWER x fp32's
        for name in [n for n in names if n not in stopped]:
            trial_nets, trial_gen = copy.deepcopy(nets), torch.Generator(device)
            trial_gen.set_state(gen.get_state())
            start = t0 = time.perf_counter()
            for i in range(WARMUP + TIMED):
                if i == WARMUP:
                    _sync(device)
                    t0 = time.perf_counter()
                stats = step(trial_nets, batches[i % len(batches)], cfg, trial_gen, name)
                if i == 0:
                    first.setdefault(name, {k: float(v) for k, v in stats.items()})
                if time.perf_counter() - start > allowed and i + 1 < WARMUP + TIMED:
                    stopped.add(name)
                    break
            torch.stack(list(stats.values())).tolist()  # what the loop's logging waits for
            _sync(device)
            end = time.perf_counter()
            done = i + 1 if name in stopped else TIMED
            rates[name].append(done * len(batches[0]) / (end - (start if name in stopped else t0)))
            if name == "fp32":
                allowed = SLOWER * (end - start)
    return [Trial(n, max(rates[n]), disagreement(first["fp32"], first[n]) if n != "fp32" else "") for n in names]


def summary(trials: list[Trial], chosen: str, reason: str, seconds: float) -> dict[str, object]:
    """What status.json records about the choice (Monitor shows it)."""
    return {"chosen": chosen, "reason": reason, "seconds": round(seconds, 2),
            "images_per_s": {t.name: round(t.images_per_s, 1) for t in trials},
            "refused": {t.name: t.refused for t in trials if t.refused}}
