"""Disentanglement: how well each code captures the labels (and, with ground truth, the factors)."""

import streamlit as st

from infogan.data import DataError
from infogan.evaluate import evaluate_run
from infogan.figures import confusion_figure, heatmap
from infogan.runs import RunError
from pages.common import checkpoint_picker, selected_run

st.title("Disentanglement")
run = selected_run()
if run is None:
    st.info("No run selected. Pick one in the sidebar.")
    st.stop()
step = checkpoint_picker(run)
if step is None:
    st.stop()

try:
    results = (run.eval_results() or {}).get("by_step", {}).get(str(step))
except RunError as exc:
    st.warning(f"Previous results unreadable ({exc}); run the evaluation again.")
    results = None
if st.button("Run evaluation for this checkpoint", type="primary" if results is None else "secondary"):
    with st.spinner("Encoding the test set with Q…"):
        try:
            results = evaluate_run(run, step)
        except (RunError, DataError) as exc:
            st.error(str(exc))
if results is None:
    st.info("No evaluation cached for this checkpoint yet. The button above computes it and saves it "
            "to the run's eval.json.")
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
if not cat and not nmi:
    st.info("This dataset has no labels; ground-truth factor metrics come with the dSprites data.")
