"""The Sweeps page through AppTest: a finished sweep (the session's 2x2 sweep on Ray: members
table, spread, parallel coordinates, the pick), a running one, a damaged sweep.json beside them, and a form that
refuses a bad grid value without creating anything. (Starting and stopping a real sweep from
the form is the browser test's step.)"""

import os

import pytest

from infogan.runs import list_runs
from infogan.sweeps import Sweep, list_sweeps
from tests.conftest import app, visit


def _base(mnist_root) -> dict:
    return {"dataset": "mnist", "data_dir": str(mnist_root), "download": False, "subset": 256, "batch_size": 32,
            "epochs": 2, "log_every": 4, "sample_every": 8, "ckpt_every": 8, "precision": "fp32"}


@pytest.fixture
def finished(sweep_2x2, tmp_path):
    """The session's finished 2x2 sweep "sw" (the README's, on its tiny budget: evaluated, ranked),
    linked into a folder of this test's own."""
    root = tmp_path / "runs"
    root.mkdir()
    for p in sweep_2x2.root.iterdir():
        os.symlink(p, root / p.name)
    return root


def page(monkeypatch, root, sweep=None):
    return visit(app(monkeypatch, root, sweep=sweep), "app_pages/sweeps.py")


def text(at) -> str:
    return " ".join(m.value for m in at.markdown)


def test_a_finished_sweep_shows_members_spread_settings_and_the_pick(monkeypatch, finished):
    at = page(monkeypatch, finished, "sw")
    assert "**sw** · completed · 4 members" in text(at) and "grid lr_g = ['1e-3', '5e-4']" in text(at)
    members = at.dataframe[0].value
    assert list(members["member"]) == ["sw-1-s0", "sw-1-s1", "sw-2-s0", "sw-2-s1"]
    assert (members["state"] == "completed").all() and members["accuracy"].notna().all()
    pick = Sweep.open("sw", finished).info()["selection"]["pick"]
    assert members.set_index("member").loc[pick, "pick"] == "★" and members["fd"].notna().all()
    assert f"Pick: **{pick}** · rule: partition consensus" in text(at)
    assert "Against labels (not used to pick)" in text(at)
    # the ranking (it was an empty box for a 2-member sweep) and each criterion against accuracy, as tables
    ranking, against = (t.value for t in at.table)
    assert list(ranking["member"])[0] == pick and len(ranking) == 4
    assert {"centrality", "consensus_nmi", "consensus_ari", "fd", "accuracy"} <= set(ranking.columns)
    assert list(against["criterion"]) == ["ModelCentrality", "partition consensus (NMI)", "partition consensus (ARI)",
                                          "Fréchet distance"]
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # the spread and the parallel coordinates
    metric = next(s for s in at.selectbox if s.label == "Metric")
    metric.set_value("accuracy").run()
    assert not at.exception
    assert "No values of accuracy" not in " ".join(i.value for i in at.info)
    # the Runs page filters by sweep
    at.switch_page("app_pages/runs.py").run()
    sweep_filter = next(s for s in at.selectbox if s.label == "Sweep")
    sweep_filter.set_value("sw").run()
    assert sorted(at.dataframe[0].value["name"]) == [r.name for r in list_runs(finished)]


def test_a_running_sweep_offers_stop_all_and_a_damaged_one_is_named(monkeypatch, finished, mnist_root):
    root = finished
    live = Sweep.create("live", _base(mnist_root), [0, 1], {}, root=root)
    (root / "broken").mkdir()
    (root / "broken" / "sweep.json").write_text("{not json")
    with live.lease():  # this process is its driver, as far as any reader can tell
        live.update(state="running", pid=os.getpid(), started=1.0)
        at = page(monkeypatch, root, "live")
        assert "**live** · running · 2 members" in text(at)
        assert list(at.dataframe[0].value["state"]) == ["queued", "queued"]
        stop = next(b for b in at.button if b.label == "Stop all")
        stop.click().run()
        assert live.stop_requested()
    at.selectbox(key="sweep").set_value("broken").run()
    assert not at.exception
    assert any("broken/sweep.json is not valid JSON" in e.value for e in at.error)
    assert [s.name for s in list_sweeps(root)] == ["broken", "live", "sw"]


def test_the_form_refuses_a_bad_grid_value_and_creates_nothing(monkeypatch, tmp_path):
    at = page(monkeypatch, tmp_path)
    assert "No sweeps yet" in " ".join(i.value for i in at.info)
    from infogan.config import BUILTIN_DATASETS  # the form's datasets are the registry's (tests/test_datasets.py)

    assert list(next(s for s in at.selectbox if s.label == "Dataset").options) == list(BUILTIN_DATASETS)
    at.selectbox(key="sweep_axis_0").set_value("lr_g")
    at.text_input(key="sweep_values_0").set_value("1e-3,7")
    next(b for b in at.button if b.label == "Start sweep").click().run()
    errors = " ".join(e.value for e in at.error)
    assert "The sweep was not created" in errors and "lr_g at grid point 2 (lr_g=7)" in errors
    assert list(tmp_path.iterdir()) == []


def test_a_note_typed_under_one_sweep_filter_stays_on_its_run(monkeypatch, tmp_path, mnist_root):
    """The table's edits are kept by row position: after switching the Sweep filter, a note typed
    on row 2 of sweep a must not land on row 2 of sweep b (nor after a rename reorders rows)."""
    for name in ("a", "b"):
        Sweep.create(name, _base(mnist_root), [0, 1], {}, root=tmp_path)
    at = visit(app(monkeypatch, tmp_path, in_sweep="a"), "app_pages/runs.py")
    editor = next(k for k in at.session_state if str(k).startswith("runs_table_"))
    assert list(at.dataframe[0].value["name"]) == ["a-s1", "a-s0"]  # newest first
    at.session_state[editor] = {"edited_rows": {0: {"note": "typed on a-s1"}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert (tmp_path / "a-s1" / "notes.json").is_file()
    at.selectbox(key="in_sweep").set_value("b").run()
    assert not at.exception and list(at.dataframe[0].value["name"]) == ["b-s1", "b-s0"]
    at.run()  # and once more, as the table's next edit or the 2 s refresh would
    from infogan.runs import Run

    assert Run(tmp_path / "a-s1").notes()["note"] == "typed on a-s1"
    assert not any((tmp_path / n / "notes.json").exists() for n in ("a-s0", "b-s0", "b-s1"))
