"""End to end in a real browser: Debian's Chromium driven by Playwright against `streamlit run`.

Screenshots of every page land in test-artifacts/. A missing browser skips locally and fails
when INFOGAN_REQUIRE_BROWSER is set (as .ci/run does)."""

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from benchmarks.dashboard_driver import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LIVE_CHARTS,
    chart_frame,
    chart_points,
    start_job,
    start_server,
    stop_server,
)
from infogan import film
from infogan.runs import Run
from tests.conftest import TIME_SCALE, wait_until

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
FORM = {"Training images (0 = all)": "3200", "Batch size": "32", "Log every (steps)": "2", "Epochs": "20"}


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("INFOGAN_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} missing")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, mnist_root):
    runs = tmp_path_factory.mktemp("browser-runs")
    box = {"runs": runs, "data": mnist_root}
    box["proc"], box["url"] = start_server(runs, mnist_root)
    yield box
    stop_server(box["proc"])


def shot(page, name: str) -> None:
    """A full-page picture for a person to look at (test-artifacts/). It asserts nothing, so
    under CI, where no one looks, it skips the half second that lets fades settle."""
    ARTIFACTS.mkdir(exist_ok=True)
    if not os.environ.get("CI"):
        page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_train_monitor_stop_explore_in_a_real_browser(browser, server):
    url, runs = server["url"], server["runs"]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.get_by_text("No runs yet").first.wait_for(timeout=30000)
    shot(page, "01_runs_empty")
    # a newcomer's path: the empty Runs page -> Learn -> the 2D toy trains and says its purity
    page.get_by_text("Learn what InfoGAN does").first.click(timeout=30000)
    steps = page.get_by_label("Steps", exact=True)
    steps.fill("200")
    steps.press("Tab")
    page.get_by_role("button", name="Train both, side by side").click(timeout=30000)
    said = page.get_by_text(re.compile(r"With the term: purity \d"))
    said.first.wait_for(timeout=60000 * TIME_SCALE)
    assert re.search(r"With the term: purity (\S+),.*Without: purity (\S+)", said.first.inner_text())
    shot(page, "02_learn_toy")
    # -> the Train form shows its basics; the rest waits in collapsed groups
    page.goto(f"{url}/train")
    page.get_by_label("Epochs", exact=True).wait_for(timeout=30000)
    assert not page.get_by_label("Learning rate of G", exact=True).is_visible()
    assert page.get_by_text(re.compile(r"This run: \d[\d,]* steps")).first.is_visible()

    # samples and film frames soon after the first steps: the checks below wait for them
    start_job(page, url, "browser-job", {**FORM, "Checkpoint every (steps)": "40", "Samples every (steps)": "20"})
    shot(page, "03_train_started")

    # opened before the first checkpoint: the film appears with it, without a reload
    page.goto(f"{url}/monitor?run=browser-job")
    page.get_by_text("No film yet").first.wait_for(timeout=30000)
    page.locator(LIVE_CHARTS).first.wait_for(timeout=60000 * TIME_SCALE)
    wait_until(lambda: chart_points(page) > 0, 60, "the Monitor charts to draw", poll=1)
    first = chart_points(page)
    wait_until(lambda: chart_points(page) > first, 60, "the Monitor chart to gain points while training", poll=1)
    shot(page, "04_monitor_live")
    # a user's zoom survives the refreshes that bring new points (stable keys, layout.uirevision)
    charts = chart_frame(page)
    drag = charts.locator(".js-plotly-plot .nsewdrag").first.bounding_box()  # page coordinates
    page.mouse.move(drag["x"] + drag["width"] * 0.3, drag["y"] + drag["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(drag["x"] + drag["width"] * 0.6, drag["y"] + drag["height"] * 0.5, steps=5)
    page.mouse.up()
    chart = "document.querySelector('.js-plotly-plot')"
    zoomed = charts.evaluate(f"() => {chart}.layout.xaxis.range")
    assert charts.evaluate(f"() => {chart}.layout.xaxis.autorange") is False
    charts.evaluate(f"() => {{ {chart}.__tag = 'zoomed'; }}")
    n = charts.evaluate(f"() => {chart}._fullData[0].x.length")
    wait_until(lambda: charts.evaluate(f"() => {chart}._fullData[0].x.length") > n, 60,
               "new points on the zoomed chart", poll=0.5)
    assert charts.evaluate(f"() => {chart}.__tag") == "zoomed"  # the same chart, updated in place
    assert charts.evaluate(f"() => {chart}.layout.xaxis.range") == zoomed
    page.get_by_text(re.compile(r"^Step \d+ · the same noise")).first.wait_for(timeout=60000 * TIME_SCALE)  # samples
    film_slider = page.locator("[data-testid='stSlider']").filter(has_text="Training step")
    film_slider.wait_for(timeout=60000 * TIME_SCALE)
    job_run = Run(runs / "browser-job")
    frames = lambda: film.steps(job_run)  # the complete frames, as the page lists them

    # the slider moves on to the newest frame once a second one exists: to the one that was
    # newest when it appeared, or past it (training goes on writing frames, so the newest of
    # any one moment is a target that can move on again before the page's next refresh). A
    # frame comes with each checkpoint, every 40 steps: at the ~1 step/s of a job beside the
    # other test worker, the second can come more than a minute after the first.
    wait_until(lambda: len(frames()) >= 2, 180, "a second film frame")
    target = frames()[-1]
    shown = lambda: int(film_slider.locator("[data-testid='stSliderThumbValue']").inner_text())
    wait_until(lambda: shown() >= target, 60, "Monitor's film to move to its newest frame", poll=1)
    assert shown() in frames()
    shot(page, "04b_monitor_film")

    page.goto(f"{url}/train")
    page.get_by_role("button", name="Stop", exact=True).first.click(timeout=30000)
    status = runs / "browser-job" / "status.json"
    wait_until(lambda: '"stopped"' in status.read_text(), 60, "the job to stop")
    page.get_by_role("button", name="Resume").wait_for(timeout=30000)
    shot(page, "05_train_stopped")

    page.goto(f"{url}/explore?run=browser-job")
    page.get_by_role("tab", name="Traversals").click(timeout=30000)
    page.get_by_text("Download c3 grid (PNG)").first.wait_for(timeout=30000)
    imgs = page.locator("[data-testid='stImage'] img")
    assert imgs.count() >= 3
    assert page.evaluate("(img) => img.naturalWidth", imgs.nth(1).element_handle()) > 100
    shot(page, "06_explore_traversals")
    page.get_by_role("tab", name="Generator").click()
    shot(page, "07_explore_generator")

    page.goto(f"{url}/disentangle?run=browser-job")
    page.get_by_role("button", name="Run evaluation for this checkpoint").click(timeout=30000)
    page.get_by_text("in the background").first.wait_for(timeout=30000)  # the progress bar, at once
    shot(page, "08_disentanglement_running")
    page.get_by_text("Unsupervised accuracy of c1").first.wait_for(timeout=120000 * TIME_SCALE)
    shot(page, "08_disentanglement")

    page.goto(f"{url}/?run=browser-job")
    page.locator("[data-testid='stDataFrame']").wait_for(timeout=30000)
    shot(page, "09_runs_table")
    page.goto(f"{url}/compare")
    page.get_by_text("Compare runs").first.wait_for(timeout=30000)
    shot(page, "10_compare")


def test_stop_restart_server_resume_keeps_metrics_continuous(browser, server):
    """Stop from the dashboard, restart the server, resume: steps continue with no gap or repeat.

    The fresh server's first request is a deep link to Monitor: it runs through dashboard.py's
    st.navigation (no legacy pages/ mode), so the sidebar and page titles are the app's."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        start_job(page, server["url"], "restart-job", FORM)
    finally:
        shot(page, "11_restart_job_form")
    run = server["runs"] / "restart-job"
    wait_until(lambda: _steps(run)[-1:] >= [6], 60, "the job to log step 6")
    page.goto(f"{server['url']}/train")
    page.locator(".st-key-stop_restart-job button").click(timeout=30000)
    wait_until(lambda: '"stopped"' in (run / "status.json").read_text(), 60, "the job to stop")
    stopped_at = json.loads((run / "status.json").read_text())["step"]
    stop_server(server["proc"])
    server["proc"], server["url"] = start_server(server["runs"], server["data"])
    page.goto(f"{server['url']}/monitor?run=restart-job")
    page.get_by_text("restart-job · stopped").first.wait_for(timeout=60000 * TIME_SCALE)
    nav = page.locator("[data-testid='stSidebarNav']")
    assert nav.get_by_text("Disentanglement", exact=True).count() == 1  # dashboard.py's page titles
    assert nav.get_by_text("common", exact=True).count() == 0  # not a legacy list of page files
    assert page.get_by_text("Runs folder:").count() == 1  # the shared sidebar, drawn once
    shot(page, "12_deep_link_fresh_server")
    page.goto(f"{server['url']}/train")
    page.locator(".st-key-resume_restart-job button").click(timeout=30000)
    wait_until(lambda: _steps(run)[-1] >= stopped_at + 6, 90, "the resumed run to continue")
    page.goto(f"{server['url']}/train")
    page.locator(".st-key-stop_restart-job button").click(timeout=30000)
    steps = _steps(run)
    assert steps[-1] >= stopped_at + 6, "the resumed run did not continue"
    assert steps == sorted(set(steps)), "duplicate or out-of-order steps"
    assert {s for s in range(2, steps[-1] + 1, 2)} <= set(steps), "missing steps"
    assert stopped_at in steps


def _steps(run: Path) -> list[int]:
    p = run / "metrics.jsonl"
    if not p.exists():
        return []
    return [json.loads(line)["step"] for line in p.read_text().splitlines() if line.strip()]


def test_a_sweep_started_from_the_form_trains_two_members_and_stops_all(browser, server):
    """The Sweeps form starts a 2-trial sweep on the embedded Ray; both members progress in the
    members table; Stop all stops both with a checkpoint."""
    url, runs = server["url"], server["runs"]
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(f"{url}/sweeps")
    page.get_by_role("button", name="Start sweep").wait_for(timeout=30000)
    for label, value in {"Seeds": "0-1", "Epochs": "50", "Subset (0 = all images)": "3200",
                         "Other settings": "batch_size=32 log_every=2 ckpt_every=20 precision=fp32",
                         "Name": "browser-sweep"}.items():
        box = page.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Tab")
    page.get_by_role("button", name="Start sweep").click()
    page.get_by_text("**browser-sweep** · running".replace("**", "")).first.wait_for(timeout=60000 * TIME_SCALE)
    members = [runs / "browser-sweep-s0", runs / "browser-sweep-s1"]
    wait_until(lambda: all(len(_steps(m)) >= 2 for m in members), 180, "both members to log steps", poll=1)
    if not os.environ.get("CI"):  # for the picture only: a refresh of the members table (every 2 s)
        page.wait_for_timeout(3000)
    shot(page, "13_sweep_running")
    page.get_by_role("button", name="Stop all").click(timeout=30000)
    sweep_file = runs / "browser-sweep" / "sweep.json"
    wait_until(lambda: json.loads(sweep_file.read_text())["state"] == "stopped", 120, "the sweep to stop", poll=1)
    for m in members:
        status = json.loads((m / "status.json").read_text())
        assert status["state"] == "stopped" and status["checkpoint"] == status["step"] > 0
    page.get_by_role("button", name="Resume all").wait_for(timeout=30000)
    shot(page, "14_sweep_stopped")


def test_compare_slider_moves_both_runs_and_the_film_downloads_as_a_gif(browser, server, tiny_runs):
    """Two real runs with two checkpoints each (so two film frames; the session's tiny runs): Compare's one slider moves
    both runs' pictures; Explore's film downloads as an animated GIF with one frame per checkpoint."""
    from io import BytesIO

    from PIL import Image

    for tiny, name in (("f", "zz-film-a"), ("g", "zz-film-b")):  # last by name: Compare's default pair
        shutil.copytree(tiny_runs / tiny, server["runs"] / name)
    url = server["url"]
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(f"{url}/compare")
    page.get_by_text("zz-film-a · step 20").first.wait_for(timeout=60000 * TIME_SCALE)
    page.get_by_text("zz-film-b · step 20").first.wait_for(timeout=30000)
    shot(page, "15_compare_step_20")
    slider = page.get_by_role("slider").first

    def both_at_the_first_step() -> bool:  # Home again if the page was still rerunning when pressed
        if page.get_by_text("zz-film-a · step 10").count() == 0:
            slider.press("Home")
        return all(page.get_by_text(f"{name} · step 10").count() == 1 for name in ("zz-film-a", "zz-film-b"))

    wait_until(both_at_the_first_step, 60, "the Compare slider to show step 10 for both runs", poll=1)
    assert page.get_by_text("zz-film-a · step 20").count() == 0
    page.get_by_text("difference").first.click()
    page.get_by_text("mean difference").first.wait_for(timeout=30000)
    shot(page, "16_compare_difference")

    page.goto(f"{url}/explore?run=zz-film-a")
    page.get_by_role("tab", name="Film over training").click(timeout=60000)
    button = page.get_by_role("button", name="samples over training (GIF)")
    button.wait_for(timeout=30000)
    shot(page, "17_explore_film")
    with page.expect_download(timeout=60000) as download:
        button.click()
    gif = Image.open(BytesIO(Path(download.value.path()).read_bytes()))
    assert gif.format == "GIF" and gif.n_frames == 2
    assert download.value.suggested_filename == "zz-film-a_samples_film.gif"


    # a shared link reopens the same view: checkpoint, noise seed and knob values
    page.goto(f"{url}/explore?run=zz-film-a&step=10&seed=7&c2=1.5")
    page.get_by_text("step 10").first.wait_for(timeout=60000)
    assert page.get_by_role("spinbutton", name="Noise seed").input_value() == "7"
    c2 = page.get_by_role("slider", name="c2 · continuous (trained on -1..1)")
    assert c2.input_value() == "1.5"
    assert page.get_by_text("Deploy", exact=True).count() == 0  # client.toolbarMode = viewer
    shot(page, "18_explore_shared_link")

    # the code map: hovering a point shows its image, clicking it opens the image in the editor
    page.goto(f"{url}/explore?run=zz-film-a&tab=Code+map")
    charts = page.frame_locator(LIVE_CHARTS).first
    charts.locator(".live-chart .nsewdrag").first.wait_for(timeout=90000 * TIME_SCALE)
    box = charts.locator(".live-chart .nsewdrag").first.bounding_box()
    hover, at = charts.locator("#hover"), {}

    def a_point_is_hovered() -> bool:
        for fx, fy in ((0.5, 0.5), (0.45, 0.55), (0.55, 0.45), (0.4, 0.4), (0.6, 0.6)):
            at["xy"] = (box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
            page.mouse.move(*at["xy"], steps=3)
            page.wait_for_timeout(300)
            if hover.is_visible():
                return True
        return False

    wait_until(a_point_is_hovered, 30, "a code-map point to show its image on hover", poll=0.5)
    assert charts.locator("#hover").get_attribute("src").startswith("data:image/png;base64,")
    index = re.match(r"image (\d+)", charts.locator(".hovertext").first.text_content()).group(1)  # Plotly's label
    shot(page, "19_explore_code_map_hover")
    page.mouse.click(*at["xy"])
    page.get_by_text("reconstruction · RMS error").first.wait_for(timeout=90000 * TIME_SCALE)
    assert "tab=Real+image" in page.url
    assert page.get_by_role("spinbutton", name="Image index").input_value() == index
    link = page.locator("[data-testid='stCode']")

    def the_link_holds_the_image() -> bool:  # the sidebar's box is drawn last: wait for this run's
        if not link.last.is_visible():
            page.get_by_text("Link to this view").click()
        return link.last.is_visible() and f"img={index}" in link.last.inner_text()

    # the link holds the image (the address bar catches up later)
    wait_until(the_link_holds_the_image, 60, "the Link box to hold the clicked image", poll=1)
    shot(page, "20_explore_real_image")
