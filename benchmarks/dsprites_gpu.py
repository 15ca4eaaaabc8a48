"""InfoGAN-CR's dSprites recipe for several seeds at once on one GPU, then their scores and the
label-free pick: the GPU check of issue #27, ready before a GPU is at hand.

Every seed is a member of one sweep (the project's Ray sweep, embedded: each member a process
holding `--gpus` of the GPU, so all of them share it), trained with the dSprites preset to its
end unless `--max-steps` cuts it: 288,000 iterations, then 34,560 with the contrastive
regulariser (28 epochs of 11,520 at batch 64), FactorVAE and MIG measured live every 2,000.
Then each member's last checkpoint is evaluated on `--eval-device` (every disentanglement
metric, 10,000 images), ModelCentrality picks one member without ground truth (neither computes
sample quality, whose dSprites judge would first train for minutes on the CPU), and one JSON line
reports the wall time, each member's iterations/s and scores, the pick against the best and the
median member, and the published anchors (InfoGAN-CR, Lin et al. 2020, Tables 1 and 3). The run
folders stay the record: the dashboard's Sweeps page shows the same sweep.

Measure the rate first (a few thousand iterations), then decide on the full length:

    python benchmarks/dsprites_gpu.py --seeds 0-7 --device cuda --max-steps 3000 --run-name dsgpu-rate
    python benchmarks/dsprites_gpu.py --seeds 0-7 --device cuda --run-name dsgpu

On a CPU (what was tested here): `--device cpu --seeds 0-1 --max-steps 300 --cr-start 200`."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time

import pandas as pd
import torch

from infogan.budget import SMOKE, current
from infogan.config import Config
from infogan.datasets import dsprites_stride
from infogan.dsprites import factor_sizes
from infogan.evaluate import evaluate_run
from infogan.precision import resolve_device
from infogan.ray_runner import run_sweep, shutdown
from infogan.runs import RunError
from infogan.selection import select
from infogan.sweeps import Sweep, final_table, parse_seeds

# InfoGAN-CR (Lin et al., ICML 2020), dSprites, means over 50 runs with the authors' metric code
PUBLISHED = {"infogan_modified": {"factor_vae": 0.82, "mig": 0.22, "dci_disentanglement": 0.60},
             "infogan_cr": {"factor_vae": 0.88, "mig": 0.37, "dci_disentanglement": 0.71},
             "infogan_cr_model_centrality": {"factor_vae": 0.92, "mig": 0.45, "dci_disentanglement": 0.77}}
SCORES = tuple(PUBLISHED["infogan_cr"])


def member_rate(records: list[dict]) -> float | None:
    """Iterations per second of training (metrics.jsonl's `time` is training time, not wall time)."""
    last = next((r for r in reversed(records) if r.get("time")), None)
    return round(last["step"] / last["time"], 2) if last else None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0-7", help="seeds like 0-7 (default: 8 seeds)")
    p.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    p.add_argument("--gpus", type=float, default=None, help="GPU share per member (default 1 / members)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads per member (default: CPU cores // members, at least 1)")
    p.add_argument("--max-steps", type=int, default=0, help="stop every member here (0: the full recipe)")
    p.add_argument("--cr-start", type=int, default=None, help="the step CR switches on (default: the preset's)")
    p.add_argument("--dataset", default="dsprites", help="dsprites or dsprites:S")
    p.add_argument("--eval-device", default=None, help="where the final evaluations run (default: --device)")
    p.add_argument("--run-name", default=None, help="the sweep's name (default: dsgpu-TIME)")
    p.add_argument("--runs-dir", default=None, help="run folders (default ./checkpoints or $INFOGAN_RUNS)")
    a = p.parse_args()
    seeds = parse_seeds(a.seeds)
    values = {"dataset": a.dataset, "device": a.device, "max_steps": a.max_steps}
    if a.cr_start is not None:
        values["cr_start"] = a.cr_start
    if current().smoke:  # the documented command on a tiny budget: two members, a few steps, the small set
        seeds, values = seeds[:2], {**values, **SMOKE.limits, "dataset": "dsprites:8"}
    try:
        cfg = Config.from_dict(values)
        device = resolve_device(cfg.device)
    except (ValueError, RunError) as exc:
        raise SystemExit(f"dsprites_gpu.py: {exc}") from None
    stride = dsprites_stride(cfg.dataset)
    if not stride:
        raise SystemExit(f"dsprites_gpu.py: --dataset must be dsprites or dsprites:S, not {cfg.dataset!r}")
    gpus = 0.0 if device.type != "cuda" else (a.gpus if a.gpus is not None else 1 / len(seeds))
    threads = a.threads or max(1, (os.cpu_count() or 1) // len(seeds))
    name = a.run_name or time.strftime("dsgpu-%Y%m%d-%H%M%S")
    sweep = Sweep.create(name, values, seeds, {}, parallel=len(seeds), threads=threads, gpus=gpus,
                         evaluate="none", root=a.runs_dir)
    n = min(math.prod(factor_sizes(stride)), cfg.subset or math.inf)
    steps = min(cfg.epochs * int(n // cfg.batch_size), cfg.max_steps or math.inf)
    print(f"{name}: {len(seeds)} members x {steps} iterations on {device} ({gpus:g} GPU, {threads} thread(s) "
          f"each; CR from step {cfg.cr_start})", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    try:
        state = run_sweep(sweep, say=lambda line: print(line, file=sys.stderr, flush=True), rank=False,
                          budget=current())
    finally:
        shutdown()
    train_s = time.perf_counter() - t0
    runs = [r for r in sweep.runs() if r.checkpoint_steps()]
    t1 = time.perf_counter()
    for run in runs:
        print(f"evaluating {run.name}", file=sys.stderr, flush=True)
        evaluate_run(run, metrics="all", scale=0.01 if current().smoke else 1.0, device=a.eval_device or cfg.device,
                     sample_quality=False, budget=current())
    eval_s = time.perf_counter() - t1
    picked = select(sweep, say=lambda line: print(line, file=sys.stderr, flush=True), budget=current(),
                    sample_quality=False) if len(runs) > 1 else {}
    table = final_table(sweep).set_index("member")
    members = {}
    for run in sweep.runs():
        row = table.loc[run.name]
        members[run.name] = {"state": run.state(), "step": int(row["step"] or 0),
                             "iterations_per_s": member_rate(run.metrics()[0]),
                             **{k: None if pd.isna(row.get(k)) else round(float(row[k]), 4) for k in SCORES}}
    scored = [m for m in members.values() if m["factor_vae"] is not None]
    print(json.dumps({
        "machine": platform.node(), "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__, "sweep": name, "state": state, "seeds": seeds, "config": cfg.to_dict(),
        "gpus_per_member": gpus, "threads_per_member": threads,
        "train_wall_s": round(train_s, 1), "eval_wall_s": round(eval_s, 1), "members": members,
        "median": {k: statistics.median(m[k] for m in scored) for k in SCORES} if scored else {},
        "pick": picked.get("pick"), "pick_rule": picked.get("rule"),
        "pick_vs_truth": {k: picked[k] for k in ("factor_vae", "mig") if k in picked},
        "published": PUBLISHED}))
    return 0 if state == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
