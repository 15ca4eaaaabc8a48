"""InfoGAN Explorer: `streamlit run dashboard.py`. Entry and router; pages live in pages/."""

import streamlit as st

from pages.common import routed, sidebar

st.set_page_config(page_title="InfoGAN Explorer", page_icon=":material/blur_on:", layout="wide")

PAGES = [
    st.Page("pages/runs.py", title="Runs", icon=":material/table_rows:", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/play_circle:"),
    st.Page("pages/monitor.py", title="Monitor", icon=":material/monitoring:"),
    st.Page("pages/explore.py", title="Explore", icon=":material/tune:"),
    st.Page("pages/disentangle.py", title="Disentanglement", icon=":material/grid_on:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
]

sidebar()
page = st.navigation(PAGES)
with routed():
    page.run()
