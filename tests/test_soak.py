"""A 6-second version of benchmarks/soak.py: two jobs from the form, two Monitor sessions."""

import os
from pathlib import Path

import pytest

from benchmarks.dashboard_driver import CHROMIUM
from benchmarks.soak import run_soak


def test_a_short_soak(mnist_root):
    if not Path(CHROMIUM).exists():
        if os.environ.get("INFOGAN_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} missing")
        pytest.skip(f"{CHROMIUM} missing")
    res = run_soak(minutes=0.1, jobs=2, browsers=2, data=mnist_root, steps_per_job=20)
    print(res)
    assert res["all_completed"], res["job_states"]
    assert res["interactions"] >= 4  # both sessions went round (Runs, Monitor) while two jobs trained on two cores
    # navigation latency is a figure for benchmarks/soak.py to report, not a pass/fail bound here
    assert res["rss_mb"]["growth"] < 100, res["rss_mb"]
