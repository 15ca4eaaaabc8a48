"""Fuzz of the files every reader opens (hypothesis): sweep.json, status.json and eval.json hold
random JSON, or a valid file with fields replaced by hostile values (paths, wrong types, huge or
non-finite numbers). Every library reader and CLI command that reads them, and a sweep's delete
and driver, either work or say one line; nothing outside the runs root is deleted or written,
and the driver connects only to a HOST:PORT address. The pages get the same files in
test_pages_say_one_line_about_hostile_files."""

import contextlib
import io
import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infogan.cli import main
from infogan.config import ConfigError
from infogan.evaluate import category_labels
from infogan.files import FileError
from infogan.ray_runner import check_address, run_sweep
from infogan.runs import Run, RunError, list_runs
from infogan.summary import eval_table, run_summary
from infogan.sweeps import Sweep, final_table, spread
from tests.conftest import app, tiny_config, visit

NAMES = st.sampled_from(["", ".", "..", "../victim", "../../etc", "/tmp", "a/b", "victim", "sw", "sw-s0", "f",
                         "x" * 150, "ray://evil:10001", "evil:6379", "10.0.0.5:6379"])
LEAVES = (st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.just(10**400)  # JSON's ints have no bound
          | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8) | NAMES)
JSON = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8) | NAMES,
                                                                                            inner, max_size=4),
                    max_leaves=10)


def mutated(valid: dict, deep: dict[str, list[str]] | None = None) -> st.SearchStrategy:
    """A valid file with some of its fields (and, for `deep`, fields of its nested mappings or
    list items) replaced by anything; or random JSON altogether."""
    fields = list(valid) + ["by_step", "members"]
    top = st.dictionaries(st.sampled_from(fields), JSON, max_size=3).map(lambda ch: {**valid, **ch})
    nested = [st.tuples(st.sampled_from(sub), JSON).map(lambda kv, k=k: _nested(valid, k, *kv))
              for k, sub in (deep or {}).items()]
    return st.one_of(top, *nested, JSON)


def _nested(valid: dict, key: str, field: str, value) -> dict:
    inner = valid[key]
    if isinstance(inner, list):
        return {**valid, key: [{**inner[0], field: value}, *inner[1:]]}
    return {**valid, key: {**inner, field: value}}


EVAL = {"step": 20, "dataset": "mnist",
        "categorical": {"best_code": "c1", "accuracy": 0.5, "n_images": 10,
                        "codes": {"c1": {"accuracy": 0.5, "confusion": [[1, 0], [0, 1]], "label_to_code": [0, 1]}}},
        "code_label_nmi": {"codes": ["c1", "c2"], "nmi": [0.1, 0.2]},
        "quality": {"fd": 1.0, "floor": {"fd": 0.1}, "n": 100, "judge": {"accuracy": 0.9, "trained": 1.0}}}
EVAL_FILE = {**EVAL, "by_step": {"20": EVAL}}
STATUS = {"state": "completed", "step": 20, "epoch": 2, "total_steps": 20, "sweep": "sw", "attempts": 1,
          "node": "n", "pid": 1, "host": "h", "error": "e"}


@pytest.fixture(scope="module")
def template(tmp_path_factory, mnist_root) -> Path:
    """A runs root with a run "f" (files only) and a sweep "sw" with member "sw-s0", beside a
    folder "victim" outside it that looks like a run."""
    base = tmp_path_factory.mktemp("fuzz-template")
    root = base / "runs"
    Run.create(tiny_config(mnist_root), "f", root)
    Sweep.create("sw", tiny_config(mnist_root).to_dict(), [0], {}, root=root)
    (base / "victim").mkdir()
    (base / "victim" / "config.json").write_text("{}")
    return base


def _snapshot(base: Path) -> dict[str, bytes]:
    """Every file outside the runs root, with its bytes."""
    return {str(p.relative_to(base)): p.read_bytes() for p in base.rglob("*")
            if p.is_file() and not p.is_relative_to(base / "runs")}


def _one_line(exc: BaseException) -> None:
    assert isinstance(exc, (RunError, FileError, ConfigError)), f"{type(exc).__name__}: {exc}"
    assert str(exc).strip() and "\n" not in str(exc).strip(), str(exc)


