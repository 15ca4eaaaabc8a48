"""Runs: every run folder, its state and latest numbers; open, compare, rename, delete."""

import base64
import hashlib
from pathlib import Path

import pandas as pd
import streamlit as st

from app_pages.common import job_manager, link_notice, select_run, share_link, summaries
from infogan.jobs import demo_config
from infogan.runs import MAX_NOTE, Run, RunError
from infogan.summary import state_label

# what each demo of jobs.demo_config shows, under its button
DEMO_SHOWS = {
    "mnist": "Digits: the categorical code c1 draws the digit class, the continuous codes slant and width. "
             "A few minutes on a CPU.",
    "dsprites": "White shapes with ground-truth factors (MNIST's files are not in the data folder): live "
                "FactorVAE and MIG while it trains. A few minutes on a CPU.",
    "shapes3d": "Colour scenes with ground-truth factors: on most runs floor, wall and object hue each turned by "
                "a code of its own (some runs draw a hue from two codes), live on the Monitor page. About 8 "
                "minutes on 2 CPU cores with bf16 kernels (AVX512), about twice that on AVX2 alone.",
}

st.title("Runs")
rows = summaries()

if not rows:
    st.markdown(
        "### Welcome to InfoGAN Explorer\n"
        "InfoGAN splits a GAN's input into noise **z** and latent codes **c**, and trains an "
        "auxiliary head **Q** to recover c from the image, maximising a lower bound on the "
        "mutual information I(c; G(z, c)). The codes end up controlling factors such as digit "
        "class, slant and width.\n\nNo runs yet. New to InfoGAN? The **Learn** page shows the idea on a 2D "
        "model that trains in seconds. Or start a short demo run (a few minutes on a CPU), or configure one on "
        "the **Train** page.")
    st.page_link("app_pages/learn.py", label="Learn what InfoGAN does (a 2D demo in seconds)", icon=":material/school:")
    data_dir = st.session_state.get("data_dir", "data")
    for column, cfg, kind in zip(st.columns(2), (demo_config(data_dir), demo_config(data_dir, colour=True)),
                                 ("primary", "secondary")):
        if column.button(f"Start a quick demo run on {cfg.dataset}", type=kind, key=f"demo_{cfg.dataset}",
                         width="stretch"):
            job = job_manager().start(cfg, None)
            select_run(job.run.name)
            st.switch_page("app_pages/monitor.py")
        column.caption(DEMO_SHOWS[cfg.dataset])
    st.stop()


def thumb(path: str | None) -> str | None:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode() if path else None


sweep_names = sorted({r["sweep"] for r in rows if r.get("sweep")})
all_tags = sorted({t for r in rows for t in r.get("tags") or []})
f1, f2, f3 = st.columns([2, 2, 3])
if sweep_names:
    only = f1.selectbox("Sweep", ["(all runs)", *sweep_names], key="in_sweep", bind="query-params",
                        help="Show one sweep's members only")
    if only != "(all runs)":
        rows = [r for r in rows if r.get("sweep") == only]
tags = f2.multiselect("Tags", all_tags, key="tags", bind="query-params", help="Runs with every tag picked") \
    if all_tags else []
text = f3.text_input("Search", placeholder="name or note", key="q", bind="query-params",
                     help="Runs whose name or note contains this text")
link_notice(tags=tags, **({"in_sweep": only} if sweep_names else {}))
rows = [r for r in rows if set(tags) <= set(r.get("tags") or [])
        and (not text or text.lower() in (r["name"] + " " + (r.get("note") or "")).lower())]

rows.sort(key=lambda r: r.get("started") or 0, reverse=True)  # newest first
# what a user scans for first (state, accuracy, MI, problems) before what identifies the setup
table = pd.DataFrame([{
    "select": False, "sample": thumb(r.get("thumbnail")), "name": r["name"], "open": f"monitor?run={r['name']}",
    "state": state_label(r), "progress": r.get("progress"), "accuracy": r.get("accuracy"),
    "MI bounds": r.get("mi") or "", "problem": r.get("problem") or "", "step": r["step"],
    "dataset": r.get("dataset") or "", "layout": r.get("layout") or "", "note": r.get("note") or "",
    "tags": ", ".join(r.get("tags") or []), "loss_d": r.get("loss_d"), "loss_g": r.get("loss_g"),
    "sweep": r.get("sweep") or ""} for r in rows])
