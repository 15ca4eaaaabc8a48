"""The 2D InfoGAN (infogan/toy.py) over seeds, with and without the information term: purity,
modes covered and the categorical code's MI bound at the end, and the first snapshot (every 50
steps) at which purity reached 0.9 with all 8 modes covered, with the seconds to it.

    python benchmarks/toy_seeds.py [--seeds 0 1 2 3 4] [--steps 1000]

Under INFOGAN_SMOKE: seed 0, 50 steps. One JSON line per (lambda, seed)."""

from __future__ import annotations

import argparse
import json
import platform

import torch

from infogan.budget import current
from infogan.toy import MODES, train_toy


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--steps", type=int, default=1000)
    a = p.parse_args()
    seeds, steps = ([0], 50) if current().smoke else (a.seeds, a.steps)
    for lam in (1.0, 0.0):
        for seed in seeds:
            r = train_toy(lam, steps, seed, every=50)
            first = next((s.step for s in r.snapshots if s.purity >= 0.9 and s.modes_covered == MODES), None)
            print(json.dumps({"machine": platform.node(), "threads": torch.get_num_threads(), **r.summary(),
                              "first_step_purity_0.9_all_modes": first,
                              "seconds_to_it": round(r.seconds * first / r.steps, 2) if first else None}), flush=True)


if __name__ == "__main__":
    main()
