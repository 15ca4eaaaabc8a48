"""Sweeps: many seeds and settings on Ray, read as distributions, with a label-free pick."""

import contextlib
import dataclasses
import time

import pandas as pd
import streamlit as st

from app_pages.common import job_manager, link_notice, select_run, share_link
from infogan.config import BUILTIN_DATASETS, Config, ConfigError
from infogan.figures import parallel_figure, spread_figure
from infogan.ray_runner import check_address, cluster_address
from infogan.runs import RunError
from infogan.scores import EVAL_COLUMNS, TRUTH_SCORES
from infogan.sweeps import (
    CRITERIA,
    EVALUATE,
    MAX_AXES,
    Sweep,
    final_table,
    list_sweeps,
    parse_axis,
    parse_seeds,
    parse_setting,
    selection_table,
    spread,
    with_selection,
)

st.title("Sweeps")
st.caption("An InfoGAN result is a distribution over seeds. A sweep trains every (setting, seed) as an ordinary "
           "run on Ray: the embedded instance on this machine, or the cluster named in the sidebar.")
GRID_FIELDS = [f.name for f in dataclasses.fields(Config) if f.name not in ("seed", "dataset", "data_dir", "download")]


def new_sweep_form(expanded: bool) -> None:
    """The form; a started sweep becomes the selected one on the rerun that follows."""
    existing = [s.name for s in list_sweeps()]
    if st.session_state.get("sweep_name", existing[0] if existing else "") in [*existing, ""]:  # a fresh default
        st.session_state["sweep_name"] = f"sweep-{time.strftime('%Y%m%d-%H%M%S')}"
    with st.expander("New sweep", expanded=expanded), st.form("sweep_form"):
        form_fields()


def form_fields() -> None:
    c1, c2, c3, c4 = st.columns(4)
    dataset = c1.selectbox("Dataset", BUILTIN_DATASETS)
    seeds = c2.text_input("Seeds", "0-3", help="0-7, or 0,3,5")
    epochs = c3.number_input("Epochs", 1, 1000, 2)
    subset = c4.number_input("Subset (0 = all images)", 0, 10**7, 0, step=1000)
    axes = []
    for i in range(MAX_AXES):
        a, b = st.columns([1, 3])
        field = a.selectbox(f"Grid axis {i + 1}", ["(none)", *GRID_FIELDS], key=f"sweep_axis_{i}")
        values = b.text_input(f"Values of axis {i + 1}", key=f"sweep_values_{i}", placeholder="1e-3,5e-4")
        if field != "(none)":
            axes.append(f"{field}={values}")
    other = st.text_input("Other settings", placeholder="batch_size=64 lambda_cont=0.2",
                          help="Any config field as FIELD=VALUE, separated by spaces; the same for every member")
    c1, c2, c3, c4 = st.columns(4)
    parallel = c1.number_input("Trials at once", 0, 1024, 2, help="0: as many as the cluster can place")
    threads = c2.number_input("Threads per trial", 1, 256, 1)
    evaluate = c3.selectbox("Evaluate checkpoints", EVALUATE, help="Labelled datasets: accuracy and code effects")
    name = c4.text_input("Name", key="sweep_name")
    if st.form_submit_button("Start sweep", type="primary"):
        address = cluster_address(st.session_state.get("ray_address"))
        base = {"dataset": dataset, "epochs": int(epochs), "subset": int(subset),
                "data_dir": st.session_state.get("data_dir", "")}
        try:
            base |= dict(parse_setting(kv) for kv in other.split())
            grid = dict(parse_axis(a) for a in axes)
            if address:
                check_address(address)  # before anything is written
            sweep = Sweep.create(name, base, parse_seeds(seeds), grid, int(parallel), int(threads),
                                 ray_address=address, evaluate=evaluate)
            job_manager().sweep(sweep, address)
            st.session_state["sweep_started"] = sweep.name
            st.rerun()
        except ConfigError as exc:
            st.error("The sweep was not created:\n\n" + "\n".join(f"- **{k}**: {v}" for k, v in exc.errors.items()))
        except RunError as exc:
            st.error(str(exc))