def _cli(*args: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    assert code in (0, 2), err.getvalue()[-2000:]
    assert code == 0 or len(err.getvalue().strip().splitlines()) == 1, err.getvalue()


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(sweep_json=mutated(json.loads(json.dumps({"format": "infogan-explorer/sweep/1", "name": "sw",
                                                 "members": [{"name": "sw-s0", "seed": 0}], "parallel": 1,
                                                 "threads": 1, "gpus": 0, "ray_address": None, "seeds": [0],
                                                 "grid": {}, "evaluate": "none", "state": "stopped",
                                                 "selection": {"names": ["sw-s0"], "pick": "sw-s0"}})),
                              {"members": ["name", "seed", "point"], "selection": ["names", "criteria", "accuracy"]}),
       status_json=mutated(STATUS), eval_json=mutated(EVAL_FILE, {"categorical": ["codes", "accuracy"],
                                                                  "quality": ["floor", "n", "fd"]}))
def test_hostile_files_are_read_or_refused_in_one_line(template, tmp_path_factory, monkeypatch, sweep_json,
                                                       status_json, eval_json):
    base = tmp_path_factory.mktemp("fuzz")
    shutil.rmtree(base)
    shutil.copytree(template, base)
    root = base / "runs"
    (root / "sw" / "sweep.json").write_text(json.dumps(sweep_json))
    for run in ("f", "sw-s0"):
        (root / run / "status.json").write_text(json.dumps(status_json))
    (root / "f" / "eval.json").write_text(json.dumps(eval_json))
    before = _snapshot(base)
    connected: list = []

    def connect(address, cpus, gpus=0.0):
        connected.append(address)
        raise RunError("not connecting in a test")

    monkeypatch.setattr("infogan.ray_runner.connect", connect)
    monkeypatch.delenv("INFOGAN_RAY_ADDRESS", raising=False)
    for run in list_runs(root):
        row = run_summary(run)
        assert isinstance(row["state"], str) and isinstance(row["step"], int)
        eval_table(run)
        try:
            category_labels(run.eval_result(20))
        except RunError as exc:
            _one_line(exc)
    _cli("--runs-dir", str(root), "runs")
    _cli("--runs-dir", str(root), "runs", "--sweep", "sw")
    try:
        sweep = Sweep.open("sw", root)
        sweep.members(), sweep.state(), final_table(sweep), spread(sweep, "loss_d")
        run_sweep(sweep, rank=False)
    except (RunError, FileError, ConfigError) as exc:
        _one_line(exc)
    assert all(a is None or check_address(a) == a for a in connected), connected
    for action in (lambda: Sweep(root / "sw").delete(), lambda: Run(root / "f").delete()):
        try:
            action()
        except (RunError, FileError) as exc:
            _one_line(exc)
    assert root.is_dir() and _snapshot(base) == before
    assert sorted(os.listdir(base)) == ["runs", "victim"]
    shutil.rmtree(base)


def test_pages_say_one_line_about_hostile_files(tiny_runs, tmp_path, monkeypatch):
    """What the fuzz found worth showing to a page, and what a person might damage by hand: a
    sweep listing a member outside the root, a second sweep whose ranking is not numbers, a run
    whose status has a text count and a path for its sweep, an eval.json whose heatmap does
    not fit its labels."""
    root = tmp_path / "runs"
    shutil.copytree(tiny_runs / "f", root / "f")
    (root / "f" / "status.json").write_text(json.dumps({**STATUS, "attempts": "three", "sweep": "../../etc"}))
    (root / "f" / "eval.json").write_text(json.dumps({**EVAL_FILE, "by_step": {"20": {**EVAL, "factors": {
        "normalized_mi": [[1]], "code_names": ["c1", "c2"], "factor_names": ["x"]}}}}))
    for name, sweep_json in (("sw", {"format": "infogan-explorer/sweep/1", "members": [{"name": "../victim"}]}),
                             ("sw2", {"format": "infogan-explorer/sweep/1", "members": [{"name": "f", "seed": 0}],
                                      "selection": {"pick": "f", "accuracy": {"pick": "high"}}})):
        (root / name).mkdir()
        (root / name / "sweep.json").write_text(json.dumps(sweep_json))
    (tmp_path / "victim").mkdir()
    for page, sweep in (("app_pages/runs.py", None), ("app_pages/sweeps.py", "sw"), ("app_pages/sweeps.py", "sw2"),
                        ("app_pages/monitor.py", None), ("app_pages/disentangle.py", None)):
        at = visit(app(monkeypatch, root, run="f", **({"sweep": sweep} if sweep else {})), page)  # no exception
        if page in ("app_pages/sweeps.py", "app_pages/disentangle.py"):
            shown = [m.value for m in [*at.error, *at.warning]]
            assert any("is not a usable sweep file" in m or "is damaged" in m for m in shown), (page, sweep, shown)
    assert (tmp_path / "victim").is_dir() and (root / "f" / "config.json").is_file()
