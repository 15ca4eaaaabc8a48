"""End to end in a real browser: Debian's Chromium driven by Playwright against `streamlit run`.

Screenshots of every page land in test-artifacts/. A missing browser skips locally and fails
when INFOGAN_REQUIRE_BROWSER is set (as .ci/run does)."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("INFOGAN_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} missing")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync", "--disable-quic"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, mnist_root):
    runs = tmp_path_factory.mktemp("browser-runs")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "INFOGAN_RUNS": str(runs), "INFOGAN_DATA": str(mnist_root)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none",
         "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail(f"streamlit did not start: {proc.stdout.read().decode()[-2000:]}")
    yield url, runs
    proc.terminate()
    proc.wait(10)


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def points(page) -> int:
    """Points in the first line of the first Plotly chart (the D/G loss chart)."""
    return page.evaluate("() => { const l = document.querySelector('.js-plotly-plot .scatterlayer .js-line');"
                         " return l ? l.getAttribute('d').split(/[ML]/).length - 1 : 0; }")


def test_train_monitor_stop_explore_in_a_real_browser(browser, server):
    url, runs = server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.get_by_text("No runs yet").first.wait_for(timeout=30000)
    shot(page, "01_runs_empty")

    page.goto(f"{url}/train")
    page.get_by_role("button", name="Start training").wait_for(timeout=30000)
    for label, value in [("subset", "3200"), ("batch size", "32"), ("log every", "2"), ("epochs", "20")]:
        box = page.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Tab")
    page.get_by_label("Run name (optional)").fill("browser-job")
    shot(page, "02_train_form")
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("Started browser-job").first.wait_for(timeout=30000)
    shot(page, "03_train_started")

    page.goto(f"{url}/monitor?run=browser-job")
    page.locator(".js-plotly-plot").first.wait_for(timeout=60000)
    first = points(page)
    deadline = time.time() + 60
    while points(page) <= first and time.time() < deadline:
        page.wait_for_timeout(1000)
    assert points(page) > first, "the Monitor chart did not gain points while training"
    shot(page, "04_monitor_live")

    page.goto(f"{url}/train")
    page.get_by_role("button", name="Stop").first.click(timeout=30000)
    status = runs / "browser-job" / "status.json"
    deadline = time.time() + 60
    while '"stopped"' not in status.read_text() and time.time() < deadline:
        time.sleep(0.5)
    assert '"stopped"' in status.read_text()
    page.get_by_role("button", name="Resume").wait_for(timeout=30000)
    shot(page, "05_train_stopped")

    page.goto(f"{url}/explore?run=browser-job")
    page.get_by_role("tab", name="Traversals").click(timeout=30000)
    page.get_by_text("Download c1 grid (PNG)").first.wait_for(timeout=30000)
    imgs = page.locator("[data-testid='stImage'] img")
    assert imgs.count() >= 3
    assert page.evaluate("(img) => img.naturalWidth", imgs.nth(1).element_handle()) > 100
    shot(page, "06_explore_traversals")
    page.get_by_role("tab", name="Generator").click()
    shot(page, "07_explore_generator")

    page.goto(f"{url}/disentangle?run=browser-job")
    page.get_by_role("button", name="Run evaluation for this checkpoint").click(timeout=30000)
    page.get_by_text("Unsupervised accuracy of c1").first.wait_for(timeout=60000)
    shot(page, "08_disentanglement")

    page.goto(f"{url}/?run=browser-job")
    page.locator("[data-testid='stDataFrame']").wait_for(timeout=30000)
    shot(page, "09_runs_table")
    page.goto(f"{url}/compare")
    page.get_by_text("Compare checkpoints").first.wait_for(timeout=30000)
    shot(page, "10_compare")
