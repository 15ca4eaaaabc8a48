"""Compare: 2-4 runs side by side, the same noise seeds and code values, one step slider for all."""

import contextlib
from pathlib import Path

import pandas as pd
import streamlit as st

from app_pages.common import ensure_film, frame, link_notice, picture, share_link
from infogan import film
from infogan.evaluate import aligned_order, labels_near
from infogan.figures import monitor_figures, quality_figure
from infogan.latent import codes_of
from infogan.runs import Run, RunError, list_runs
from infogan.scores import QUALITY
from infogan.summary import eval_row, eval_table

st.title("Compare runs")
options = [r.name for r in list_runs() if r.checkpoint_steps() or film.steps(r)]
if len(options) < 2:
    st.info("Comparing needs at least two runs with a saved checkpoint.")
    st.stop()
wanted = st.session_state.pop("compare_runs", None)
if wanted:  # arriving from the Runs or Sweeps page
    st.session_state["runs"] = [n for n in wanted if n in options][:4]
picked = st.multiselect("Runs (2 to 4)", options, key="runs", max_selections=4, bind="query-params",
                        default=None if "runs" in st.session_state else options[-2:])
link_notice(runs=picked)
if len(picked) < 2:
    st.info("Pick two to four runs.")
    st.stop()

runs, films, names = {}, {}, None
for name in picked:
    try:
        run = Run.open(name)
        cfg = run.config()
    except RunError as exc:
        st.error(f"{name}: {exc}")
        continue
    steps = ensure_film(run)
    if steps:
        runs[name], films[name] = run, steps
        names = [n for n in ["samples", *cfg.code_names] if names is None or n in names]
if len(runs) < 2:
    st.info("Fewer than two of these runs have a film to compare.")
    st.stop()

union = sorted(set().union(*films.values()))
c1, c2 = st.columns([1, 3])
shown_name = c1.selectbox("Picture", names, key="picture", bind="query-params",
                          help="samples: 64 prior draws; a code: rows = noise seeds 0-7, columns = its values. "
                               "The same inputs in every run.")
if st.session_state.get("step") not in union:
    st.session_state["step"] = union[-1]
step = c2.select_slider("Training step (moves every run; each shows its nearest saved step)", union,
                        key="step", bind="query-params")
link_notice(picture=shown_name, step=step)
shown = {name: film.nearest(steps, step) for name, steps in films.items()}
paths = {name: film.load(runs[name], s).path(shown_name) for name, s in shown.items()}
if any(s != step for s in shown.values()):
    st.caption(f"Not all at step {step}: each run shows its nearest saved step ("
               + ", ".join(f"{n} · {s}" for n, s in shown.items()) + ").")
first, second = list(runs)[:2]
cat = {c.name: c.k for c in codes_of(runs[first].config()) if c.kind == "cat"}
if shown_name in cat:
    # each run numbers its categories its own way: line them up by the labels its evaluation matched
    near = {n: labels_near(runs[n], shown[n]) for n in runs}
    aligned = []
    for name in list(runs)[1:]:
        order = aligned_order(near[first][1].get(shown_name, {}), near[name][1].get(shown_name, {}), cat[shown_name])
        if order is not None:
            with contextlib.suppress(ValueError):  # a grid of another layout: left as it is, and said below
                paths[name] = film.reorder_columns(paths[name], order)
                aligned.append(f"{name} (evaluated at step {near[name][0]}: {shown_name} = "
                               + ", ".join(str(v) for v in order) + ")")
    if aligned:
        st.caption(f"{shown_name} aligned by label: each column shows the category that the runs' evaluations "
                   f"matched to the same label as {first}'s column (evaluated at step {near[first][0]}); "
                   "reordered: " + "; ".join(aligned) + ".")
    if len(aligned) < len(runs) - 1:
        st.warning(f"{shown_name} is categorical: each run numbers its values its own way (one run's value 3 may "
                   "be the other's 7), so these columns need not mean the same. Evaluate the runs (Disentanglement "
                   "page) and their columns line up here by the labels the evaluations matched.")

mode = "side by side"
if len(runs) == 2:
    m1, m2 = st.columns([2, 2])
    mode = m1.radio("Show", ["side by side", "overlay", "difference"], horizontal=True, key="mode", bind="query-params",
                    help="overlay: the second run laid over the first; difference: |first - second|, stretched "
                         "so the largest difference is white")
    link_notice(mode=mode)
if mode == "side by side":
    for col, (name, path) in zip(st.columns(len(paths)), paths.items()):
        shown_picture = picture(path) if isinstance(path, Path) else film.picture(path, 2)
        col.image(shown_picture, caption=f"{name} · step {shown[name]}", width="stretch")
else:
    try:
        if mode == "overlay":
            alpha = m2.slider(f"Opacity of {second}", 0.0, 1.0, 0.5, 0.05, key="alpha", bind="query-params")
            link_notice(alpha=alpha)
            st.image(film.picture(film.overlay(paths[first], paths[second], alpha), 3),
                     caption=f"{first} · step {shown[first]} under {second} · step {shown[second]} at {alpha:.0%}")
        else:
            diff, mean = film.difference(paths[first], paths[second])
            st.image(film.picture(diff, 3), caption=f"|{first} · step {shown[first]} − {second} · step "
                                                    f"{shown[second]}| · mean difference {mean:.1%} of full scale")
    except ValueError as exc:
        st.warning(str(exc))


def metric_row(name: str, run: Run, at: int) -> dict:
    df = frame(run)
    last = df[df.index <= at].iloc[-1].to_dict() if not df.empty and (df.index <= at).any() else {}
    try:
        ev = eval_row(run.eval_result(at) or {})
    except RunError:
        ev = {}
    return {"run": name, "step": at, "dataset": run.config().dataset, "accuracy": ev.get("accuracy"),
            **{k: ev.get(k) for k in QUALITY}, **{k: v for k, v in last.items() if k.startswith(("mi_", "loss_"))}}


table = pd.DataFrame([metric_row(n, runs[n], shown[n]) for n in runs])
for col in table.columns.drop(["run", "dataset"]):
    table[col] = pd.to_numeric(table[col], errors="coerce")  # a number not measured: "–", not "None"
st.dataframe(table, hide_index=True, placeholder="–",
             column_config={"accuracy": st.column_config.NumberColumn(format="percent"),
                            "fd": st.column_config.NumberColumn("FD", format="%.2f",
                                                                help="Fréchet distance in the judge's features"),
                            **{k: st.column_config.NumberColumn(format="%.3f") for k in QUALITY[1:]}})
st.caption("Numbers at each run's shown step. Accuracy and sample quality (FD: lower is better; the others: "
           "higher) appear once a checkpoint is evaluated (Disentanglement page: this checkpoint, or every checkpoint "
           "at once).")
figs = monitor_figures({n: frame(r) for n, r in runs.items()}, runs[first].config().to_dict())
left, right = st.columns(2)
left.plotly_chart(figs["mi"], width="stretch", key="cmp_mi")
right.plotly_chart(figs["losses"], width="stretch", key="cmp_loss")
if "disentanglement" in figs:  # dSprites runs measured while training (disent_every)
    st.plotly_chart(figs["disentanglement"], width="stretch", key="cmp_disent")
quality = {n: t.dropna(subset=["fd"]) for n, t in ((n, eval_table(r)) for n, r in runs.items()) if "fd" in t}
if quality:
    st.plotly_chart(quality_figure(quality), width="stretch", key="cmp_quality")
share_link()
