"""The shared number and table formatting of `taskdistill report` and the reproducing page (issue 26)."""

import doctest
import math

import pytest

import taskdistill_rl.tables
from taskdistill_rl.tables import Spread, markdown_table, number, plus_minus


def test_the_docstring_examples_hold():
    failed, attempted = doctest.testmod(taskdistill_rl.tables)
    assert attempted > 0 and failed == 0


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [
        (495.25, {}, "495.2"),
        (-42.951, {"digits": 2}, "-42.95"),
        (138478.0, {"digits": 0, "grouping": True}, "138,478"),
        (138478.0, {"digits": 0}, "138478"),
        (0.0001234, {"digits": 2, "spec": "g"}, "0.00012"),
        (None, {}, "—"),
        (math.nan, {"digits": 2}, "—"),
    ],
    ids=["one-digit", "two-digits", "grouping", "no-grouping", "g-spec", "none", "nan"],
)
def test_number(value, kwargs, expected):
    assert number(value, **kwargs) == expected


def test_plus_minus_formats_both_sides_alike():
    assert plus_minus(2443.0, 1288.0, 0, grouping=True) == "2,443 ± 1,288"
    assert plus_minus(21.04, 0.01, 2) == "21.04 ± 0.01"


def test_spread_keeps_every_run_and_counts_them():
    spread = Spread.of([500.0, 479.3, 495.3])
    assert (spread.median, spread.low, spread.high, spread.n) == (495.3, 479.3, 500.0, 3)
    assert spread.format() == "495.3 (479.3–500.0, 3 runs)"  # the best seed would give 500.0
    assert spread.format(runs=False) == "495.3 (479.3–500.0)"
    assert Spread.of([1234.4, 2345.6]).format(0, runs=False, grouping=True) == "1,790 (1,234–2,346)"
    assert Spread.of([]) is None


def test_markdown_table_has_a_rule_under_the_header():
    table = markdown_table(["N, k", "paper"], [["1D, k=2", "500 ± 0.0"], ["2D, k=3", "365 ± 31.9"]])
    assert table.splitlines() == [
        "| N, k | paper |",
        "|---|---|",
        "| 1D, k=2 | 500 ± 0.0 |",
        "| 2D, k=3 | 365 ± 31.9 |",
    ]
