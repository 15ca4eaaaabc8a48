"""Seconds per stage of `eval --metrics all` on a dSprites run, for each estimator, with the
scores side by side: same checkpoint, same seed, same machine, one process.

Without --run it first trains a dSprites run of --train-steps steps (the preset, so the metrics
have codes with some structure to score). One JSON line per estimator. --known-answer scores a
synthetic representation instead, whose right answers are known: four factors, the first two
summed into one code (the second also has its own), the other two each in a code of their own.

    python benchmarks/eval_speed.py [--run NAME] [--estimators fast reference] [--scale 1.0]
    python benchmarks/eval_speed.py --known-answer"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from infogan.budget import current
from infogan.checkpoint import load_model
from infogan.config import Config
from infogan.data import load
from infogan.evaluate import factor_metrics
from infogan.metrics import GroundTruth, evaluate_all
from infogan.runs import Run
from infogan.train import train


def timed_evaluation(run: Run, estimator: str, scale: float) -> dict:
    t0 = time.perf_counter()
    model = load_model(run)
    seconds = {"load checkpoint": time.perf_counter() - t0}
    t = time.perf_counter()
    data = load(model.cfg.replace(subset=0))
    seconds["load factor grid"] = time.perf_counter() - t
    stage, t = "encoder (BatchNorm statistics on 10,000 images)", time.perf_counter()

    def on_metric(name: str, i: int, n: int) -> None:
        nonlocal stage, t
        seconds[stage] = time.perf_counter() - t
        stage, t = name, time.perf_counter()

    out = factor_metrics(model, data, "all", scale=scale, on_metric=on_metric, estimator=estimator)
    seconds[stage] = time.perf_counter() - t
    return {"estimator": estimator, "total_s": round(time.perf_counter() - t0, 1),
            "seconds": {k: round(v, 2) for k, v in seconds.items()},
            "scores": {k: round(v, 4) for k, v in out.items() if isinstance(v, float) and k != "scale"}}


def known_answer(estimator: str, scale: float) -> dict:
    truth = GroundTruth((4, 6, 10, 8), render=lambda f: f.astype(float))
    mixed = lambda f: np.stack([f[:, 0] + f[:, 1], f[:, 1], f[:, 2], f[:, 3]], 1)
    t0 = time.perf_counter()
    out = evaluate_all(mixed, truth, seed=1, scale=scale, estimator=estimator)
    return {"representation": "known answer: factors 0+1 in one code", "estimator": estimator,
            "total_s": round(time.perf_counter() - t0, 1),
            "scores": {k: round(v, 4) for k, v in out.items() if isinstance(v, float) and k != "scale"}}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--run", help="a dSprites run folder's name (default: train one first)")
    p.add_argument("--train-steps", type=int, default=3000)
    p.add_argument("--estimators", nargs="+", default=["fast", "reference"])
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--known-answer", action="store_true", help="score a synthetic representation, not a run")
    a = p.parse_args()
    if current().smoke:  # a 4-step run on the coarsest grid, a hundredth of the samples
        a.train_steps, a.scale = 4, 0.01
    if a.known_answer:
        for estimator in a.estimators:
            print(json.dumps({"machine": platform.node(), "scale": a.scale, **known_answer(estimator, a.scale)}))
        return
    if a.run:
        run = Run.open(a.run)
    else:
        cfg = Config.from_dict({"dataset": "dsprites:8" if current().smoke else "dsprites", "max_steps": a.train_steps,
                                "ckpt_every": a.train_steps})
        run = train(cfg)
    for estimator in a.estimators:
        print(json.dumps({"machine": platform.node(), "cpu": platform.processor() or "cpu",
                          "threads": torch.get_num_threads(), "run": run.name, "step": run.checkpoint_steps()[-1],
                          "scale": a.scale, **timed_evaluation(run, estimator, a.scale)}), flush=True)


if __name__ == "__main__":
    main()
