"""Views by link: every page keeps what it shows in the URL's query parameters (widgets bound with
bind="query-params"), a pasted link reopens the same view, and a hostile or stale link falls back
to defaults with a notice, never an exception."""

import os
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import PAGES, app, visit

KEYS = ["run", "step", "seed", "c1", "c2", "c3", "c4", "tab", "img", "src", "fit", "map_x", "map_y", "map_colour",
        "rows", "range", "cols", "overlay", "smooth", "log", "picture", "runs", "mode", "alpha", "sweep", "metric",
        "final", "in_sweep", "tags", "q"]


def notices(at) -> str:
    return " ".join(w.value for w in at.warning)


def test_a_link_reopens_the_same_view(monkeypatch, tiny_runs):
    at = visit(app(monkeypatch, tiny_runs, "f", step="10", seed="7", c1="3", c2="1.5", c4="-0.25"),
               "app_pages/explore.py")
    assert at.selectbox(key="step").value == 10 and at.number_input(key="seed").value == 7
    assert at.select_slider(key="c1").value == 3 and at.slider(key="c2").value == 1.5
    assert at.slider(key="c3").value == 0.0 and at.slider(key="c4").value == -0.25
    assert not at.warning and "step 10" in at.get("image")[0].proto.imgs[0].caption
    at = visit(app(monkeypatch, tiny_runs, "f", overlay="g", smooth="0.5", log="true", picture="c2"),
               "app_pages/monitor.py")
    assert at.multiselect(key="overlay").value == ["g"] and at.slider(key="smooth").value == 0.5
    assert at.toggle(key="log").value is True and at.selectbox(key="picture").value == "c2"
    at = visit(app(monkeypatch, tiny_runs, runs="g", step="10", mode="difference"), "app_pages/compare.py")
    assert at.multiselect(key="runs").value == ["g"]  # one run picked: the page asks for a second
    at = visit(app(monkeypatch, tiny_runs, "g", step="10"), "app_pages/disentangle.py")
    assert at.selectbox(key="step").value == 10 and not at.exception


def test_a_stale_or_hostile_link_falls_back_with_a_notice(monkeypatch, tiny_runs):
    at = app(monkeypatch, tiny_runs, "nope", step="999", seed="-4", c1="x", c2="nan", c3="1e9")
    assert "The link's run 'nope' is not in the runs folder; showing g." in notices(at)  # said on arrival
    said = notices(visit(at, "app_pages/explore.py"))
    for shown in ("step=999 cannot be shown here; showing step=20", "seed=-4", "c1=x", "c2=nan", "c3=1e9"):
        assert shown in said, said
    assert at.selectbox(key="step").value == 20 and at.slider(key="c3").value == 0.0
    at = visit(app(monkeypatch, tiny_runs, "f", tab="Code map", map_x="c99", img="100000"), "app_pages/explore.py")
    assert "map_x=c99 cannot be shown here" in notices(at) and not at.exception
    at = visit(app(monkeypatch, tiny_runs, "f", tab="Settings", rows="99", range=["-2", "9"]), "app_pages/explore.py")
    said = notices(at)
    assert "tab=Settings cannot be shown here; showing tab=Generator" in said and not at.exception


def test_without_a_link_the_run_that_changed_last_is_shown(monkeypatch, tiny_runs, tmp_path):
    root = shutil.copytree(tiny_runs, tmp_path / "runs")
    assert app(monkeypatch, root).selectbox(key="run_picker").value == "g"  # trained after f
    later = (root / "g" / "status.json").stat().st_mtime + 60
    os.utime(root / "f" / "status.json", (later, later))  # f resumed, say: first by name, newest by change
    (root / "e").mkdir()  # a folder with no status.json counts as oldest
    at = app(monkeypatch, root)
    assert at.selectbox(key="run_picker").value == "f" and at.selectbox(key="run_picker").options[:2] == ["e", "f"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(page=st.sampled_from(PAGES),
       params=st.dictionaries(st.sampled_from(KEYS), st.one_of(
           st.text(max_size=12), st.sampled_from(["f", "g", "10", "20", "-1", "1e308", "nan", "Code map", "Real image",
                                                  "true", "c1", "0.5", "%00", "../../etc"])), max_size=6))
def test_no_link_makes_a_page_raise(monkeypatch, tiny_runs, page, params):
    at = app(monkeypatch, tiny_runs, **{k: v for k, v in params.items() if v})
    at.switch_page(page).run()
    assert not at.exception, (page, params, [e.value for e in at.exception])


@pytest.mark.parametrize("page", ["app_pages/explore.py", "app_pages/monitor.py"])
def test_every_page_offers_a_link_to_its_view(monkeypatch, tiny_runs, page):
    at = visit(app(monkeypatch, tiny_runs, "f", seed="3", smooth="0.2"), page)
    link = at.get("code")[-1].value  # the sidebar's "Link to this view" box
    assert link.startswith("http") and "run=f" in link
    assert ("seed=3" if page == "app_pages/explore.py" else "smooth=0.2") in link
