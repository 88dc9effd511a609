"""What the CLI prints is safe on a terminal: text from outside (titles, URLs, feed names, error messages)
never moves the cursor, retitles the window or hides a line, and is never read as Rich markup.

Two rules, each kept in one place:

* ``visible`` (``monitor.runtime.escapes``, shared with the log lines) shows C0 and C1 control characters, DEL and
  the bidirectional overrides as escapes (``\\x1b``, ``\\x9b``, ``\\u202e``). ``SafeConsole`` applies it
  to every string it renders and, as a last net, to every piece of text it writes, so a listing cannot
  forget it.
* ``SafeConsole`` reads no markup in what it prints. Our own styling is written with ``styled``, which
  escapes the values it is given: ``styled("[red]error:[/] {}", message)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType
from rich.markup import escape
from rich.segment import Segment
from rich.text import Text

from monitor.runtime.escapes import visible

__all__ = ["SafeConsole", "styled", "visible"]


def styled(template: str, *values: Any) -> Text:
    """Our markup ``template`` with ``values`` put in its ``{}`` places, escaped: a value is shown as
    written, brackets and all, and its control characters as escapes."""
    return Text.from_markup(template.format(*(escape(visible(str(value), lines=True)) for value in values)))


class SafeConsole(Console):
    """A Console that reads no markup and shows control characters as escapes (see the module)."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("markup", False)
        options.setdefault("highlight", False)
        super().__init__(**options)

    def render_str(self, text: str, **options: Any) -> Text:
        # Before layout, so that column widths count the escapes.
        return super().render_str(visible(text, lines=True), **options)

    def render(self, renderable: RenderableType, options: ConsoleOptions | None = None) -> Iterable[Segment]:
        # Text objects built elsewhere (snippets, progress descriptions) pass here without render_str.
        for segment in super().render(renderable, options):
            if segment.control is None:
                shown = visible(segment.text, lines=True)
                if shown != segment.text:
                    segment = Segment(shown, segment.style)
            yield segment
