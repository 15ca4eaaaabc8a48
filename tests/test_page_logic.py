"""Logic the pages used to hold, now functions in infogan/ (issue #38): each tested as a function."""

import shutil

import pandas as pd
import pytest

from infogan import latent
from infogan.config import Config
from infogan.figures import REFERENCE_DSPRITES, published_line
from infogan.runs import Run
from infogan.summary import eta_minutes
from infogan.sweeps import with_selection


def test_the_published_scores_caption_comes_from_the_one_table():
    line = published_line()
    assert line == ("InfoGAN (modified) FactorVAE 0.82, MIG 0.22, DCI disentanglement 0.60; "
                    "InfoGAN-CR FactorVAE 0.88, MIG 0.37")
    assert all(f"{mean:.2f}" in line for rows in REFERENCE_DSPRITES.values() for _, mean, _ in rows)


def test_the_members_table_marks_the_pick_and_each_centrality():
    final = pd.DataFrame({"member": ["a", "b", "c"], "seed": [0, 1, 2]})
    table = with_selection(final, {"names": ["a", "b"], "centrality": [0.4, 0.7], "pick": "b"})
    assert list(table.columns[:2]) == ["member", "pick"] and list(table["pick"]) == ["", "★", ""]
    assert list(table["centrality"])[:2] == [0.4, 0.7] and pd.isna(table["centrality"].iloc[2])
    assert list(final.columns) == ["member", "seed"]  # the caller's frame is left as it was
    assert list(with_selection(final, {})["pick"]) == ["", "", ""]


def test_knob_values_split_into_categorical_and_continuous():
    cfg = Config.from_dict({"cat_codes": [10, 3], "n_cont": 2})
    cat, cont = latent.split_values(cfg, {"c1": 4, "c2": 2.0, "c3": 0.5, "c4": -1, "c9": 1})
    assert cat == {"c1": 4, "c2": 2} and cont == {"c3": 0.5, "c4": -1.0}
    assert all(isinstance(v, int) for v in cat.values()) and all(isinstance(v, float) for v in cont.values())


def test_eta_at_the_recent_rate():
    assert eta_minutes(40, 100, 64.0, 32) == pytest.approx(60 / 2 / 60)  # 60 steps at 2 steps/s
    assert eta_minutes(0, 0, 64.0, 32) is None and eta_minutes(0, 100, None, 32) is None


def test_a_run_is_offered_for_resume_only_when_it_can_go_on(tiny_runs, tmp_path):
    run = Run(shutil.copytree(tiny_runs / "f", tmp_path / "f"))
    assert not run.resumable()  # completed: it takes more epochs instead
    run.set_status("stopped")
    assert run.resumable()
    run.set_status("stopped", sweep="sw")  # a member of an unfinished sweep: the sweep resumes it
    (tmp_path / "sw").mkdir()
    (tmp_path / "sw" / "sweep.json").write_text('{"format": "infogan-explorer/sweep/1", "members": [], '
                                                '"state": "stopped"}')
    assert not run.resumable()
    shutil.rmtree(run.path / "ckpt")
    run.set_status("interrupted", sweep=None)
    assert not run.resumable()  # nothing to go on from
