"""Disentanglement: how well each code captures the labels (and, with ground truth, the factors)."""

import streamlit as st

from app_pages.common import job_manager, require_checkpoint, require_run, share_link
from infogan.budget import current
from infogan.config import ESTIMATORS
from infogan.datasets import dsprites_stride
from infogan.figures import (
    confusion_figure,
    eval_figure,
    factor_figures,
    heatmap,
    live_factor_heatmap,
    metric_table,
    published_applies,
    published_line,
    quality_table,
)
from infogan.files import FileError
from infogan.jobs import EVERY
from infogan.judge import cached_judge, judge_key
from infogan.quality import describe
from infogan.runs import RunError
from infogan.summary import eval_table

st.title("Disentanglement")
run = require_run()
step = require_checkpoint(run)

try:
    results = run.eval_result(step)
except RunError as exc:
    st.warning(f"Previous results unreadable ({exc}); run the evaluation again.")
    results = None
busy = run.eval_busy()
c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
basic = c1.button("Run evaluation for this checkpoint", type="primary" if results is None else "secondary",
                  disabled=busy)
full = c2.button("Run all disentanglement metrics", disabled=busy,
                 help="MIG, FactorVAE, DCI, SAP, modularity/explicitness with disentanglement_lib's sample "
                      "counts times the scale (datasets with ground-truth factors)")
scale = c3.number_input("Sample scale", 0.01, 1.0, 1.0, 0.05, help="1.0 = disentanglement_lib's defaults")
estimator = c4.selectbox("Estimator", ESTIMATORS,
                         help="fast: images encoded once and shared by the metrics, DCI on histogram trees "
                              "(about 30 s for dSprites on 2 CPU cores); reference: disentanglement_lib's "
                              "procedure (about 9 minutes)")
every = st.button("Evaluate every checkpoint (metrics over training)", disabled=busy,
                  help="Each kept checkpoint not evaluated yet, oldest first, in the background; with ground-truth "
                       "factors every metric at the sample scale above")
try:
    cfg = run.config()
except RunError as exc:
    st.error(str(exc))
    st.stop()
judge = False
if not busy and judge_key(cfg.dataset):
    try:
        cached = cached_judge(cfg.dataset, cfg.resolved_data_dir(), current()) is not None
    except (FileError, RunError) as exc:  # unreadable, or too weak to score samples
        cached, why = False, str(exc)
    else:
        why = ""
    if not cached:
        st.caption(f"Sample quality is read in a judge classifier of {cfg.dataset}, trained once per dataset "
                   "on its first evaluation (minutes on a CPU; its own progress and time left show above the results). "
                   "The numbers that need no judge are saved and shown first." + (f" ({why})" if why else ""))
        judge = not why and st.button(f"Train the {cfg.dataset} judge now", help="In the background, once for "
                                      "this dataset: every later evaluation of any run on it starts from the cache")
if basic or full or every or judge:
    metrics = "judge" if judge else "all" if full or (every and dsprites_stride(run.config().dataset)) else "basic"
    try:  # a background job: other tabs and the Monitor keep answering while it runs
        job_manager().evaluate(run, None if every else step, metrics, scale if metrics == "all" else 1.0,
                               estimator)
    except RunError as exc:
        st.error(str(exc))
    else:
        st.rerun()  # draw the page again with the buttons disabled and the progress bar


def eval_version() -> float:
    try:
        return (run.path / "eval.json").stat().st_mtime
    except OSError:
        return 0.0


drawn_version = eval_version()


@st.fragment(run_every=1)
def eval_progress() -> None:
    job = run.eval_job() or {}
    if eval_version() != drawn_version:
        st.rerun()  # a part is saved (accuracy before a first judge trains): show it now
    if run.eval_busy(job):
        what = "every checkpoint" if job.get("step") == EVERY else f"step {job.get('step')}"
        doing = f"Training the {cfg.dataset} judge" if job.get("metrics") == "judge" else f"Evaluating {what}"
        st.progress(min(max(float(job.get("done") or 0), 0.0), 1.0),
                    text=f"{doing} in the background: {job.get('stage', '…')}")
        return
    st.rerun()  # finished (or failed): draw the page again with what it left


if busy:
    eval_progress()
job = run.eval_job() or {}
if not busy and job.get("state") == "failed" and job.get("step") in (step, EVERY):
    st.error(f"The last evaluation of {'every checkpoint' if job.get('step') == EVERY else f'step {step}'} "
             f"failed: {job.get('error')}")
