"""What a sweep on the embedded Ray costs over the same trials run as plain CLI processes, and
whether ModelCentrality's label-free pick agrees with accuracy.

    python benchmarks/sweep_overhead.py --seeds 0-5 --epochs 2 --parallel 2 --threads 1

Both ways train the same members (the MNIST defaults at --epochs, one seed each), --parallel at
a time with --threads each: (1) `python -m infogan sweep --evaluate none --no-rank`, (2) `python
-m infogan train` processes with OMP_NUM_THREADS=threads, started --parallel at a time. Ray
first, then plain, in one invocation. Reported: each way's wall time and their ratio; the cold
start (from launching `sweep` to the first member's first metrics line, and to its status
'running'); the peak summed PSS of each way's process tree (Ray's own processes included in the
first), sampled every 2 s; then every member's final-checkpoint accuracy (evaluate_run, as `eval`), the
ModelCentrality ranking (`select`) and its Spearman correlation with the accuracy ranking.
One JSON line per measurement, the summary last."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from scipy.stats import spearmanr

from infogan.budget import current
from infogan.data import load
from infogan.evaluate import evaluate_run
from infogan.runs import Run
from infogan.sweeps import Sweep, final_table, parse_seeds

ROOT = Path(__file__).resolve().parents[1]


class PeakMemory:
    """Peak summed PSS (proportional set size: shared pages split between sharers) of a tree."""

    def __init__(self, pid: int):
        self.root, self.peak, self.done = psutil.Process(pid), 0, threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        while not self.done.wait(2.0):
            total = 0
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                continue
            for p in procs:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_full_info().pss
            self.peak = max(self.peak, total)

    def stop(self) -> int:
        self.done.set()
        self.thread.join()
        return self.peak


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "infogan", *args]


def first_metrics(root: Path, names: list[str]) -> bool:
    return any((root / n / "metrics.jsonl").is_file() and (root / n / "metrics.jsonl").stat().st_size for n in names)


def first_running(root: Path, names: list[str]) -> bool:
    return any(Run(root / n).status().get("state") == "running" for n in names)


def ray_way(root: Path, seeds: str, train: list[str], parallel: int, threads: int) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cli("--runs-dir", str(root), "sweep", "--run-name", "ray", "--seeds", seeds,
                                "--parallel", str(parallel), "--threads", str(threads), "--evaluate", "none",
                                "--no-rank", *train), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    mem = PeakMemory(proc.pid)
    names = [f"ray-s{s}" for s in parse_seeds(seeds)]
    marks: dict[str, float] = {}
    while proc.poll() is None:
        for key, seen in (("running", first_running), ("first_metrics", first_metrics)):
            if key not in marks and (root / "ray").exists() and seen(root, names):
                marks[key] = time.perf_counter() - t0
        time.sleep(0.2)
    out = proc.stdout.read()
    if proc.returncode:
        sys.exit(f"the sweep failed ({proc.returncode}):\n{out[-3000:]}")
    ready = next((line for line in out.splitlines() if "ready in" in line), "")
    return {"way": "ray", "wall_s": round(time.perf_counter() - t0, 1), "peak_pss_mib": round(mem.stop() / 2**20),
            "cold_start_to_running_s": round(marks.get("running", float("nan")), 2),
            "cold_start_to_first_metrics_s": round(marks.get("first_metrics", float("nan")), 2),
            "ray_ready_line": ready}


def plain_way(root: Path, seeds: str, train: list[str], parallel: int, threads: int) -> dict:
    """The same members as `train` processes, `parallel` at a time, under one parent (so one tree)."""
    jobs = [cli("--runs-dir", str(root), "train", "--run-name", f"plain-s{s}", "--seed", str(s), "--quiet", *train)
            for s in parse_seeds(seeds)]
    script = ("import subprocess, sys, json, os\n"
              f"jobs, parallel = json.loads({json.dumps(json.dumps(jobs))}), {parallel}\n"
              f"env = {{**os.environ, 'OMP_NUM_THREADS': '{threads}'}}\n"
              "running = []\n"
              "while jobs or running:\n"
              "    while jobs and len(running) < parallel:\n"
              f"        running.append(subprocess.Popen(jobs.pop(0), cwd={str(ROOT)!r}, env=env))\n"
              "    running[0].wait()\n"
              "    if running[0].returncode: sys.exit(running[0].returncode)\n"
              "    running = [p for p in running if p.poll() is None]\n")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    mem = PeakMemory(proc.pid)
    if proc.wait():
        sys.exit(f"a plain training process failed ({proc.returncode})")
    return {"way": "plain", "wall_s": round(time.perf_counter() - t0, 1), "peak_pss_mib": round(mem.stop() / 2**20)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", default="0-5")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs-dir", help="where both ways' run folders go (default: a temporary folder)")
    a = p.parse_args()
    train = ["--dataset", "mnist", "--epochs", str(a.epochs)]
    if current().smoke:  # the CLI applies its tiny budget to every member; two seeds
        a.seeds = ",".join(str(s) for s in parse_seeds(a.seeds)[:2])
    root = Path(a.runs_dir or tempfile.mkdtemp(prefix="sweep-overhead-"))
    print(json.dumps({"machine": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
                      "seeds": a.seeds, "epochs": a.epochs, "parallel": a.parallel, "threads": a.threads,
                      "runs_dir": str(root)}), flush=True)
    ray_res = ray_way(root, a.seeds, train, a.parallel, a.threads)
    print(json.dumps(ray_res), flush=True)
    plain_res = plain_way(root, a.seeds, train, a.parallel, a.threads)
    print(json.dumps(plain_res), flush=True)
    sweep = Sweep.open("ray", root)
    test = None
    for run in sweep.runs():  # accuracy of each member's final checkpoint (labels: reporting only)
        test = test or load(run.config(), train=False, test_images=current().test_images)
        evaluate_run(run, test_data=test, budget=current())
    t0 = time.perf_counter()
    subprocess.run(cli("--runs-dir", str(root), "select", "ray"), cwd=ROOT, check=True)
    select_s = time.perf_counter() - t0
    sel = sweep.info()["selection"]
    acc = dict(final_table(sweep)[["member", "accuracy"]].itertuples(index=False))
    cent = dict(zip(sel["names"], sel["centrality"]))
    c, a = [cent[n] for n in sel["names"]], [acc[n] for n in sel["names"]]
    rho = spearmanr(c, a).statistic if len(set(c)) > 1 and len(set(a)) > 1 else float("nan")  # else undefined
    print(json.dumps({
        "summary": True, "ray_over_plain": round(ray_res["wall_s"] / plain_res["wall_s"], 4),
        "ray_wall_s": ray_res["wall_s"], "plain_wall_s": plain_res["wall_s"],
        "extra_memory_mib": ray_res["peak_pss_mib"] - plain_res["peak_pss_mib"],
        "cold_start_to_first_metrics_s": ray_res["cold_start_to_first_metrics_s"],
        "accuracy": {n: round(acc[n], 4) for n in sel["names"]}, "centrality": cent, "pick": sel["pick"],
        "pick_accuracy": round(acc[sel["pick"]], 4), "median_accuracy": round(sel["accuracy"]["median"], 4),
        "best_accuracy": round(sel["accuracy"]["best"], 4),
        "spearman_centrality_accuracy": round(float(rho), 4) if rho == rho else None,
        "select_s": round(select_s, 1)}), flush=True)


if __name__ == "__main__":
    main()
