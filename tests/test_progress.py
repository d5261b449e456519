"""The distill progress line fits the terminal: whole fields, the least important left out first,
the bar kept while there is room (issue 24, item 4: at 80 columns rich's table cut every column to
"distilli… 9/15…"; at 100 the bar vanished)."""

from __future__ import annotations

import doctest
import io
import re
from types import SimpleNamespace

import pytest
import torch
from rich.cells import cell_len
from rich.console import Console

from taskdistill_rl.callbacks import ProgressBar

# What each field shows at the state `_bar` leaves the run in, most important first.
FIELDS = {
    "count": "9/15 meta-epochs",
    "eval": "eval return 412.3",
    "bar": re.compile("[━╸╺]{16,}"),  # at least 16 cells of bar
    "train": "train return 201.4",
    "elapsed": "0:01:23 elapsed",
    "left": "0:00:55 left",  # 6 meta-epochs to go at 83.25 s / 9
    "lr": "inner lr 0.873",
    "fps": "432 frames/s",
}


def _bar(**kwargs) -> ProgressBar:
    """A ProgressBar 83.25 s and 9 meta-epochs into a 15-meta-epoch run, evaluated at 412.3
    (the fractions keep the shown seconds the same for half a second after the update)."""
    algo = SimpleNamespace(meta_epoch=0, total_frames=0, dataset=SimpleNamespace(inner_lr=torch.tensor(0.02)))
    loop = SimpleNamespace(algo=algo, wall_seconds=0.0)
    bar = ProgressBar(**({"epochs": 15} | kwargs), disable=True)
    bar.on_training_start(loop)
    algo.meta_epoch, algo.total_frames, loop.wall_seconds = 9, 36_000, 83.25
    algo.dataset.inner_lr = torch.tensor(0.8731)  # the line reads the dataset's, whatever the algorithm
    metrics = {"eval/return_mean": 412.34, "train/recent_return": 201.4}
    bar.on_meta_epoch_end(loop, metrics)
    return bar


def _render(bar: ProgressBar, width: int) -> str:
    """The line a colour terminal of ``width`` columns shows, as plain text."""
    console = Console(
        width=width, file=io.StringIO(), force_terminal=True, color_system="truecolor", record=True
    )
    console.print(bar._progress)
    return console.export_text(styles=False)


def _shown(text: str) -> list[str]:
    return [
        name
        for name, want in FIELDS.items()
        if (want.search(text) if isinstance(want, re.Pattern) else want in text)
    ]


@pytest.mark.parametrize(
    ("width", "fields"),
    [
        (80, ["count", "eval", "bar", "train"]),
        (100, ["count", "eval", "bar", "train", "elapsed"]),
        (200, list(FIELDS)),
    ],
    ids=["80-columns", "100-columns", "200-columns"],
)
def test_the_line_fits_with_whole_fields_by_importance(width, fields):
    text = _render(_bar(), width)
    lines = text.splitlines()
    assert len(lines) == 1 and cell_len(lines[0]) <= width, text
    assert "…" not in text  # no field cut short
    assert _shown(text) == fields, text


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"epochs": None, "time_budget": 150.0}, {"epochs": None}, {"epochs": 1500, "time_budget": 100.0}],
    ids=["epochs", "time-budget", "target-return-only", "epochs-and-budget"],
)
def test_narrower_terminals_drop_fields_least_important_first(kwargs):
    bar, wider = _bar(**kwargs), None
    for width in range(200, 29, -5):
        text = _render(bar, width)
        assert len(text.splitlines()) == 1 and cell_len(text.rstrip("\n")) <= width, (width, text)
        assert "…" not in text, (width, text)
        # the fields besides the bar (whose length follows the width): only ever fewer, never others
        fields = {p for p in re.split(r"\s{2,}", text.strip()) if not set(p) <= set("━╸╺")}
        assert wider is None or fields <= wider, (width, text)
        assert any(f.endswith(("meta-epochs", "/150 s")) for f in fields), text  # the count always stays
        wider = fields


def test_the_module_examples_run():
    from taskdistill_rl import progress

    assert doctest.testmod(progress).failed == 0


def test_before_the_first_evaluation_the_line_says_so_and_fits():
    algo = SimpleNamespace(meta_epoch=0, total_frames=0, dataset=SimpleNamespace(inner_lr=torch.tensor(0.02)))
    bar = ProgressBar(15, disable=True)
    bar.on_training_start(SimpleNamespace(algo=algo, wall_seconds=0.0))
    text = _render(bar, 80)
    assert "0/15 meta-epochs" in text and "eval return not yet" in text and "train return not yet" in text
    assert "…" not in text and cell_len(text.rstrip("\n")) <= 80
