"""Numbers and markdown tables as the reports print them, in one place.

``taskdistill report`` (:mod:`taskdistill_rl.report`) and the generated pages
(``results/reproducing_page.py``, ``results/minatar/page.py``) format with these, so a median,
a range or a "mean ± std" reads the same wherever it appears.
"""

from __future__ import annotations

import math
import statistics
import sys
from dataclasses import dataclass


def number(value: float | None, digits: int = 1, spec: str = "f", *, grouping: bool = False) -> str:
    """``value`` to ``digits`` (``spec``: a format type, ``"f"`` or ``"g"``); ``"—"`` for a missing
    value (``None`` or NaN). ``grouping`` adds thousands separators.

    Examples:
        >>> assert number(1234.56) == "1234.6" and number(1234.56, 0, grouping=True) == "1,235"
        >>> assert number(0.000123, 2, "g") == "0.00012" and number(None) == number(math.nan) == "—"
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:{',' if grouping else ''}.{digits}{spec}}"


def plus_minus(mean: float, std: float, digits: int = 1, *, grouping: bool = False) -> str:
    """``"mean ± std"``, both to ``digits``.

    Examples:
        >>> assert plus_minus(495.25, 12.0) == "495.2 ± 12.0"
        >>> assert plus_minus(8042.0, 1288.0, 0, grouping=True) == "8,042 ± 1,288"
    """
    return f"{number(mean, digits, grouping=grouping)} ± {number(std, digits, grouping=grouping)}"


@dataclass(frozen=True)
class Spread:
    """Median, range and count of one quantity over several runs (seeds): every run counts, so
    no best seed is reported."""

    median: float
    low: float
    high: float
    n: int

    @staticmethod
    def of(values: list[float]) -> Spread | None:
        """``None`` for no values (no run of that kind, or no run that recorded the quantity)."""
        if not values:
            return None
        return Spread(statistics.median(values), min(values), max(values), len(values))

    def format(self, digits: int = 1, spec: str = "f", *, runs: bool = True, grouping: bool = False) -> str:
        """``"495.3 (479.3–500.0, 3 runs)"``; one run: ``"495.3 (1 run)"``. Without ``runs`` (the
        count): ``"495.3 (479.3–500.0)"``, and one run is its value alone.

        Examples:
            >>> spread = Spread.of([479.3, 495.3, 500.0])
            >>> assert spread.format() == "495.3 (479.3–500.0, 3 runs)"
            >>> assert spread.format(runs=False) == "495.3 (479.3–500.0)"
            >>> one = Spread.of([22.4])
            >>> assert one.format() == "22.4 (1 run)" and one.format(runs=False) == "22.4"
        """
        median = number(self.median, digits, spec, grouping=grouping)
        if self.n == 1:
            return f"{median} (1 run)" if runs else median
        low, high = (number(x, digits, spec, grouping=grouping) for x in (self.low, self.high))
        return f"{median} ({low}–{high}{f', {self.n} runs' if runs else ''})"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table: the header, its ``|---|`` rule, then one line per row (no trailing newline).

    Examples:
        >>> table = markdown_table(["k", "mean"], [["2", "500.0"]])
        >>> assert table == "| k | mean |\\n|---|---|\\n| 2 | 500.0 |"
    """
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in rows)])


def write_page(path, text: str, *, check: bool, script: str) -> int:
    """A generated docs page: write ``text`` to ``path``, or with ``check`` exit status 1 (and say
    which ``script`` to run) if the committed page differs. The generators' shared ``main``."""
    from pathlib import Path

    path = Path(path)
    if check:
        if path.read_text() != text:
            print(f"{path.name} is out of date: run python {script}", file=sys.stderr)
            return 1
        return 0
    path.write_text(text)
    print(f"wrote {path}")
    return 0