over = eval_table(run)
if len(over) >= 2:
    st.plotly_chart(eval_figure(over, reference=published_applies(run.config().dataset)), width="stretch",
                    key="over_training")
live = live_factor_heatmap(run) if results is None or "factors" not in results else None
if live:  # measured while training (disent_every): shown until this checkpoint's own evaluation exists
    st.plotly_chart(live[0], width="stretch", key="live_heatmap")
    st.caption(live[1] + " Measured on 5,000 images while training; the evaluation below uses 10,000.")
if results is None:
    if not busy:
        st.info("No evaluation cached for this checkpoint yet. The button above computes it in the "
                "background and saves it to the run's eval.json.")
    st.stop()

cat = results.get("categorical")
if cat:
    st.metric(f"Unsupervised accuracy of {cat['best_code']} (Hungarian match)", f"{cat['accuracy']:.2%}",
              help="Q's argmax on the real test images, best one-to-one code-to-label mapping")
    for name, res in cat["codes"].items():
        st.plotly_chart(confusion_figure(res["confusion"], res["label_to_code"], name), width="stretch",
                        key=f"conf_{name}")
nmi = results.get("code_label_nmi")
if nmi:
    st.plotly_chart(heatmap([nmi["nmi"]], nmi["codes"], ["label"], "Normalised MI between each code and the "
                            "label: I(code; label) / H(label)", "code", "", zmin=0, zmax=1), width="stretch",
                    key="nmi")
effects = results.get("continuous")
if effects:
    codes = list(effects["codes"])
    measures = list(effects["codes"][codes[0]])  # eval.json files before thickness have two
    st.plotly_chart(heatmap([[effects["codes"][c][m] for m in measures] for c in codes], measures, codes,
                            "Spearman correlation of each continuous code with the " + ", ".join(measures)
                            + " of generated digits (other inputs fixed)", "measure", "code", zmin=-1, zmax=1),
                    width="stretch", key="effects")
    if "effect" in effects:  # eval.json files before effect sizes have only the correlations
        size = [[effects["effect"][c][m] for m in measures] for c in codes]
        top = max(1.0, *(abs(v) for row in size for v in row))
        st.plotly_chart(heatmap(size, measures, codes, "How far each code moves each measure from −1 to +1, in "
                                "standard deviations (a steady but slight change also has |ρ| = 1)", "measure",
                                "code", zmin=-top, zmax=top), width="stretch", key="effect_size")
    st.caption("One code per measure (Hungarian match): " + ", ".join(
        f"{m} → **{b['code']}** (ρ {b['spearman']:+.2f})" for m, b in effects["best"].items())
        + ". A good MNIST run reaches |ρ| ≥ 0.8 on both.")
factors = results.get("factors")
if factors:
    st.dataframe(metric_table(factors), hide_index=True, placeholder="–", column_config={
        "score": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="%.3f")})
    reference = (f" Reference (original dSprites, InfoGAN-CR paper, Table 1): {published_line()}."
                 if published_applies(run.config().dataset) else "")
    st.caption(f"Sample scale {factors.get('scale', 1.0)} of disentanglement_lib's defaults, "
               f"{factors.get('estimator', 'reference')} estimator, seed {factors.get('seed', 0)}.{reference}")
    for key, fig in factor_figures(factors).items():
        st.plotly_chart(fig, width="stretch", key=f"factor_{key}")
q = results.get("quality")
if results.get("quality_skipped"):
    st.warning(f"Sample quality was not measured for this checkpoint: {results['quality_skipped']}")
if q:
    st.subheader("Sample quality")
    st.dataframe(quality_table(q), hide_index=True, placeholder="–", column_config={
        "generated": st.column_config.NumberColumn(format="%.4g"),
        "real data": st.column_config.NumberColumn(format="%.4g")})
    st.caption(describe(q) + f". {q.get('seconds', '?')} s. The same numbers over training: Monitor.")
elif judge_key(cfg.dataset) and not results.get("quality_skipped"):
    st.caption("Sample quality comes last, in the judge's features (its progress is above)." if busy else
               "No sample-quality numbers for this checkpoint: it was evaluated before they existed, or without "
               "them; run the evaluation again.")
if not cat and not nmi and not factors:
    st.info("This dataset has neither labels nor ground-truth factors, so there is nothing to score, and no "
            "judge classifier for sample quality (one needs labels to be trained); use the Explore page to judge "
            "the codes and the images by eye.")
share_link()
