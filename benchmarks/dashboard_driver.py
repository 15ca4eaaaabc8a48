"""Drive the real dashboard: start `streamlit run dashboard.py` on a free loopback port and
fill the Train form in Debian's Chromium through Playwright. Used by the browser tests and
the soak and overhead benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]


def start_server(runs: Path, data: Path, timeout: float = 60, tree: Path = ROOT) -> tuple[subprocess.Popen, str]:
    """-> (process, base URL) once /_stcore/health answers ok. `tree`: the checkout whose
    dashboard to serve (another commit's, to compare)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "INFOGAN_RUNS": str(runs), "INFOGAN_DATA": str(data), "PYTHONPATH": str(tree)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(tree / "dashboard.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none",
         "--browser.gatherUsageStats", "false"], cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"streamlit did not start: {proc.stdout.read().decode()[-2000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_job(page, url: str, name: str, fields: dict[str, str]) -> None:
    """Fill the Train form (MNIST preset) by its fields' labels (infogan/fields.py), opening its
    collapsed groups first, and submit; waits for the confirmation."""
    page.goto(f"{url}/train")
    page.get_by_role("button", name="Start training").wait_for(timeout=30000)
    for label, value in fields.items():
        box = page.get_by_label(label, exact=True)
        if not box.is_visible():  # in a collapsed group: open it (a rerun may have drawn it closed)
            page.locator("[data-testid='stExpander']").filter(has=box).locator("summary").click()
            box.wait_for(state="visible", timeout=10000)
        box.fill(value)
        box.press("Tab")
    page.get_by_label("Run name (optional)").fill(name)
    page.get_by_label("Run name (optional)").press("Tab")
    idle(page)  # a click while the name's rerun redraws the form can be lost
    page.get_by_role("button", name="Start training").click()
    page.get_by_text(f"Started {name}").first.wait_for(timeout=30000)


def idle(page, timeout: float = 30000) -> None:
    """Wait until the app shows no rerun in progress (Streamlit's running icon is gone)."""
    page.locator("[data-testid='stStatusWidgetRunningIcon']").wait_for(state="detached", timeout=timeout)


LIVE_CHARTS = "iframe[title*='live_charts']"  # Monitor's charts (app_pages/live_charts), once drawn


def chart_frame(page):
    """The frame that holds the Monitor's live charts (their component's iframe), else the page."""
    for frame in page.frames:
        try:
            if frame.evaluate("() => !!document.querySelector('.live-chart')"):
                return frame
        except Exception:  # a frame that is navigating or gone
            continue
    return page


def chart_points(page) -> int:
    """Points in the first line of the first Plotly chart on the page (the loss chart)."""
    return chart_frame(page).evaluate(
        "() => { const l = document.querySelector('.js-plotly-plot .scatterlayer .js-line');"
        " return l ? l.getAttribute('d').split(/[ML]/).length - 1 : 0; }")
