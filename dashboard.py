"""InfoGAN Explorer: `streamlit run dashboard.py`. Entry and router; pages live in app_pages/."""

import streamlit as st

from app_pages.common import page_list, sidebar

st.set_page_config(page_title="InfoGAN Explorer", page_icon=":material/blur_on:", layout="wide")
sidebar()
page = st.navigation(page_list())
page.run()
