"""InfoGAN Explorer: `streamlit run dashboard.py`. Entry and router; pages live in pages/."""

import streamlit as st

from pages.common import page_list, routed, sidebar

st.set_page_config(page_title="InfoGAN Explorer", page_icon=":material/blur_on:", layout="wide")
sidebar()
page = st.navigation(page_list())
with routed():
    page.run()