sweeps = list_sweeps()
if not sweeps:
    new_sweep_form(expanded=True)
    st.info("No sweeps yet. Start one above, or from a shell: "
            "`python -m infogan sweep --seeds 0-5 --grid lr_g=1e-3,5e-4 --parallel 2`.")
    st.stop()
names = [s.name for s in sweeps]
if st.session_state.get("sweep_started") in names:  # just started from the form
    st.session_state["sweep"] = st.session_state.pop("sweep_started")
picked = st.selectbox("Sweep", names, index=len(names) - 1, key="sweep", bind="query-params")
link_notice(sweep=picked)
sweep = Sweep(sweeps[names.index(picked)].path)
try:
    info = sweep.info()
except RunError as exc:
    st.error(str(exc))
    st.stop()


@st.fragment(run_every=2)
def members() -> None:
    try:
        now = sweep.info()  # re-read: the driver updates it
    except RunError as exc:
        st.error(str(exc))
        return
    state = sweep.state()
    grid = now.get("grid") or {}
    st.markdown(f"**{sweep.name}** · {state} · {len(info['members'])} members · "
                f"seeds {', '.join(map(str, info['seeds']))}"
                + (f" · grid {', '.join(f'{k} = {v}' for k, v in grid.items())}" if grid else "")
                + f" · Ray: {now.get('ray') or now.get('ray_address') or 'embedded'}")
    if now.get("error"):
        st.warning(now["error"])
    b1, b2, b3 = st.columns([1, 1, 4])
    if state == "running" and b1.button("Stop all", type="primary", help="Every trial stops with a checkpoint"):
        sweep.request_stop()
        st.toast("Stopping: each trial saves a checkpoint first")
    if state in ("stopped", "interrupted", "failed", "created") and b2.button(
            "Resume all", help="Unfinished members go on from their newest checkpoints"):
        try:
            job_manager().sweep(sweep)  # the address sweep.json names, checked as HOST:PORT
        except RunError as exc:
            st.error(str(exc))
    table = with_selection(final_table(sweep), now.get("selection") or {})
    shown = ["member", "pick", *(["point"] if grid else []), "seed", "state", "progress", "step", "images_per_s",
             "mi", "accuracy", "fd", "centrality", "node", "attempts", "problem"]
    event = st.dataframe(
        table[shown], hide_index=True, width="stretch", placeholder="–", on_select="rerun", selection_mode="multi-row",
        key="sweep_members",
        column_config={"progress": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="percent"),
                       "images_per_s": st.column_config.NumberColumn("images/s", format="%.0f"),
                       "accuracy": st.column_config.NumberColumn(format="percent"),
                       "fd": st.column_config.NumberColumn("FD", format="%.2f", help="Fréchet distance in the judge "
                                                           "classifier's features, newest evaluation"),
                       "centrality": st.column_config.NumberColumn(format="%.3f")})
    chosen = [table["member"].iloc[i] for i in event.selection.rows]
    if len(chosen) == 1 and b3.button(f"Open {chosen[0]} in Monitor"):
        select_run(chosen[0])
        st.switch_page("app_pages/monitor.py")
    if 2 <= len(chosen) <= 4 and b3.button(f"Compare {len(chosen)} members"):
        st.session_state["compare_runs"] = chosen
        st.switch_page("app_pages/compare.py")
    st.caption("Select one member to open it in Monitor, or 2-4 to compare them. ★ = the label-free pick "
               "(its rule: below).")


members()

st.subheader("Spread over seeds")
codes = []
for run in sweep.runs():
    with contextlib.suppress(RunError):
        codes += [c for c in run.config().code_names if c not in codes]
metrics = ["loss_d", "loss_g", "loss_info", *[f"mi_{c}" for c in codes], *EVAL_COLUMNS]
metric = st.selectbox("Metric", metrics, key="metric", bind="query-params",
                      help="Training metrics: mean per epoch. Accuracy, |rho| of the slant/width codes and the "
                           "sample-quality numbers (fd, precision, recall, density, coverage, score): per evaluated "
                           "checkpoint.")
link_notice(metric=metric)


