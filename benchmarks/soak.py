"""Soak: N training jobs started from the dashboard's form plus B browser sessions on Monitor.

Every few seconds each browser session navigates Monitor -> Runs -> Monitor through the
sidebar and the time until the page shows its content is recorded. At the end: did every job
complete, the latency distribution, and the growth of the Streamlit process's memory.

    python benchmarks/soak.py --minutes 10 --jobs 3 --browsers 2"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.dashboard_driver import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LIVE_CHARTS,
    rss_mb,
    start_job,
    start_server,
    stop_server,
)
from infogan.budget import current


def _timed(page, link: str, selector: str) -> float:
    t0 = time.perf_counter()
    page.get_by_role("link", name=link, exact=True).click()
    page.locator(selector).first.wait_for(timeout=30000)
    return time.perf_counter() - t0


def run_soak(minutes: float, jobs: int, browsers: int, data: Path, steps_per_job: int) -> dict:
    from playwright.sync_api import sync_playwright

    runs = Path(tempfile.mkdtemp(prefix="soak-"))
    proc, url = start_server(runs, data)
    latencies: list[float] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            starter = browser.new_page()
            form = {"Training images (0 = all)": "4096", "Batch size": "32", "Log every (steps)": "10",
                    "Stop after this many steps": str(steps_per_job), "Checkpoint every (steps)": "200",
                    "Samples every (steps)": "100"}
            for i in range(jobs):
                start_job(starter, url, f"soak-{i}", {**form, "Seed": str(i)})
            pages = [browser.new_page(viewport={"width": 1300, "height": 900}) for _ in range(browsers)]
            for i, page in enumerate(pages):
                page.goto(f"{url}/monitor?run=soak-{i % jobs}")
                # charts appear once the job has logged: child start-up (torch import, data) with
                # every job starting at once on 2 cores is not what the soak measures
                page.locator(LIVE_CHARTS).first.wait_for(timeout=180000)
            rss_start = rss_mb(proc.pid)
            end = time.time() + minutes * 60
            while time.time() < end:
                for page in pages:
                    latencies.append(_timed(page, "Runs", "[data-testid='stDataFrame']"))
                    latencies.append(_timed(page, "Monitor", LIVE_CHARTS))
                time.sleep(3)
            rss_end = rss_mb(proc.pid)
            browser.close()
        deadline = time.time() + 300  # the browsing window is over; let slow jobs finish
        while time.time() < deadline and any(
                '"completed"' not in (runs / f"soak-{i}" / "status.json").read_text() for i in range(jobs)):
            time.sleep(1)
        states = {f"soak-{i}": json.loads((runs / f"soak-{i}" / "status.json").read_text())["state"]
                  for i in range(jobs)}
    finally:
        stop_server(proc)
        shutil.rmtree(runs, ignore_errors=True)  # ~0.5 GB of checkpoints; the summary is the result
    lat = sorted(latencies)
    return {"machine": platform.node(), "cpus": os.cpu_count(), "minutes": minutes, "jobs": jobs,
            "browsers": browsers, "steps_per_job": steps_per_job, "job_states": states,
            "all_completed": all(s == "completed" for s in states.values()), "interactions": len(lat),
            "latency_s": {"median": round(statistics.median(lat), 3), "p95": round(lat[int(0.95 * (len(lat) - 1))], 3),
                          "max": round(lat[-1], 3)},
            "rss_mb": {"start": round(rss_start, 1), "end": round(rss_end, 1), "growth": round(rss_end - rss_start, 1)}}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--jobs", type=int, default=3)
    p.add_argument("--browsers", type=int, default=2)
    p.add_argument("--steps-per-job", type=int, default=1000)
    p.add_argument("--data", type=Path, default=Path(os.environ.get("INFOGAN_DATA", "data")))
    a = p.parse_args()
    if current().smoke:  # one job, one browser, a few navigations
        a.minutes, a.jobs, a.browsers, a.steps_per_job = 0.2, 1, 1, 20
    print(json.dumps(run_soak(a.minutes, a.jobs, a.browsers, a.data, a.steps_per_job)))


if __name__ == "__main__":
    main()
