"""Peak resident memory and wall time of a training process: `python -m infogan train --dataset D
--max-steps N` in a child, its peak resident set read with getrusage by the child itself (what
/usr/bin/time -v reports as "Maximum resident set size").

    python benchmarks/train_memory.py --dataset dsprites --steps 200 --data DIR [--tree CHECKOUT]

--tree runs another checkout's package (e.g. a worktree of an older commit) on the same data, so
two versions are compared on one machine. Under INFOGAN_SMOKE: dsprites:8 for 4 steps. One JSON
line."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from infogan.budget import current

ROOT = Path(__file__).resolve().parents[1]


# the child reports its own peak (getrusage of itself, at exit): the parent's RUSAGE_CHILDREN is
# the largest child it ever waited for, which another, bigger child would hide
_MEASURED = ("import atexit, resource, runpy, sys; out = sys.argv.pop(1); sys.argv[0] = 'infogan'; "
             "atexit.register(lambda: open(out, 'w').write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)))"
             "; ")
TRAIN = "runpy.run_module('infogan', run_name='__main__')"
FIXED = "import infogan.cli, torch; torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])"  # torch's own cost


def peak_rss_mb(tree: Path, code: str = TRAIN, args: tuple[str, ...] = (), threads: int = 2) -> dict:
    """Run `code` (TRAIN: the CLI with `args`) in a fresh child of `tree`; its peak RSS and seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "peak_kb"
        env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": str(threads)}
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", _MEASURED + code, str(report), *args], cwd=tree, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        return {"peak_rss_mb": round(int(report.read_text()) / 1024), "seconds": round(time.perf_counter() - t0, 1)}


def train_args(dataset: str, steps: int, data: Path, runs: Path) -> tuple[str, ...]:
    return ("--runs-dir", str(runs), "train", "--run-name", "m", "--dataset", dataset, "--data-dir", str(data),
            "--max-steps", str(steps), "--quiet")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="dsprites")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--data", type=Path, default=Path(os.environ.get("INFOGAN_DATA", "data")))
    p.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose package trains")
    a = p.parse_args()
    if current().smoke:
        a.dataset, a.steps = "dsprites:8", 4
    commit = subprocess.run(["git", "-C", str(a.tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as runs:
        train = peak_rss_mb(a.tree.resolve(), TRAIN, train_args(a.dataset, a.steps, a.data, Path(runs)))
    fixed = peak_rss_mb(a.tree.resolve(), FIXED)["peak_rss_mb"]
    print(json.dumps({"dataset": a.dataset, "steps": a.steps, "commit": commit, "machine": platform.node(),
                      **train, "torch_and_adam_peak_mb": fixed}))


if __name__ == "__main__":
    main()
