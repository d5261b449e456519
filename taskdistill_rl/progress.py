"""A one-line rich progress display that fits the terminal, whatever its width (issue 24).

rich's ``Progress`` lays its columns out as a table: in a terminal narrower than the columns every
column is squeezed and cut with "…" (``distilli… 9/15…  6… eval return not …``), and the bar is
squeezed first, so that it vanishes at 100 columns. :class:`FittedProgress` shows whole fields in
a fixed order and leaves out the least important ones until the line fits; the bar takes the room
that is left, between ``bar_width`` bounds, and goes only when its minimum does not fit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.progress import Progress, Task
from rich.progress_bar import ProgressBar as Bar
from rich.text import Text

BAR = "bar"  # the name of the field that draws the bar
SEPARATOR = "  "


@dataclass(frozen=True)
class Field:
    """One piece of the line.

    Args:
        name: ``BAR`` for the bar, else any name.
        rank: which fields stay as the width shrinks: rank 0 stays longest, the highest rank goes
            first.
        text: what the field shows for a task; None leaves it out (nothing to show yet).
        style: rich style of the text.
    """

    name: str
    rank: int
    text: Callable[[Task], str | None] | None = None
    style: str = ""


def fit(widths: Sequence[tuple[str, int, int]], width: int) -> list[str]:
    """The names of the fields shown in ``width`` cells, given ``(name, rank, cells)`` per field
    (the bar: its least cells): fields by rank while the next one fits, so that a field never
    stays while one of a lower rank goes. The first one stays in any case (cropped if need be)."""
    shown: list[str] = []
    used = 0
    for name, _, cells in sorted(widths, key=lambda item: item[1]):
        need = cells + (len(SEPARATOR) if shown else 0)
        if shown and used + need > width:
            break
        shown.append(name)
        used += need
    return shown


class _Line:
    """A task's fields, their texts taken under the progress lock; laid out at render time, when
    the width is known."""

    def __init__(self, task: Task, pieces: list[tuple[Field, str | None]], bar_width: tuple[int, int]):
        self.pieces, self.bar_width = pieces, bar_width
        self.bar = {"total": task.total, "completed": task.completed, "animation_time": task.get_time()}

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        bar_min, bar_max = self.bar_width
        present = [(f, t) for f, t in self.pieces if f.name == BAR or t is not None]
        cells = [(f.name, f.rank, bar_min if f.name == BAR else cell_len(t)) for f, t in present]
        shown = set(fit(cells, width))
        used = sum(c for name, _, c in cells if name in shown) + len(SEPARATOR) * (len(shown) - 1)
        line = Text(no_wrap=True, overflow="crop")
        for field, text in present:
            if field.name not in shown:
                continue
            if line:
                line.append(SEPARATOR)
            if field.name == BAR:
                cells = min(bar_max, bar_min + width - used)
                bar = Text.assemble(
                    *((s.text, s.style) for s in console.render(Bar(width=cells, **self.bar)))
                )
                bar.set_length(cells)  # without colours rich leaves the rest of the bar out: pad it
                line.append_text(bar)
            else:
                line.append(text, style=field.style)
        yield line


class FittedProgress(Progress):
    """A rich ``Progress`` whose tasks are lines of :class:`Field` s that fit the console width.

    Args:
        fields: in the order they are shown; their ranks say which stay.
        bar_width: the bar's (least, most) cells.
        **kwargs: ``Progress`` options (``disable``, ``console``, ``transient``, ...).

    Examples:
        >>> from io import StringIO
        >>> from rich.console import Console
        >>> count = Field("count", 0, lambda task: f"{task.completed:.0f}/{task.total:.0f} steps")
        >>> lr = Field("lr", 2, lambda task: f"lr {task.fields['lr']:.3g}")
        >>> progress = FittedProgress(count, Field(BAR, 1), lr, disable=True)
        >>> _ = progress.add_task("demo", total=10, completed=4, lr=0.25)
        >>> for width in (20, 40):
        ...     console = Console(width=width, file=StringIO(), color_system=None)
        ...     console.print(progress)
        ...     print(console.file.getvalue().rstrip())
        4/10 steps
        4/10 steps  ━━━━━━━╸             lr 0.25
    """

    def __init__(self, *fields: Field, bar_width: tuple[int, int] = (16, 40), **kwargs):
        super().__init__(**kwargs)
        self.fields, self.bar_width = fields, bar_width

    def get_renderables(self) -> Iterable[RenderableType]:
        for task in self.tasks:
            if task.visible:
                pieces = [(f, None if f.name == BAR or f.text is None else f.text(task)) for f in self.fields]
                yield _Line(task, pieces, self.bar_width)


def clock(seconds: float) -> str:
    """``83.4`` -> ``"0:01:23"``, as rich's time columns show it."""
    return str(timedelta(seconds=max(0, int(seconds))))


__all__ = ["BAR", "Field", "FittedProgress", "clock", "fit"]
