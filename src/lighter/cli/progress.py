"""Progress bars for long copies (rich), drawn only on a terminal."""

from __future__ import annotations

import sys
import threading
from types import TracebackType
from typing import TYPE_CHECKING

from lighter.digest import Digest

if TYPE_CHECKING:
    from rich.progress import TaskID


class RichProgress:
    """Implements lighter.copy.Progress with one bar per blob."""

    def __init__(self) -> None:
        # rich is imported only when bars are drawn: it is ~40 ms of start-up, a good part of a short copy
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

        self._console = Console(stderr=True)
        self._bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=self._console,
            transient=False,
        )
        self._tasks: dict[Digest, TaskID] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> RichProgress:
        self._bars.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._bars.stop()

    def blob_started(self, digest: Digest, size: int, what: str) -> None:
        with self._lock:
            self._tasks[digest] = self._bars.add_task(f"{what} {digest.short}", total=size if size >= 0 else None)

    def blob_advanced(self, digest: Digest, nbytes: int) -> None:
        task = self._tasks.get(digest)
        if task is not None:
            self._bars.advance(task, nbytes)

    def blob_finished(self, digest: Digest, skipped: bool) -> None:
        with self._lock:
            task = self._tasks.get(digest)
            if task is None:
                self._tasks[digest] = self._bars.add_task(
                    f"skipped {digest.short} (already present)", total=1, completed=1
                )
            else:
                total = self._bars.tasks[task].total
                self._bars.update(task, completed=total if total is not None else 0)

    def message(self, text: str) -> None:
        self._console.print(text)


def wants_progress(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()
