"""Issue #39, item 3: which `shapes3d` preset separates the most factors in 30 minutes on 2 CPU
cores. Each candidate is a set of flags over the shapes3d preset; a budget is a step count,
so runs can share a machine (side by side, or with other work) and still be judged at the same
budget.

    python benchmarks/shapes3d_preset.py rate --candidate cr-nets > rates.jsonl   # machine quiet
    python benchmarks/shapes3d_preset.py run --candidate cr-nets --seed 0 --steps N
    python benchmarks/shapes3d_preset.py report --rates rates.jsonl RUN_DIR...
    python benchmarks/shapes3d_preset.py probe RUN_DIR...   # after: python -m infogan judge --dataset shapes3d
    python benchmarks/shapes3d_preset.py cost --candidate hessian   # machine quiet

`rate` trains to 1,000 steps past the contrastive regulariser's start (live measurements every
500) and turns the seconds per step before and after it into the step count that fills 30
minutes on this machine (2 threads, nothing else running).
`cost` times a candidate's step against the preset's, before and with the regulariser, in
alternating windows in one process: for a candidate that changes the work per step, a ratio to
scale a measured rate line by (a `rate` run takes 15 minutes or more of a quiet machine).
`run` trains one seed to a step count. `report` prints, per run, its live FactorVAE / MIG at
each measurement, the minute on this machine it stands for (from its candidate's line in the
rates file) and which factors own a code (`live.own_codes`). `probe` reads a run's newest
checkpoint from G's side: which factors its samples cover and which input turns each (the
shapes3d judge reads the factors of 10,000 samples). Precision is fixed, so that a run's
arithmetic does not depend on the threads it got: bf16 by default (what `auto` chose for this
preset on the CPU of the first rounds, which has bf16 kernels), `--precision fp32` on a CPU without
them (bf16 runs 14x slower there); candidates are compared at one precision.
Under INFOGAN_SMOKE: 20 steps, no live scores."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.ensemble import RandomForestClassifier

from benchmarks.throughput import ProjectLoop, timed
from infogan.budget import current
from infogan.checkpoint import load_model
from infogan.config import Config, preset
from infogan.judge import Judge, load_judge, predict_heads
from infogan.latent import sample
from infogan.live import own_codes
from infogan.metrics import discretize, factor_entropy, mutual_info_matrix
from infogan.models import generate_uint8
from infogan.runs import Run
from infogan.shapes3d import FACTOR_NAMES, SIZES

ROOT = Path(__file__).resolve().parents[1]
BUDGET_MINUTES = 30
PRECISIONS = ("bf16", "fp32")
# flags over the shapes3d preset (InfoGAN-CR's nets, 5 noise dims, 6 continuous codes, G twice per
# step, lambda_cont 0.2, CR from 1,000 on pairs whose unshared codes are at least 1.9 apart,
# batches of 32); each candidate names every field it changes, so `report` can tell them apart.
# Every candidate but the preset was run on batches of 64, and all but it and `cr-gap` before the
# gap came, so each names those.
B64 = ("--batch-size", "64")
NO_GAP = (*B64, "--cr-gap", "0")
PRESET = "batch-32"
CANDIDATES = {
    # InfoGAN-CR's pairs for its 3D teapots, the unshared continuous codes at least 1.9 apart, so
    # in each pair every code but the shared one swings across its range; a code that turns the
    # object's size then shows H a change as large as a hue code's does
    "cr-gap": B64,
    # InfoGAN-CR's 3D-teapot recipe in full: the gap and its regulariser's weight there (3, not 2)
    "teapot": (*B64, "--lambda-cr", "3.0"),
    # the contrastive regulariser from step 1,000 (where the hues own codes with this weight), on
    # plain pairs: in `info`'s runs scale, shape and orientation only rose once it was on
    "cr-early": NO_GAP,
    # CR from 4,000, and 4x InfoGAN-CR's weight on the continuous codes' information term (0.05,
    # for dSprites over 288,000 steps), so G makes its codes visible sooner
    "info": (*NO_GAP, "--cr-start", "4000"),
    # InfoGAN-CR's weight, as on dSprites
    "cr-nets": (*NO_GAP, "--lambda-cont", "0.05", "--cr-start", "4000"),
    # cheaper: one G update per step (about a third less work per step), the contrastive
    # regulariser from step 2,000 (it is where MIG rose in the first shapes3d run)
    "cheap": (*NO_GAP, "--lambda-cont", "0.05", "--g-steps", "1", "--cr-start", "2000"),
    # no noise: six codes for six factors and nothing else, so every factor G draws (scale too)
    # must come from a code, not from z; the same work per step
    "no-noise": (*NO_GAP, "--noise-dim", "0", "--cr-start", "4000"),
    # no noise with CR from 1,000: `no-noise` was the best single run with CR from 4,000, and the
    # earlier regulariser gave every seed cleaner hue codes
    "no-noise-early": (*NO_GAP, "--noise-dim", "0"),
    # a categorical code of 10 per hue (each hue factor takes 10 values) and 3 continuous codes:
    # a hue's twin code cannot add to a category that already names it, so the continuous codes
    # are left to the geometry
    "cat-hues": (*NO_GAP, "--cat-codes", "10,10,10", "--n-cont", "3"),
    # cat-hues with the continuous codes' information weighed as the categories' (1.0 instead of
    # 0.2): in cat-hues' run G left its continuous codes unused
    "cat-hues-cont": (*NO_GAP, "--cat-codes", "10,10,10", "--n-cont", "3", "--lambda-cont", "1.0"),
    # twice the contrastive regulariser's weight (4 instead of 2): a second code that turns a hue
    # already owned (every earlier candidate's spare codes) is what it penalises, as H cannot tell
    # which of the two codes a pair of images shares; the same work per step
    "cr-double": (*NO_GAP, "--lambda-cr", "4.0"),
    # half its weight (1): once it is on, D pulls ahead (D(x) ~0.73 against D(G(z)) ~0.27) and the
    # samples stay rough, which may hide the object's size; the same work per step
    "cr-half": (*NO_GAP, "--lambda-cr", "1.0"),
    # 9 codes: in two of `info`'s three runs each hue took two of the six codes (a hue is a
    # circle, which two codes may draw more easily than one), leaving none spare
    "codes-9": (*NO_GAP, "--n-cont", "9"),
    # Q learns each code's sigma: with sigma fixed to 1 a code Q reads perfectly lowers the
    # information term by at most 1/6 nat (the variance of U(-1, 1) over 2), so a fourth code is
    # worth at most 0.03 of G's loss at lambda_cont 0.2; with sigma learned, a code read to sigma
    # 0.1 is worth ln(0.577 / 0.1) = 1.75 nats over one Q cannot read (sigma 0.577, the prior's)
    "sigma": (*B64, "--no-fixed-sigma"),
    # the same push by weight alone: lambda_cont 1.0, five times the preset's
    "info-1": (*B64, "--lambda-cont", "1.0"),
    # the Hessian penalty (Peebles et al. 2020) on z and the continuous codes: the probe found G
    # draws the object's size from the three hue codes together, an interaction between inputs,
    # which is what the penalty charges G for. It adds five fp32 passes of G on a quarter batch
    # per step (`cost`)
    "hessian": (*B64, "--lambda-hessian", "0.001"),
    # a tenth of that weight
    "hessian-small": (*B64, "--lambda-hessian", "0.0001"),
    # the preset: `cr-gap` on half the batch, 0.58x the seconds per step, so the budget buys 8,513
    # steps instead of 5,196; the one run that gave scale a code (`cr-early`, 8,000 steps) got it
    # after step 7,000
    "batch-32": (),
    # InfoGAN-CR's iteration: one draw of latents and pairs per step, so H's pass of G on the pairs
    # serves the first G step too (1.12x the images/s with the regulariser on dSprites)
    "shared": (*B64, "--shared-latents"),
    # three of the six codes on a circle (Config.circular_codes), as a hue is: in the preset's
    # runs G drew the object's size from how far a hue code stood from its centre (large at both
    # ends), and a point on a circle has no such distance to lend; pairs' unshared circular codes
    # are opposite (the circle's farthest, as the gap of 1.9 nearly is on a line)
    "circle-hues": ("--circular-codes", "3"),
}


def flags(candidate: str) -> dict[str, str]:
    """A candidate's flags as {config field: value}."""
    out, rest = {}, list(CANDIDATES[candidate])
    while rest:
        flag = rest.pop(0).removeprefix("--").replace("-", "_")
        if flag.startswith("no_"):  # a switch turned off ("--no-fixed-sigma")
            out[flag.removeprefix("no_")] = "false"
        elif not rest or rest[0].startswith("--"):  # a switch turned on ("--shared-latents")
            out[flag] = "true"
        else:
            out[flag] = rest.pop(0)
    return out


