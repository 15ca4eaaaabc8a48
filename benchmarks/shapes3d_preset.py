"""Issue #39, item 3: which `shapes3d` preset separates the most factors in 30 minutes on 2 CPU
cores. Each candidate is a set of flags over the provisional preset; a budget is a step count,
so runs can share a busy machine (or run one thread each, side by side) and still be judged at
the same budget.

    python benchmarks/shapes3d_preset.py rate --candidate cr-nets          # 2 threads, machine quiet
    python benchmarks/shapes3d_preset.py run --candidate cr-nets --seed 0 --steps N --threads 1
    python benchmarks/shapes3d_preset.py report RUNS_DIR...

`rate` trains 1,000 steps (a live measurement at 500 and 1,000) and turns the time at step 500
(in the training loop; the process's start is `wall_seconds` minus the loop's time) and the
seconds per step after it into the step count that fills 30 minutes on this machine.
`run` trains one seed to a step count. `report` prints, per run, its live FactorVAE / MIG at
each measurement, the minute of the 30-minute budget it stands for (step x 30 / budget) and
which factors own a code (`live.own_codes`). Precision is fixed at bf16 (what `auto` chooses on
this machine for this preset), so a run's arithmetic does not depend on the threads it got.
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

from infogan.budget import current
from infogan.live import own_codes
from infogan.shapes3d import FACTOR_NAMES

ROOT = Path(__file__).resolve().parents[1]
BUDGET_MINUTES = 30
# flags over the shapes3d preset (InfoGAN-CR's nets, 6 continuous codes, G twice per step, CR from 4,000)
CANDIDATES = {
    "cr-nets": (),
    # cheaper: one G update per step (about a third less work per step), the contrastive
    # regulariser from step 2,000 (it is where MIG rose in the provisional run)
    "cheap": ("--g-steps", "1", "--cr-start", "2000"),
}


def train(candidate: str, seed: int, steps: int, threads: int, runs: Path, name: str) -> None:
    smoke = current().smoke
    args = ["--runs-dir", str(runs), "train", "--run-name", name, "--dataset", "shapes3d", "--seed", str(seed),
            "--max-steps", str(20 if smoke else steps), "--precision", "bf16", "--quiet",
            "--disent-every", "0" if smoke else "500", *CANDIDATES[candidate]]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run([sys.executable, "-m", "infogan", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def rate(candidate: str, runs: Path) -> dict:
    name = f"rate-{candidate}"
    t0 = time.perf_counter()
    train(candidate, 0, 1000, 2, runs, name)
    wall = time.perf_counter() - t0
    by_step = {r["step"]: r["time"] for r in records(runs / name)}
    t500, t1000 = by_step.get(500), by_step.get(1000)
    if t500 is None or t1000 is None:  # the smoke budget
        return {"candidate": candidate, "smoke": True}
    per_step = (t1000 - t500) / 500
    return {"candidate": candidate, "wall_seconds": round(wall, 1),
            "seconds_to_step_500": round(t500, 1), "seconds_per_step": round(per_step, 4),
            "budget_steps": int(500 + (BUDGET_MINUTES * 60 - t500) / per_step), "machine": platform.node(),
            "threads": 2, "cpus": os.cpu_count()}


def report(run: Path) -> dict:
    cfg = json.loads((run / "config.json").read_text())
    rows = [r for r in records(run) if isinstance(r.get("normalized_mi"), list)]
    last = max((r["step"] for r in records(run)), default=0)
    out = []
    for r in rows:
        owned = own_codes(r["normalized_mi"])
        out.append({"step": r["step"], "minute": round(r["step"] * BUDGET_MINUTES / max(last, 1), 1),
                    "factor_vae": round(r["factor_vae"], 3), "mig": round(r["mig"], 3),
                    "own": {f: f"c{c + 1}" for f, c in zip(FACTOR_NAMES, owned, strict=True) if c is not None}})
    return {"run": run.name, "seed": cfg["seed"], "g_steps": cfg["g_steps"], "cr_start": cfg["cr_start"],
            "steps": last, "measurements": out}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("rate")
    r.add_argument("--candidate", choices=CANDIDATES, required=True)
    r.add_argument("--runs-dir", type=Path, default=Path("runs-bench"))
    t = sub.add_parser("run")
    t.add_argument("--candidate", choices=CANDIDATES, required=True)
    t.add_argument("--seed", type=int, required=True)
    t.add_argument("--steps", type=int, required=True)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--runs-dir", type=Path, default=Path("runs-bench"))
    o = sub.add_parser("report")
    o.add_argument("runs", type=Path, nargs="+")
    a = p.parse_args()
    if a.cmd == "rate":
        print(json.dumps(rate(a.candidate, a.runs_dir)))
    elif a.cmd == "run":
        train(a.candidate, a.seed, a.steps, a.threads, a.runs_dir, f"s3d-{a.candidate}-seed{a.seed}")
    else:
        for run in a.runs:
            print(json.dumps(report(run)))


if __name__ == "__main__":
    main()