@st.fragment(run_every=5)
def bands() -> None:
    band = spread(sweep, metric)
    if band.empty:
        st.info(f"No values of {metric} yet." + (" Evaluation numbers appear once members evaluate their "
                                                  "checkpoints (labelled datasets)." if metric in EVAL_COLUMNS else ""))
        return
    st.plotly_chart(spread_figure(band, metric), key=f"spread_{metric}", width="stretch")
    st.download_button("Download the spread (CSV)", band.to_csv(index=False).encode(), f"{sweep.name}_{metric}.csv",
                       "text/csv", on_click="ignore", key="spread_csv")


bands()

grid_axes = list(info.get("grid") or {})
table = final_table(sweep)
finals = [m for m in [*EVAL_COLUMNS, "loss_d", "loss_g"] if pd.to_numeric(
    table.get(m), errors="coerce").notna().any()]
if grid_axes and finals:
    st.subheader("Settings against the result")
    final = st.selectbox("Final metric", finals, key="final", bind="query-params")
    link_notice(final=final)
    st.plotly_chart(parallel_figure(table.dropna(subset=[final]), grid_axes, final), key="parallel", width="stretch")

st.subheader("Label-free pick")
selection = info.get("selection") or {}
if "pick" in selection:
    counts = selection.get("counts", {})
    st.markdown(f"Pick: **{selection['pick']}** · rule: {selection.get('rule', 'ModelCentrality')} "
                f"({selection.get('seconds', '?')} s)")
    ranked = selection_table(selection, table)  # the members table read above
    truth = [m for m in TRUTH_SCORES if m in ranked and ranked[m].notna().any()]  # as `select` prints it
    shown = ["rank", "member", *[c for c in CRITERIA if c in ranked], *truth]
    st.table(ranked[shown].style.format({**{c: "{:.3f}" for c in (*CRITERIA, *TRUTH_SCORES)}, "accuracy": "{:.1%}"},
                                        na_rep="–").hide(axis="index"))
    st.caption(f"ModelCentrality: {counts.get('votes', '?')} votes of {counts.get('batch', '?')} generated images per "
               "member, scored by every other member's Q. Partition consensus: how alike Q's categorical codes "
               f"split the same {counts.get('reference', 2000):,} real images as the others' (labels unused). "
               "Fréchet distance: the newest checkpoint's, in the judge classifier's features (lower is better).")
    for m in (m for m in TRUTH_SCORES if selection.get(m)):
        a, fmt = selection[m], "{:.1%}" if m == "accuracy" else "{:.3f}"
        what = "labels" if m == "accuracy" else f"ground truth, {m}"
        st.markdown(f"Against {what} (not used to pick): pick **{fmt.format(a['pick'])}**, "
                    f"best {fmt.format(a['best'])} ({a['best_member']}), median {fmt.format(a['median'])} of {a['n']}")
        per = a.get("criteria") or {}
        if per:
            st.table(pd.DataFrame([{"criterion": CRITERIA.get(c, c), f"Spearman with {m}": r["spearman"],
                                    "its top member": r["top"], f"top member's {m}": r[f"top_{m}"]}
                                   for c, r in per.items()]).style.format(
                {f"Spearman with {m}": "{:+.2f}", f"top member's {m}": fmt}, na_rep="n/a (≤ 2 members)")
                .hide(axis="index"))
elif selection.get("error"):
    st.warning(f"Ranking failed: {selection['error']}")
else:
    st.caption("Ranked automatically when a sweep completes; or rank the members with a checkpoint now.")
ranking = job_manager().alive(sweep.name, "select")
if ranking:
    st.info("Ranking the members in the background…")
elif st.button("Rank members now", help="Every label-free criterion over the members with a checkpoint (a minute "
                                        "or more)"):
    try:
        job_manager().rank(sweep)
        st.rerun()
    except RunError as exc:
        st.error(str(exc))

with st.expander("Delete this sweep"):
    sure = st.checkbox(f"Yes, delete sweep {sweep.name} and its {len(info['members'])} member run(s), with all "
                       "their checkpoints", key="sweep_delete_sure")
    if st.button("Delete sweep", disabled=not sure, help="Refused while its driver runs or a member is busy"):
        try:
            spared = sweep.delete()
        except RunError as exc:
            st.error(str(exc))
        else:
            if spared:
                st.toast(f"Left alone, not runs of this sweep: {', '.join(spared)}")
            st.query_params.pop("sweep", None)
            st.rerun()

new_sweep_form(expanded=False)
share_link()