def train(candidate: str, seed: int, steps: int, threads: int, runs: Path, name: str, precision: str = "bf16") -> None:
    smoke = current().smoke
    args = ["--runs-dir", str(runs), "train", "--run-name", name, "--dataset", "shapes3d", "--seed", str(seed),
            "--max-steps", str(20 if smoke else steps), "--precision", precision, "--quiet",
            "--disent-every", "0" if smoke else "500", *CANDIDATES[candidate]]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run([sys.executable, "-m", "infogan", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def rate(candidate: str, runs: Path, precision: str = "bf16") -> dict:
    """Seconds per step before and after the contrastive regulariser starts (an H update on
    pairs per step: 2.7x the cost of a step without it for `cheap`), and the step count that
    fills BUDGET_MINUTES: the process's start and the steps to cr_start at the first rate, the
    rest at the second."""
    name = f"rate-{candidate}"
    cr = int(flags(candidate).get("cr_start", preset("shapes3d").cr_start))
    t0 = time.perf_counter()
    train(candidate, 0, cr + 1000, 2, runs, name, precision)
    wall = time.perf_counter() - t0
    at = {r["step"]: r["time"] for r in records(runs / name)}
    if cr + 1000 not in at:  # the smoke budget
        return {"candidate": candidate, "smoke": True}
    start = wall - at[cr + 1000]  # before the training loop: imports, data, models
    before, after = (at[cr] - at[500]) / (cr - 500), (at[cr + 1000] - at[cr + 500]) / 500
    return {"candidate": candidate, "cr_start": cr, "start_seconds": round(start, 1),
            "seconds_to_cr_start": round(at[cr], 1),
            "seconds_per_step": round(before, 4), "seconds_per_step_with_cr": round(after, 4),
            "budget_steps": int(cr + (BUDGET_MINUTES * 60 - start - at[cr]) / after), "machine": platform.node(),
            "threads": 2, "cpus": os.cpu_count(), "precision": precision}


def cost(candidate: str, against: str = PRESET, windows: int = 4, steps: int = 10, precision: str = "bf16") -> dict:
    """Seconds per step of `candidate` over `against`'s (the preset's), before and with the contrastive
    regulariser: the project's Trainer on shapes3d batches at 2 threads, windows alternating
    after 3 warm-up steps each, medians of the windows."""
    torch.set_num_threads(2)
    if current().smoke:
        windows, steps = 1, 1
    ratios = {}
    for phase, cr_start in (("before_cr", 10**9), ("with_cr", 0)):
        loops = {name: ProjectLoop(Config.from_dict({**flags(name), "cr_start": cr_start}, base=preset("shapes3d")
                                                    ).replace(precision=precision), torch.device("cpu"))
                 for name in (against, candidate)}
        for loop in loops.values():
            timed(loop, 3, 1, torch.device("cpu"))
        seconds: dict[str, list[float]] = {name: [] for name in loops}
        for _ in range(windows):
            for name, loop in loops.items():
                seconds[name].append(1 / timed(loop, steps, 1, torch.device("cpu")))
        per_step = {name: float(np.median(v)) for name, v in seconds.items()}
        ratios[phase] = {"seconds_per_step": {k: round(v, 4) for k, v in per_step.items()},
                         "ratio": round(per_step[candidate] / per_step[against], 3)}
    return {"candidate": candidate, "against": against, **ratios, "windows": windows, "steps": steps,
            "machine": platform.node(), "threads": 2, "cpus": os.cpu_count(), "precision": precision}


def minute(step: int, rates: dict) -> float:
    """The minute at which a quiet 2-thread run reaches `step`, by its candidate's rates."""
    cr = rates["cr_start"]
    t = rates["seconds_to_cr_start"] * step / cr if step <= cr else (
        rates["seconds_to_cr_start"] + (step - cr) * rates["seconds_per_step_with_cr"])
    return (rates["start_seconds"] + t) / 60


def report(run: Path, rates: dict[str, dict]) -> dict:
    cfg = Config.from_saved(json.loads((run / "config.json").read_text()))
    # the candidate with the most flags that all hold in the run's config (the preset has none)
    candidate = max((c for c in CANDIDATES if Config.from_dict(flags(c), base=cfg) == cfg),
                    key=lambda c: len(flags(c)))
    out = []
    for r in (r for r in records(run) if isinstance(r.get("normalized_mi"), list)):
        owned = own_codes(r["normalized_mi"])
        out.append({"step": r["step"], "minute": round(minute(r["step"], rates[candidate]), 1),
                    "factor_vae": round(r["factor_vae"], 3), "mig": round(r["mig"], 3),
                    "own": {f: f"c{c + 1}" for f, c in zip(FACTOR_NAMES, owned, strict=True) if c is not None}})
    return {"run": run.name, "candidate": candidate, "seed": cfg.seed, "measurements": out}


@torch.no_grad()
def probe(run: Path, judge: Judge, n: int = 10_000, seed: int = 0) -> dict:
    """Which input of G turns each factor in G's own samples, as the judge reads them: for each
    factor, how much of its range G's samples cover (the entropy of its judged values over the log
    of its size: 1 when every value is drawn equally often) and its best code and best noise
    dimension by the share of that entropy they hold (MIG's normalised MI, 20 equal bins per
    input); then how well all inputs together tell it (a random forest's held-out accuracy against
    the share of the commonest value): high there and low for every single input is a factor G
    draws from several inputs at once. The live scores read real images through Q; this asks
    whether G draws a factor at all, and from which of its inputs."""
    model = load_model(Run(run))
    torch.manual_seed(seed)
    lat = sample(model.cfg, n)
    images = generate_uint8(model.G, model.cfg, lat)
    judged = predict_heads(judge.net, images).numpy()  # (n, factors)
    x, half = torch.cat([lat.cont, lat.z], 1).numpy(), n // 2
    entropy = factor_entropy(judged)
    mi = mutual_info_matrix(discretize(x), judged) / np.maximum(entropy, 1e-12)  # inputs x factors
    names = [f"c{i + 1}" for i in range(model.cfg.n_cont)] + [f"z{i + 1}" for i in range(model.cfg.noise_dim)]
    out = {}
    for j, factor in enumerate(FACTOR_NAMES):
        code, z = mi[:model.cfg.n_cont, j], mi[model.cfg.n_cont:, j]
        # all inputs together: a forest's held-out accuracy against the commonest value's share
        forest = RandomForestClassifier(100, min_samples_leaf=5, random_state=0).fit(x[:half], judged[:half, j])
        out[factor] = {"covered": round(float(entropy[j] / np.log(SIZES[j])), 2),
                       "from_all_inputs": round(forest.score(x[half:], judged[half:, j]), 2),
                       "commonest": round(float(np.bincount(judged[half:, j]).max() / (n - half)), 2),
                       "forest_uses": {names[i]: round(float(forest.feature_importances_[i]), 2)
                                       for i in np.argsort(-forest.feature_importances_)[:3]},
                       "best_code": f"{names[int(code.argmax())]} {code.max():.2f}",
                       "best_noise": f"{names[model.cfg.n_cont + int(z.argmax())]} {z.max():.2f}" if len(z) else None}
    return {"run": run.name, "step": model.step, "samples": n, "factors": out}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("rate")
    r.add_argument("--candidate", choices=CANDIDATES, required=True)
    r.add_argument("--runs-dir", type=Path, default=Path("runs-bench"))
    r.add_argument("--precision", choices=PRECISIONS, default="bf16")
    t = sub.add_parser("run")
    t.add_argument("--candidate", choices=CANDIDATES, required=True)
    t.add_argument("--seed", type=int, required=True)
    t.add_argument("--steps", type=int, required=True)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--precision", choices=PRECISIONS, default="bf16")
    t.add_argument("--runs-dir", type=Path, default=Path("runs-bench"))
    c = sub.add_parser("cost")
    c.add_argument("--candidate", choices=CANDIDATES, required=True)
    c.add_argument("--against", choices=CANDIDATES, default=PRESET)
    c.add_argument("--precision", choices=PRECISIONS, default="bf16")
    o = sub.add_parser("report")
    o.add_argument("--rates", type=Path, required=True, help="the rate lines of the runs' candidates")
    o.add_argument("runs", type=Path, nargs="+")
    b = sub.add_parser("probe", help=probe.__doc__.splitlines()[0])
    b.add_argument("--data-dir", type=Path, default=Path(os.environ.get("INFOGAN_DATA", "data")),
                   help="where the shapes3d judge is cached (python -m infogan judge --dataset shapes3d)")
    b.add_argument("runs", type=Path, nargs="+")
    a = p.parse_args()
    if a.cmd == "rate":
        print(json.dumps(rate(a.candidate, a.runs_dir, a.precision)))
    elif a.cmd == "cost":
        print(json.dumps(cost(a.candidate, a.against, precision=a.precision)))
    elif a.cmd == "run":
        name = f"s3d-{a.candidate}-seed{a.seed}" + ("-fp32" if a.precision == "fp32" else "")
        train(a.candidate, a.seed, a.steps, a.threads, a.runs_dir, name, a.precision)
    elif a.cmd == "probe":
        judge = load_judge("shapes3d", a.data_dir)
        if judge is None:
            sys.exit(f"no shapes3d judge in {a.data_dir}: train it with python -m infogan judge --dataset shapes3d")
        for run in a.runs:
            print(json.dumps(probe(run, judge)))
    else:
        rates = {r["candidate"]: r for r in map(json.loads, a.rates.read_text().splitlines()) if r}
        for run in a.runs:
            print(json.dumps(report(run, rates)))


if __name__ == "__main__":
    main()
