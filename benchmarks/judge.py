"""A dataset's judge trained afresh at its defaults, in a folder of its own (the cached judge
is neither read nor replaced): held-out accuracy per head, its trunk, steps and seconds, and the
process's peak resident memory.

    python benchmarks/judge.py --dataset dsprites [--seed 0] [--epochs N]

One JSON line. Under INFOGAN_SMOKE the judge is the smoke budget's (512 images, one epoch)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time

import torch

from infogan.budget import current
from infogan.config import Config
from infogan.datasets import BUILTIN
from infogan.judge import dataset_config, judge_key, train_judge


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist", choices=[d for d in BUILTIN if judge_key(d)])
    p.add_argument("--data-dir", default=None, help="default: INFOGAN_DATA, else ./data (as the CLI)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=None, help="epochs instead of the dataset's default")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        os.environ["INFOGAN_JUDGES"] = folder
        t0 = time.perf_counter()
        cfg = dataset_config(args.dataset, args.data_dir or Config().resolved_data_dir())
        judge = train_judge(cfg, epochs=args.epochs, seed=args.seed, budget=current())
        wall = time.perf_counter() - t0
    info = judge.info
    print(json.dumps({"dataset": args.dataset, "machine": platform.processor() or platform.machine(),
                      "threads": torch.get_num_threads(), "torch": torch.__version__, "budget": info["budget"],
                      "seed": args.seed, "trunk": info["trunk"], "epochs": info["epochs"], "steps": info["steps"],
                      "n_train": info["n_train"], "n_test": info["n_test"],
                      "accuracy": dict(zip(info["head_names"], (round(a, 4) for a in info["accuracy"]))),
                      "training_s": info["seconds"], "wall_s": round(wall, 1),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}), flush=True)


if __name__ == "__main__":
    main()
