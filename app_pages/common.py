"""Helpers shared by the pages: cached readers, the job manager, the selected run.

Only Streamlit glue lives here; anything that computes is in `infogan/`."""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import streamlit as st
import torch

from infogan import film
from infogan.checkpoint import Model, load_model
from infogan.config import Config
from infogan.data import DataError, ImageData, thumbnails
from infogan.figures import code_health, code_map_frame, monitor_figures
from infogan.film import render_film
from infogan.invert import Inversion, code_map, invert, reference_encoder, reference_images
from infogan.jobs import JobManager
from infogan.models import Discriminator
from infogan.runs import Run, RunError, list_runs, newest_run, runs_root
from infogan.summary import metrics_frame, run_summary

_local = threading.local()


@contextmanager
def reading_data(cfg: Config):
    """Around a part of a page that reads the run's dataset: a missing or moved dataset is one
    line saying what to put where (DataError's message) in place of that part, and the page
    goes on after the `with` block."""
    try:
        yield
    except DataError as exc:
        st.error(f"This part needs the run's dataset ({cfg.dataset}), which cannot be read: {exc}")


def page_list() -> list:
    """The app's pages, routed by dashboard.py's st.navigation. They live in app_pages/, not
    pages/: a folder named pages/ beside the entrypoint starts Streamlit in its legacy
    multipage mode, which lists every file of it and runs a deep link's page without
    dashboard.py (docs/results.md, "Where the pages live")."""
    return [
        st.Page("app_pages/runs.py", title="Runs", icon=":material/table_rows:", default=True),
        st.Page("app_pages/train.py", title="Train", icon=":material/play_circle:"),
        st.Page("app_pages/monitor.py", title="Monitor", icon=":material/monitoring:"),
        st.Page("app_pages/explore.py", title="Explore", icon=":material/tune:"),
        st.Page("app_pages/disentangle.py", title="Disentanglement", icon=":material/grid_on:"),
        st.Page("app_pages/compare.py", title="Compare", icon=":material/compare:"),
        st.Page("app_pages/sweeps.py", title="Sweeps", icon=":material/stacked_line_chart:"),
        st.Page("app_pages/learn.py", title="Learn", icon=":material/school:"),
    ]


@st.cache_resource
def job_manager() -> JobManager:
    """One per server process, shared by every tab and every rerun."""
    return JobManager()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


@st.cache_data(show_spinner=False, max_entries=256)
def _frame(path: str, mtime: float, size: int) -> pd.DataFrame:
    return metrics_frame(Run(Path(path)))


def metrics_version(run: Run) -> tuple[float, int]:
    """Changes whenever metrics.jsonl is appended to."""
    try:
        st_ = (run.path / "metrics.jsonl").stat()
    except OSError:
        return 0.0, 0
    return st_.st_mtime, st_.st_size


def frame(run: Run) -> pd.DataFrame:
    """metrics.jsonl as a DataFrame, re-read only when the file changed."""
    return _frame(str(run.path), *metrics_version(run))


def csv_bytes(run: Run) -> bytes:
    return _csv(str(run.path), *metrics_version(run))


@st.cache_data(show_spinner=False, max_entries=16)
def _csv(path: str, mtime: float, size: int) -> bytes:
    return _frame(path, mtime, size).to_csv().encode()


@st.cache_resource(show_spinner=False, max_entries=32)
def _figures(key: tuple, cfg_json: str, smoothing: float, log_y: bool) -> dict:
    frames = {name: _frame(path, mtime, size) for name, path, mtime, size in key}
    return monitor_figures(frames, json.loads(cfg_json), smoothing, log_y)


def figures(runs: list[Run], cfg: dict, smoothing: float, log_y: bool) -> dict:
    """The Monitor charts, rebuilt only when a metrics file changed (the page refreshes every
    second, but new points arrive once per logging interval)."""
    key = tuple((r.name, str(r.path), *metrics_version(r)) for r in runs)
    return _figures(key, json.dumps(cfg, sort_keys=True), smoothing, log_y)


