"""Seconds from starting a training run to its first pictures: the first fixed-noise sample grid
(what Monitor's "Latest samples" shows) and the first film frame (a checkpoint's panel), for the
Train form's defaults of a dataset with `--epochs` (default 1: 468 MNIST steps).

    python benchmarks/first_picture.py --data DIR [--epochs 1] [--tree CHECKOUT]

--tree runs another checkout's package (a worktree of an older commit), so two versions are
compared on one machine; the child is `python -m infogan train` as the dashboard's job runs it,
with the config as the form submits it (the preset, nothing else set). Polls the run folder
every 0.2 s. Under INFOGAN_SMOKE: 8 steps. One JSON line."""

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


def first_pictures(tree: Path, data: Path, epochs: int, max_steps: int = 0, threads: int = 2) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "r"
        env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": str(threads)}
        args = [sys.executable, "-m", "infogan", "--runs-dir", tmp, "train", "--run-name", "r", "--dataset", "mnist",
                "--data-dir", str(data), "--epochs", str(epochs), "--quiet"]
        if max_steps:
            args += ["--max-steps", str(max_steps)]
        t0 = time.perf_counter()
        child = subprocess.Popen(args, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seen: dict[str, float] = {}
        while child.poll() is None or len(seen) < 2:
            for what, pattern in (("first_samples_s", "samples/step_*.png"), ("first_film_frame_s", "film/step_*")):
                if what not in seen and any(run.glob(pattern)):
                    seen[what] = round(time.perf_counter() - t0, 1)
            if child.poll() is not None and len(seen) < 2:
                break
            time.sleep(0.2)
        end = round(time.perf_counter() - t0, 1)
        status = json.loads((run / "status.json").read_text())
        return {**seen, "run_s": end, "steps": status.get("step"), "sample_every": status.get("sample_every"),
                "ckpt_every": status.get("ckpt_every"), "returncode": child.returncode}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path(os.environ.get("INFOGAN_DATA", "data")))
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose package trains")
    a = p.parse_args()
    steps = 8 if current().smoke else 0
    out = first_pictures(a.tree.resolve(), a.data.resolve(), a.epochs, steps)
    print(json.dumps({"machine": platform.node(), "tree": str(a.tree), "epochs": a.epochs, **out}))


if __name__ == "__main__":
    main()
