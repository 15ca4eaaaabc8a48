"""Monitor: live charts of the losses and MI bounds (refreshed about once a second), Q's use of
each categorical code on real images, and the film of training so far."""

import contextlib

import streamlit as st

from app_pages.common import (
    csv_bytes,
    figures,
    film_player,
    frame,
    health,
    link_notice,
    live_charts,
    picture,
    require_run,
    run_names,
    share_link,
)
from infogan import film
from infogan.figures import quality_figure
from infogan.judge import judge_key
from infogan.runs import Run, RunError
from infogan.summary import eval_table, recent_rate

st.title("Monitor")
run = require_run()

c1, c2, c3 = st.columns([3, 2, 1])
overlay = c1.multiselect("Overlay runs", [n for n in run_names() if n != run.name], key="overlay",
                         bind="query-params", help="Draw other runs' curves on the same charts")
smoothing = c2.slider("Smoothing", 0.0, 0.99, 0.0, 0.01, key="smooth", bind="query-params",
                      help="Exponential moving average")
log_y = c3.toggle("Log scale", key="log", bind="query-params", help="Log y-axis for losses and sigma")
link_notice(overlay=overlay, smooth=smoothing, log=log_y)


@st.fragment(run_every=1)
def live_panel() -> None:
    status = run.status()
    state = run.state(status)
    try:
        cfg = run.config().to_dict()
    except RunError as exc:
        st.error(str(exc))
        return
    runs = [run]
    for name in overlay:
        with contextlib.suppress(RunError):
            runs.append(Run.open(name))
    df = frame(run)
    total = status.get("total_steps")
    stage = status.get("stage") if state == "running" else None
    st.markdown(f"**{run.name}** · {state} · step {status.get('step', 0)}"
                + (f" / {total}" if total else "")
                + (f" · {recent_rate(df):.0f} images/s" if "images_per_s" in df else "")
                + (f" · {status['precision']}" if isinstance(status.get("precision"), str) else "")
                + (f" · **{stage}…**" if stage else ""))
    if state == "stopped" and status.get("reason"):
        st.caption(f"Stopped: {status['reason']}. Resume it on the Train page or with "
                   f"`python -m infogan train --resume {run.name}`.")
    probe = status.get("precision_probe")
    if isinstance(probe, dict) and probe.get("reason"):
        st.caption(f"Precision chosen at the start (precision = auto): {probe['reason']}")
    if status.get("error"):
        st.error(status["error"])
    if df.empty:
        st.info(f"No metrics logged yet: the first point appears after {cfg['log_every']} steps"
                + (f" (now: {stage})." if stage else "."))
        return
    live_charts(figures(runs, cfg, smoothing, log_y), "monitor_charts")  # rebuilt only when a metrics file changed
    code_health_panel()
    st.download_button("Download metrics (CSV)", csv_bytes(run), f"{run.name}_metrics.csv",
                       "text/csv", on_click="ignore", key="csv")


def code_health_panel() -> None:
    """Q's choices per categorical code on real images (logged by the trainer) beside the MI bound."""
    found = health(run)
    if not found:
        return
    st.markdown("**Categorical code health** · how often Q picks each value on the same 256 real "
                "training images: a collapsed value shows as an empty bar, merged classes as a doubled one")
    live_charts({f"usage_{code}": fig for code, fig, _ in found}, "monitor_usage", min(len(found), 2))
    for _, _, verdict in found:
        if verdict:
            st.warning(verdict)


live_panel()


@st.fragment(run_every=5)
def sample_quality() -> None:
    """FD and precision/recall per evaluated checkpoint (evaluations write them, not the trainer)."""
    tables = {}
    for name in [run.name, *overlay]:
        with contextlib.suppress(RunError):
            table = eval_table(Run.open(name))
            if "fd" in table:
                tables[name] = table.dropna(subset=["fd"])
    how = ("Evaluate every checkpoint on the Disentanglement page, or `python -m infogan eval RUN "
           "--every-checkpoint`.")
    if tables:
        st.plotly_chart(quality_figure(tables), key="quality", width="stretch")
        st.caption("Per evaluated checkpoint, in the features of a classifier trained on the dataset (the judge): "
                   "Fréchet distance to the test images, the classifier score, and precision/recall/density/"
                   f"coverage (k = 5). Dashed: real training images scored the same way. {how}")
    else:
        with contextlib.suppress(RunError):
            if judge_key(run.config().dataset):
                st.caption(f"No checkpoint of {run.name} has sample-quality numbers yet. {how}")


st.subheader("Sample quality over training")
sample_quality()

@st.fragment(run_every=2 if run.is_busy() else None)
def latest_samples() -> None:
    """The fixed-noise grid the trainer writes every `sample_every` steps, newest first."""
    paths = run.sample_paths()
    if not paths:
        every = run.status().get("sample_every")
        st.caption("No samples yet" + (f": the trainer writes them every {every} steps." if every else "."))
        return
    step = int(paths[-1].stem.split("_")[1])
    st.image(picture(paths[-1]), caption=f"Step {step} · the same noise in every grid: rows = noise seeds 0-7, "
                                         "columns = c1's values (categorical: each value; continuous: -1 to 1)")


st.subheader("Latest samples")
latest_samples()

st.subheader("Film of training")
codes = ["samples"]
with contextlib.suppress(RunError):  # a broken config.json is reported by the charts above
    codes += run.config().code_names
pick = st.selectbox("Picture", codes, key="picture", bind="query-params",
                    help="samples: 64 prior draws; a code: rows = noise seeds 0-7, columns = its values")


def show(at: int) -> None:
    panel = film.load(run, at)
    if panel is not None and pick in panel.names:
        st.image(picture(panel.path(pick)), caption=f"{pick} · step {at} (same inputs in every frame)")


link_notice(picture=pick)
film_player(run, "monitor_film", show, live=run.is_busy())
share_link()