@st.cache_resource(show_spinner=False)
def _live_component():
    """app_pages/live_charts/index.html beside the plotly.js that the plotly package ships, in a
    folder of their own (a component may only serve files from its folder). The folder is this
    server's own: mkdtemp's unpredictable name, mode 0700 (no other local user can plant files
    that the browser would run), each copy checked against its source's SHA-256, removed at exit."""
    import atexit
    import hashlib
    import shutil
    import tempfile

    import plotly
    import streamlit.components.v1 as components

    folder = Path(tempfile.mkdtemp(prefix="infogan-live-charts-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    sources = [Path(__file__).parent / "live_charts" / "index.html",
               Path(plotly.__file__).parent / "package_data" / "plotly.min.js"]
    for src in sources:
        shutil.copyfile(src, folder / src.name)
        if hashlib.sha256((folder / src.name).read_bytes()).digest() != hashlib.sha256(src.read_bytes()).digest():
            raise RuntimeError(f"the live-charts copy of {src.name} in {folder} does not match its source")
    return components.declare_component("live_charts", path=str(folder))


def live_charts(figs: dict, key: str, columns: int = 2, images: dict | None = None) -> dict | None:
    """Charts that update in place: one component holds them all, so new data reaches the same
    Plotly divs and the user's zoom and legend choices survive (the figures' layout.uirevision).
    `images`: per chart key, a picture per point customdata, shown on hover; then the return
    value is the last point clicked, {"key": chart key, "point": its customdata}."""
    return _live_component()(figures=[f.to_json() for f in figs.values()], keys=list(figs), columns=columns,
                             images=images or {}, key=key, default=None)


@st.cache_resource(show_spinner=False, max_entries=32)
def _health(path: str, mtime: float, size: int) -> list:
    return code_health(_frame(path, mtime, size))


def health(run: Run) -> list:
    """Monitor's code-health histograms, rebuilt only when metrics.jsonl changed."""
    return _health(str(run.path), *metrics_version(run))


@st.cache_data(show_spinner=False, max_entries=512)
def _picture(path: str, mtime: float, scale: int) -> bytes:
    from io import BytesIO

    buf = BytesIO()
    film.picture(Path(path), scale).save(buf, format="png")
    return buf.getvalue()


def picture(path: Path, scale: int = 2) -> bytes:
    """A film frame enlarged with crisp pixels, as PNG bytes encoded once per file version
    (the film refreshes while a run trains; an image is re-sent, not re-drawn)."""
    return _picture(str(path), _mtime(path), scale)


@st.cache_resource(show_spinner="Loading checkpoint…", max_entries=8)
def _model(path: str, step: int | None, mtime: float) -> Model:
    return load_model(Run(Path(path)), step)


def model(run: Run, step: int | None) -> Model:
    target = run.weights_path(step) if step is not None else run.path / "ckpt"
    return _model(str(run.path), step, _mtime(target))


@st.cache_resource(show_spinner="Loading the run's real images…", max_entries=4)
def _reference(dataset: str, data_dir: str, size: int, channels: int) -> ImageData:
    return reference_images(Config.from_dict({"dataset": dataset, "data_dir": data_dir, "image_size": size,
                                              "channels": channels, "download": False}))


def reference(cfg: Config) -> ImageData:
    """The real images a run's Q reads (its test split, else its training images), loaded once."""
    return _reference(cfg.dataset, str(cfg.resolved_data_dir().resolve()), cfg.image_size, cfg.channels)


@st.cache_resource(show_spinner="Estimating Q's statistics on real images…", max_entries=8)
def _encoder(path: str, step: int, mtime: float) -> Discriminator:
    m = _model(path, step, mtime)
    return reference_encoder(m, reference(m.cfg))


def encoder(run: Run, step: int) -> Discriminator:
    """Q as it reads real images (invert.reference_encoder), once per checkpoint."""
    return _encoder(str(run.path), step, _mtime(run.weights_path(step)))


@st.cache_resource(show_spinner="Finding the image's noise z (inversion)…", max_entries=32)
def _inversion(path: str, step: int, mtime: float, digest: str, refine: bool, starts: int, steps: int,
               _image: torch.Tensor) -> Inversion:
    return invert(_model(path, step, mtime), _encoder(path, step, mtime), _image[None], starts, steps, refine)


def inversion(run: Run, step: int, image: torch.Tensor, refine: bool, starts: int, steps: int) -> Inversion:
    """Q's reading and the inverted noise of one uint8 image, computed once per image and checkpoint."""
    digest = hashlib.sha256(image.numpy().tobytes()).hexdigest()
    return _inversion(str(run.path), step, _mtime(run.weights_path(step)), digest, refine, starts, steps, image)


@st.cache_resource(show_spinner="Reading real images with Q…", max_entries=8)
def _code_map(path: str, step: int, mtime: float, n: int) -> tuple[pd.DataFrame, dict[int, str]]:
    m = _model(path, step, mtime)
    data = reference(m.cfg)
    idx, reading = code_map(m, _encoder(path, step, mtime), data, n)
    labels = None if data.labels is None else data.labels[idx].numpy()
    factors = None if data.factors is None else data.factors[idx].numpy()
    df = code_map_frame(m.cfg.to_dict(), idx, [p.numpy() for p in reading.probs], reading.mu.numpy(), labels,
                        factors, data.factor_names)
    return df, dict(zip(idx.tolist(), thumbnails(data.images[idx], 3 if m.cfg.image_size <= 32 else 2)))


def code_map_data(run: Run, step: int, n: int = 2000) -> tuple[pd.DataFrame, dict[int, str]]:
    """Q's reading of `n` real images (one row each) and each image as a data URI, by index."""
    return _code_map(str(run.path), step, _mtime(run.weights_path(step)), n)


def summaries() -> list[dict]:
    return [run_summary(r) for r in list_runs()]


def run_names() -> list[str]:
    return [r.name for r in list_runs()]


def selected_run() -> Run | None:
    """The run picked in the sidebar (kept in ?run=NAME so a reload lands on it)."""
    name = st.session_state.get("run")
    if not name:
        return None
    try:
        return Run.open(name)
    except RunError:
        return None


def select_run(name: str) -> None:
    """Select a run from page code; the sidebar picker follows on the next rerun."""
    st.session_state["run"] = name
    st.query_params["run"] = name


def sidebar() -> None:
    """Shared sidebar: run picker, data folder, device."""
    st.session_state["session_started"] = True
    # what the URL held before this run's widgets read it: bound widgets drop values they cannot
    # take, and `link_notice` tells the user which ones a link brought
    _local.link = {k: st.query_params.get_all(k) for k in st.query_params}
    _local.shown = {}
    runs = list_runs()
    names = [r.name for r in runs]
    if st.session_state.get("run") not in names:  # a new session, or its run is gone
        newest = getattr(newest_run(runs), "name", None)
        wanted = st.query_params.get("run") if "run" not in st.session_state else None
        st.session_state["run"] = wanted if wanted in names else newest
        if wanted and wanted not in names:
            st.warning(f"The link's run {wanted!r} is not in the runs folder; showing "
                       f"{st.session_state['run'] or 'no run'}.", icon=":material/link_off:")
    with st.sidebar:
        if names:
            st.session_state["run_picker"] = st.session_state["run"]  # before the widget exists

            def picked() -> None:
                select_run(st.session_state["run_picker"])

            st.selectbox("Run", names, key="run_picker", on_change=picked)
        else:
            st.caption("No runs yet.")
        kept_text_input("Data folder", "data_dir", os.environ.get("INFOGAN_DATA", "data"),
                        help="Where datasets live (torchvision layout). Used by new runs.")
        kept_text_input("Ray cluster address", "ray_address", os.environ.get("INFOGAN_RAY_ADDRESS", ""),
                        placeholder="embedded (this machine)",
                        help="Where new sweeps run. Empty: an embedded Ray on this machine. Else the address of a "
                             "running cluster (ray start --head), e.g. 10.0.0.5:6379; its nodes must see the runs "
                             "and data folders at the same paths.")
        dev = "cuda: " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
        st.caption(f"Device: **{dev}** · {torch.get_num_threads()} CPU threads")
        st.caption(f"Runs folder: `{runs_root().resolve()}`")
        running = job_manager().training()
        if running:
            st.caption(f"Training now: {', '.join(j.run.name for j in running)}")
        follow_runs(names)
    if st.session_state.get("run"):
        st.query_params["run"] = st.session_state["run"]


@st.fragment(run_every=3)
def follow_runs(drawn: list[str]) -> None:
    """The sidebar's run list follows the runs folder: a run started from another tab, the CLI or
    a sweep appears (and a deleted one goes) within seconds, without a reload."""
    if run_names() != drawn:
        st.rerun(scope="app")


def link_notice(**shown) -> None:
    """After a page's URL-bound widgets (bind="query-params") are drawn: a notice for every value
    the link held that the page could not show (an unknown step, a code out of range, a value of
    the wrong type), which Streamlit replaced by the widget's default. Values compare as text, or
    as numbers when both read as numbers."""
    link = getattr(_local, "link", {})
    _local.shown = {**getattr(_local, "shown", {}), **shown}
    for key, value in shown.items():
        raw = link.get(key)
        if raw and not _same(raw, value):
            st.warning(f"The link's {key}={', '.join(raw)} cannot be shown here; showing {key}={_text(value)}.",
                       icon=":material/link_off:")


def _text(value) -> str:
    return ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _same(raw: list[str], value) -> bool:
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if len(raw) != len(values):
        return False
    for r, v in zip(raw, values):
        try:
            if not math.isclose(float(r), float(v), rel_tol=1e-9, abs_tol=1e-12):  # nan is never close
                return False
        except (TypeError, ValueError):
            if r != str(v):
                return False
    return True


def share_link() -> None:
    """The sidebar's "Link to this view": this page's URL with every query parameter the page keeps
    (run, step, seed, code values, compared runs, ...), in a code box with a copy button. Called
    last by each page, so the link holds what the page has just drawn: the URL's parameters and
    the values given to `link_notice`, which include a widget the page set itself (a bound
    widget changed through session state is not written to the browser's address bar)."""
    from urllib.parse import urlencode

    base = st.context.url or "http://localhost:8501/"
    params = {k: st.query_params.get_all(k) for k in st.query_params}
    for key, value in getattr(_local, "shown", {}).items():
        params[key] = [str(v).lower() if isinstance(v, bool) else str(v)
                       for v in (value if isinstance(value, (list, tuple)) else [value])]
    query = urlencode([(k, v) for k, vs in params.items() for v in vs])
    with st.sidebar.popover("Link to this view", icon=":material/link:", width="stretch"):
        st.caption("Paste it in a browser to reopen this page as it is now (the runs folder must be the same).")
        st.code(base + ("?" + query if query else ""), language=None, wrap_lines=True)


def kept_text_input(label: str, key: str, default: str, **kwargs) -> None:
    """A sidebar text box whose value survives a change of page. Streamlit drops a widget's value
    when the page changes (each page's widgets are its own), which emptied the data folder after
    any click on another page; so the value lives under a plain key and is copied into the widget
    before it is drawn, and back when the user edits it. Pages read st.session_state[key]."""
    st.session_state.setdefault(f"_{key}", default)
    st.session_state[key] = st.session_state[f"_{key}"]
    st.text_input(label, key=key, on_change=lambda: st.session_state.update({f"_{key}": st.session_state[key]}),
                  **kwargs)


def require_run() -> Run:
    """The selected run, or a hint and a stop of the page when there is none."""
    run = selected_run()
    if run is None:
        st.info("No run selected. Start one on the **Train** page or pick one in the sidebar.")
        st.stop()
    return run


def require_checkpoint(run: Run) -> int:
    step = checkpoint_picker(run)
    if step is None:
        st.stop()
    return step


def checkpoint_picker(run: Run, label: str = "Checkpoint", key: str = "step") -> int | None:
    """The run's kept checkpoints, newest first selected; kept in the URL as ?step=N (or `key`)."""
    steps = run.checkpoint_steps()
    if not steps:
        st.info(f"Run **{run.name}** has no checkpoint yet; one is written every "
                "`ckpt_every` steps and when training ends or stops.")
        return None
    step = st.selectbox(f"{label} (training step)", steps, index=len(steps) - 1, key=key, bind="query-params")
    link_notice(**{key: step})
    return step


def ensure_film(run: Run) -> list[int]:
    """The run's film steps, first drawing the panels its kept checkpoints lack (runs trained
    before films; the trainer draws new ones itself, so a live run is left to it)."""
    if not run.is_busy() and film.missing(run):
        with st.status(f"Drawing the film of {run.name}…") as status:
            try:
                done = render_film(run, lambda what, _: status.update(label=f"{run.name}: {what}"))
            except RunError as exc:
                status.update(label=f"{run.name}: a checkpoint could not be drawn", state="error")
                st.warning(str(exc))
            else:
                status.update(label=f"{run.name}: drew {len(done)} film panel(s)", state="complete", expanded=False)
    return film.steps(run)


def film_player(run: Run, key: str, show, live: bool = False) -> None:
    """A step slider over the run's film with Play/Pause; `show(step)` draws the pictures of
    one frame. While playing, or while the run trains, only this part of the page reruns: a
    film that did not exist appears with its first frame, and the slider follows the newest
    frame unless the user moved it off the newest (TensorBoard's images do the same)."""
    steps = ensure_film(run)
    playing_key, step_key, follow_key = f"{key}_playing", f"{key}_step", f"{key}_follow"
    playing = st.session_state.get(playing_key, False)

    def moved() -> None:  # the user's pick: follow new frames again only from the newest one
        now = film.steps(run)
        st.session_state[follow_key] = bool(now) and st.session_state.get(step_key) == now[-1]

    @st.fragment(run_every=0.8 if playing else (3 if live else None))
    def film_frame() -> None:
        now = film.steps(run) or steps
        if not now:
            every = run.status().get("film_every")
            st.info("No film yet: the run adds a frame every few steps and at each checkpoint"
                    + (f" (this one every {every} steps)." if every else "."))
            return
        if st.button("⏸ Pause" if playing else "▶ Play", key=f"{key}_play",
                     help="Step through the film's frames, one every 0.8 s"):
            if not playing and st.session_state.get(step_key) == now[-1]:
                st.session_state[step_key] = now[0]  # play from the start
            st.session_state[playing_key] = not playing
            # a pause keeps its frame, and follows new ones only when that is the newest
            st.session_state[follow_key] = playing and st.session_state.get(step_key) == now[-1]
            st.rerun()
        if st.session_state.get(playing_key):
            i = now.index(st.session_state[step_key]) if st.session_state.get(step_key) in now else -1
            if i + 1 >= len(now):
                st.session_state[playing_key] = False
                st.session_state[follow_key] = True
                st.rerun(scope="app")
            st.session_state[step_key] = now[i + 1]
        elif st.session_state.get(follow_key, True) or st.session_state.get(step_key) not in now:
            st.session_state[step_key] = now[-1]
        step = st.select_slider(f"Training step ({len(now)} frames)", now, key=step_key, on_change=moved)
        show(step)

    film_frame()
