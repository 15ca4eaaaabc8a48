"""What sample quality costs and how it moves over one run's training: the judge (the cached
one, or trained now and timed), the reference (held-out features and the floor, once per
process), then every kept checkpoint of --run scored at the evaluation's default sizes.

    python benchmarks/quality.py --run NAME [--n 10000]

JSON lines: first the judge and the reference, then one per checkpoint (step, the six numbers,
their floors, seconds). Nothing is written into the run folder."""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from infogan import quality, scores
from infogan.budget import current
from infogan.checkpoint import load_model
from infogan.judge import judge_for, load_judge
from infogan.runs import Run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True)
    p.add_argument("--runs-dir", default=None)
    p.add_argument("--n", type=int, default=quality.N_FD, help="generated and held-out images for FD and the score")
    args = p.parse_args()
    run = Run.open(args.run, args.runs_dir)
    cfg = run.config()
    n = min(args.n, 1000) if current().smoke else args.n
    machine = {"machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
               "torch": torch.__version__}
    cached = load_judge(cfg.dataset, cfg.resolved_data_dir()) is not None
    t0 = time.perf_counter()
    judge = judge_for(cfg, budget=current())
    judge_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = quality.reference(judge, cfg, n, min(quality.N_KNN, n))
    print(json.dumps({"what": "judge", **machine, "dataset": cfg.dataset, "accuracy": judge.info["accuracy"],
                      "judge_training_s": judge.info["seconds"], "judge_threads": judge.info["threads"],
                      "judge_epochs": judge.info["epochs"], "judge_was_cached": cached,
                      "judge_load_or_train_s": round(judge_s, 2), "reference_s": round(time.perf_counter() - t0, 2),
                      "n": ref.n, "n_knn": ref.n_knn, "floor": ref.floor}), flush=True)
    for step in run.checkpoint_steps():
        model = load_model(run, step)
        q = quality.sample_quality(model.G, model.cfg, ref)
        print(json.dumps({"what": "checkpoint", "run": run.name, "step": step,
                          **{k: q[k] for k in (*scores.QUALITY, "seconds")}}), flush=True)


if __name__ == "__main__":
    main()
