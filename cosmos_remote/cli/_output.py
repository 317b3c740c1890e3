"""Output of the commands: rich tables, highlighting and progress on a terminal; plain text when piped; or JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["Advance", "Column", "Output"]

Advance = Callable[[int], None]


@dataclass(frozen=True)
class Column:
    """A table column: its header, its alignment, and whether long cells wrap (``fold``) on a terminal."""

    header: str
    justify: Literal["left", "right"] = "left"
    fold: bool = False


class Output:
    """Where a command writes: rich tables and highlighting on a terminal, plain text when piped, or JSON.

    Args:
        json_mode: ``--json``: the command prints one JSON document on stdout and nothing else there.
        debug: ``--debug``: tracebacks on errors.
    """

    def __init__(self, *, json_mode: bool = False, debug: bool = False) -> None:
        from rich.console import Console

        self.json_mode = json_mode
        self.debug = debug
        self.stdout: Console = Console(file=sys.stdout, highlight=False, soft_wrap=True, emoji=False)
        self.stderr: Console = Console(file=sys.stderr, highlight=False, soft_wrap=True, emoji=False)

    @property
    def rich(self) -> bool:
        """Whether stdout is a terminal (or ``FORCE_COLOR`` is set): tables, colours, highlighting."""
        return bool(self.stdout.is_terminal)

    def emit_json(self, document: Any) -> None:
        """Print ``document`` as indented JSON on stdout."""
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def write(self, text: str) -> None:
        """Write ``text`` to stdout unchanged (SQL, URIs)."""
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()

    def note(self, text: str, *, style: str | None = None) -> None:
        """A human message on stderr (styled on a terminal)."""
        self.stderr.print(text, style=style, markup=False)

    def table(
        self,
        columns: Sequence[Column],
        rows: Sequence[Sequence[str]],
        *,
        title: str | None = None,
        styles: Mapping[str, str] | None = None,
    ) -> None:
        """Print rows under headers: a rich table on a terminal, aligned plain columns when piped.

        Args:
            columns: Headers and alignment.
            rows: Cell texts.
            title: Shown above the table on a terminal only.
            styles: Cell value -> rich style on a terminal (e.g. ``{"incomplete": "yellow"}``).
        """
        if not self.rich:
            self.write(_plain_table(columns, rows))
            return
        from rich import box
        from rich.table import Table
        from rich.text import Text

        table = Table(
            box=box.SIMPLE_HEAD, show_edge=False, title=title, title_justify="left", title_style="bold", pad_edge=False
        )
        for column in columns:
            table.add_column(
                column.header,
                justify=column.justify,
                overflow="fold" if column.fold else "ellipsis",
                no_wrap=not column.fold,
            )
        for row in rows:
            table.add_row(*(Text(cell, style=(styles or {}).get(cell, "")) for cell in row))
        self.stdout.print(table)

    def highlighted(self, text: str, *, lexer: str) -> None:
        """Print code: syntax-highlighted on a terminal, unchanged when piped."""
        if not self.rich:
            self.write(text)
            return
        from rich.syntax import Syntax

        self.stdout.print(Syntax(text, lexer, theme="ansi_dark", background_color="default", word_wrap=True))

    @contextmanager
    def progress(self, description: str, *, total: int | None = None) -> Iterator[Advance]:
        """A progress bar (or a spinner when ``total`` is unknown) on stderr, shown only on a terminal.

        Yields:
            ``advance(n)``: mark ``n`` more items done.
        """
        if not self.stderr.is_terminal:
            yield _ignore
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        columns: list[ProgressColumn] = [SpinnerColumn(), TextColumn("{task.description}")]
        if total is not None:
            columns += [BarColumn(), MofNCompleteColumn()]
        columns.append(TimeElapsedColumn())
        with Progress(*columns, console=self.stderr, transient=True) as progress:
            task = progress.add_task(description, total=total)

            def advance(n: int = 1) -> None:
                progress.advance(task, n)

            yield advance


def _ignore(n: int = 1) -> None:
    """The ``advance`` of a progress bar that is not shown."""


def _plain_table(columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> str:
    widths = [max([len(c.header), *(len(row[i]) for row in rows)]) for i, c in enumerate(columns)]
    lines = []
    for cells in [[c.header for c in columns], *rows]:
        parts = [
            cell.rjust(width) if column.justify == "right" else cell.ljust(width)
            for cell, width, column in zip(cells, widths, columns, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)