# The editor's edits are kept by row position under its key, so the key names the rows shown:
# another filter, a rename or a reorder starts a fresh editor instead of replaying a note typed
# on row 2 onto whichever run is row 2 now. Edits are then matched to runs by name.
shown = hashlib.sha256("\n".join(r["name"] for r in rows).encode()).hexdigest()[:16]
edited = st.data_editor(
    table, hide_index=True, width="stretch", key=f"runs_table_{shown}", row_height=64, placeholder="–",
    disabled=[c for c in table.columns if c not in ("select", "note", "tags")],
    column_config={
        "select": st.column_config.CheckboxColumn("✓", help="Select to open, compare (2-4), rename or delete"),
        "sample": st.column_config.ImageColumn("sample", width="small", help="Its latest fixed-noise samples"),
        "open": st.column_config.LinkColumn("open", display_text="Monitor ↗", width="small",
                                            help="Open the run on the Monitor page in a new tab"),
        "note": st.column_config.TextColumn("note", max_chars=MAX_NOTE, help="Your note on the run (notes.json)"),
        "tags": st.column_config.TextColumn("tags", help="Comma-separated, e.g. baseline, lr-sweep"),
        "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent"),
        "loss_d": st.column_config.NumberColumn(format="%.3f"),
        "loss_g": st.column_config.NumberColumn(format="%.3f"),
        "accuracy": st.column_config.NumberColumn(format="percent"),
    }) if rows else table
before_by_name = {r.name: r for r in table.itertuples()} if rows else {}
for after in edited.itertuples() if rows else []:
    before = before_by_name.get(after.name)
    if before is not None and (before.note != after.note or [t.strip() for t in before.tags.split(",")] != [
            t.strip() for t in (after.tags or "").split(",")]):
        try:
            Run.open(after.name).set_notes(after.note or "", after.tags or "")
        except RunError as exc:
            st.error(f"{after.name}: {exc}")
picked = list(edited["name"][edited["select"]]) if rows else []
c1, c2 = st.columns([4, 1])
c1.caption(f"{len(rows)} run(s). Tick runs to open, compare (2-4), rename or delete; edit a note or tags in "
           "place (saved in the run's notes.json).")
c2.download_button("Table as CSV", edited.drop(columns=["select", "sample", "open"]).to_csv(index=False).encode()
                   if rows else b"", "runs.csv", "text/csv", on_click="ignore",
                   disabled=not rows)

if not picked:
    share_link()  # the sidebar's link box, as on every page (it is drawn last)
    st.stop()
cols = st.columns(4)
if len(picked) == 1:
    if cols[0].button("Open in Monitor", type="primary"):
        select_run(picked[0])
        st.switch_page("app_pages/monitor.py")
    if cols[1].button("Explore codes"):
        select_run(picked[0])
        st.switch_page("app_pages/explore.py")
if 2 <= len(picked) <= 4 and cols[2].button("Compare selected", type="primary"):
    st.session_state["compare_runs"] = picked
    st.switch_page("app_pages/compare.py")

# the runs' leases and sweeps, so a CLI run, another server's job or another machine's counts too
busy = []
for n in picked:
    try:
        Run.open(n).check_free("renamed or deleted")
    except RunError as exc:
        busy.append(str(exc))
with st.expander("Rename or delete"):
    if busy:
        st.warning("\n\n".join(busy))
    elif len(picked) == 1:
        new = st.text_input("New name", value=picked[0])
        if st.button("Rename") and new != picked[0]:
            try:
                Run.open(picked[0]).rename(new)
                select_run(new)
                st.rerun()
            except RunError as exc:
                st.error(str(exc))
    if not busy:
        sure = st.checkbox(f"Yes, delete {len(picked)} run(s) and all their checkpoints: {', '.join(picked)}")
        if st.button("Delete", disabled=not sure):
            try:
                for n in picked:
                    Run.open(n).delete()
            except RunError as exc:  # it started training or evaluating since the table was drawn
                st.error(str(exc))
            else:
                st.session_state.pop("run", None)
                st.rerun()
share_link()
