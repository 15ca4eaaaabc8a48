"""Training speed inside the dashboard (a job started from the form, Monitor open and
refreshing every second in Chromium) vs the CLI, same config, alternating rounds.

    python benchmarks/dashboard_overhead.py --steps 600 --rounds 2 [--log-every 10]"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.dashboard_driver import CHROMIUM, CHROMIUM_ARGS, ROOT, start_job, start_server, stop_server
from infogan.budget import current


def _rate(run: Path) -> float:
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return statistics.median(r["images_per_s"] for r in recs[2:] or recs)  # skip warm-up windows


def cli_rate(data: Path, steps: int, log_every: int) -> float:
    with tempfile.TemporaryDirectory(prefix="ovh-cli-") as runs:  # the rate is the result, not the run
        subprocess.run([sys.executable, "-m", "infogan", "--runs-dir", runs, "train", "--run-name", "cli",
                        "--data-dir", str(data), "--subset", "6400", "--max-steps", str(steps),
                        "--log-every", str(log_every), "--quiet"],
                       cwd=ROOT, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        return _rate(Path(runs) / "cli")


def dashboard_rate(data: Path, steps: int, log_every: int, page_path: str = "monitor?run=dash") -> float:
    from playwright.sync_api import sync_playwright

    runs = Path(tempfile.mkdtemp(prefix="ovh-dash-"))
    proc, url = start_server(runs, data)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            start_job(page, url, "dash", {"Training images (0 = all)": "6400", "Stop after this many steps": str(steps),
                                          "Log every (steps)": str(log_every)})
            page.goto(f"{url}/{page_path}")
            status = runs / "dash" / "status.json"
            while '"completed"' not in status.read_text():
                time.sleep(1)
            browser.close()
        return _rate(runs / "dash")
    finally:
        stop_server(proc)
        shutil.rmtree(runs, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--log-every", type=int, default=50, help="the default config's; new chart points per interval")
    p.add_argument("--page", default="monitor?run=dash", help="page the browser watches while the job trains")
    p.add_argument("--data", type=Path, default=Path(os.environ.get("INFOGAN_DATA", "data")))
    a = p.parse_args()
    if current().smoke:  # 6 steps per run, one round
        a.steps, a.rounds = 6, 1
    cli, dash = [], []
    for _ in range(a.rounds):
        cli.append(cli_rate(a.data, a.steps, a.log_every))
        dash.append(dashboard_rate(a.data, a.steps, a.log_every, a.page))
    print(json.dumps({"machine": platform.node(), "batch_size": 128, "steps": a.steps,
                      "log_every": a.log_every, "page": a.page,
                      "cli_images_per_s": [round(x, 1) for x in cli],
                      "dashboard_images_per_s": [round(x, 1) for x in dash],
                      "ratio": round(statistics.median(dash) / statistics.median(cli), 3)}))


if __name__ == "__main__":
    main()
