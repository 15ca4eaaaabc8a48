"""What the JSON files of a run folder may hold, checked where they are read.

A runs folder is shared (between the dashboard and the CLI, the machines of a cluster, people
who copy a sweep to each other), so its files are input: a reader gets values of the types and
shapes their writer gives them, or one line naming the first field that is not. Imports nothing
of the package, like files.py.

A spec is a type (or tuple of types), `NUM`/`INT` (numbers that are not booleans), a one-item
list `[spec]` (a list of such items), `{"*": spec}` (a mapping of text keys to such values), a
dict of named fields (each optional; others are left alone), `Check(spec, rule)`: the spec,
then `rule(value)`, which returns what is wrong or None, or `Null(spec)`: null or the spec."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class SchemaError(ValueError):
    """A value is not what its field holds; the message names the field."""


NUM, INT = "number", "whole number"


@dataclass(frozen=True)
class Check:
    spec: Any
    rule: Callable[[Any], str | None]


@dataclass(frozen=True)
class Null:
    spec: Any


def check(value: Any, spec: Any, where: str = "") -> Any:
    """`value` if it matches `spec`, else SchemaError naming the field (`where`, dotted)."""
    if isinstance(spec, Null):
        return value if value is None else check(value, spec.spec, where)
    if isinstance(spec, Check):
        check(value, spec.spec, where)
        if (why := spec.rule(value)) is not None:
            raise SchemaError(f"{where or 'the file'}: {why}")
    elif spec in (NUM, INT):
        kinds = (int, float) if spec == NUM else int
        # JSON's numbers have no bound: a float must be finite, an int fit in 64 bits (what every
        # writer writes; a longer one overflows the first division by it)
        wild = (isinstance(value, float) and not math.isfinite(value)) or \
            (isinstance(value, int) and abs(value) >= 2**63)
        if not isinstance(value, kinds) or isinstance(value, bool) or wild:
            raise SchemaError(f"{where}: {_shown(value)} is not a {spec}")
    elif isinstance(spec, list):
        if not isinstance(value, list):
            raise SchemaError(f"{where}: {_shown(value)} is not a list")
        for i, item in enumerate(value):
            check(item, spec[0], f"{where}[{i}]")
    elif isinstance(spec, dict):
        if not isinstance(value, dict):
            raise SchemaError(f"{where or 'the file'}: {_shown(value)} is not a mapping")
        for key, item in value.items():
            inner = spec.get(key, spec.get("*"))
            if inner is not None:
                check(item, inner, f"{where}.{key}" if where else str(key))
    elif not isinstance(value, spec) or isinstance(value, bool) and spec is not bool:
        raise SchemaError(f"{where}: {_shown(value)} is not {getattr(spec, '__name__', spec)}")
    return value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def rectangular(value: list) -> str | None:
    return None if len({len(row) for row in value}) <= 1 else "rows of different lengths"


def shaped(field: str, rows: str, cols: str) -> Callable[[dict], str | None]:
    """A rule on a mapping: its matrix `field` has one row per item of `rows` and one column per
    item of `cols` (lists in the same mapping), so a heatmap's labels fit its cells."""
    def rule(res: dict) -> str | None:
        grid, r, c = res.get(field), res.get(rows), res.get(cols)
        if grid is None or r is None or c is None:
            return None
        if len(grid) != len(r) or any(len(row) != len(c) for row in grid):
            return f"{field} is not {len(r)} x {len(c)} ({rows} x {cols})"
        return None
    return rule


def _confusion(code: dict) -> str | None:
    rows = len(code.get("confusion", []))
    if any(not 0 <= k < rows for k in code.get("label_to_code", [])):
        return "label_to_code names a category the confusion matrix lacks"
    return None


def _same_measures(table: dict) -> str | None:
    return None if len({tuple(row) for row in table.values()}) <= 1 else "codes measured on different measures"


def _pairs(names: str, values: str) -> Callable[[dict], str | None]:
    def rule(res: dict) -> str | None:
        a, b = res.get(names), res.get(values)
        return None if a is None or b is None or len(a) == len(b) else f"{len(a)} {names} but {len(b)} {values}"
    return rule


def _all(*rules: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    return lambda value: next((why for rule in rules if (why := rule(value)) is not None), None)


_MATRIX = Check([[NUM]], rectangular)
_BY_MEASURE = Check({"*": {"*": NUM}}, _same_measures)
# one checkpoint's evaluation (evaluate.evaluate_run writes it): the structure the pages, the
# tables and the selection walk; single scores are read only where they are numbers (summary.py)
EVAL = {
    "step": INT, "time": NUM, "dataset": str,
    "categorical": {"best_code": str, "accuracy": NUM, "n_images": INT,
                    "codes": {"*": Check({"accuracy": NUM, "confusion": Check([[INT]], rectangular),
                                          "label_to_code": [INT]}, _confusion)}},
    "code_label_nmi": Check({"codes": [str], "nmi": [NUM]}, _pairs("codes", "nmi")),
    "continuous": {"codes": _BY_MEASURE, "effect": _BY_MEASURE,
                   "best": {"*": {"code": str, "spearman": NUM}}},
    "factors": Check({"factor_names": [str], "code_names": [str], "normalized_mi": _MATRIX,
                      "dci_importance": _MATRIX, "sap_matrix": _MATRIX, "mig_per_factor": [NUM],
                      "estimator": str, "scale": NUM, "seed": INT},
                     _all(shaped("normalized_mi", "code_names", "factor_names"),
                          shaped("dci_importance", "code_names", "factor_names"))),
    "quality_skipped": str,
    "quality": {"floor": {"*": NUM}, "n": INT, "n_knn": INT, "k": INT, "seed": INT, "seconds": NUM,
                "judge": {"dataset": str, "accuracy": NUM, "file": str, "trained": NUM}},
}
