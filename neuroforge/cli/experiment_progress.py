"""The experiment progress bar: sized by the plan, advanced by finished cells, and kept
in step with cells other workers finish."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["CellProgress"]


class CellProgress:
    """A rich progress bar: sized by the plan, advanced by each finished cell."""

    def __init__(self, show: bool, console: Console | None) -> None:
        self.show, self.console = show, console
        self.bar: Progress | None = None
        self.task: Any = None
        self.skipped = 0
        self.unshown = 0  # failed cells whose error was printed already for another cell
        self._shown: set[str] = set()

    def __enter__(self) -> CellProgress:
        if self.show:
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                MofNCompleteColumn(), TimeElapsedColumn(),
                                console=self.console, transient=False)
            self.bar.start()
            self.task = self.bar.add_task("cells", total=None)
        return self

    def planned(self, values: dict[str, Any]) -> None:
        """Size the bar once the plan says how many cells are left."""
        self.skipped = values.get("skipped", 0)
        if self.bar is None:
            return
        self.bar.update(self.task, total=values.get("planned", 0) - values.get("skipped", 0))
        if values.get("skipped"):
            self.bar.console.print(f"resuming: {values['skipped']} finished cells kept")

    def sync(self, counts: Any) -> None:
        """Catch up with cells other workers finished (called while waiting for them)."""
        if self.bar is not None:
            self.bar.update(self.task, completed=counts.done - self.skipped)

    def cell_done(self, key: tuple[str, str, str, int], error: str | None) -> None:
        """One cell finished (called from branch threads; rich's bar is thread-safe)."""
        if self.bar is None:
            return
        self.bar.advance(self.task)
        if error:
            # A backend that is down fails every cell alike: its error is shown once.
            if error in self._shown:
                self.unshown += 1
                return
            self._shown.add(error)
            prompt, model, example, repeat = key
            self.bar.console.print(f"[yellow]cell failed:[/] {prompt} @ {model} on {example} "
                                   f"(repeat {repeat}): {error}", highlight=False)

    def __exit__(self, *_: Any) -> None:
        if self.bar is not None:
            self.bar.stop()
            if self.unshown:
                self.bar.console.print(f"[yellow]{self.unshown} more cells failed[/] with an "
                                       "error shown above", highlight=False)
