"""Structured event log of a run: JSON lines on disk, a human rendering on the console."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import structlog


class EventLog:
    """``log.info("trial_end", number=3, ...)`` writes one JSON line (flushed) to ``path`` (None:
    no file) and, unless quiet, a readable line on stderr."""

    def __init__(self, path: str | Path | None, console: bool = True) -> None:
        self._file = None if path is None else open(path, "a", encoding="utf-8")
        timestamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
        self._json = (
            None
            if self._file is None
            else structlog.wrap_logger(
                structlog.WriteLogger(self._file),
                processors=[
                    structlog.processors.add_log_level,
                    timestamp,
                    structlog.processors.JSONRenderer(default=str),
                ],
            )
        )
        self._console = (
            structlog.wrap_logger(
                structlog.PrintLogger(sys.stderr),
                processors=[
                    structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="%H:%M:%S"),
                    structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty(), pad_event_to=12),
                ],
            )
            if console
            else None
        )

    def info(self, event: str, **fields: Any) -> None:
        self._emit("info", event, fields)

    def record(self, event: str, **fields: Any) -> None:
        """Write the event to the file only (what the console shows another way, as a warning)."""
        if self._json is not None:
            self._json.info(event, **fields)

    def _emit(self, level: str, event: str, fields: dict[str, Any]) -> None:
        if self._json is not None:
            getattr(self._json, level)(event, **fields)
        if self._console is not None:
            getattr(self._console, level)(event, **fields)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
