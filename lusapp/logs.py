"""The app's two log destinations, both through the standard ``logging`` module.

* :func:`log_to_file`: a rotating file ``lusapp.log`` in :func:`lusapp.resources.user_log_dir` (1 MB, three
  old files kept). The GUI calls it at start-up; errors the user sees as one sentence (a failed model load,
  a failed worker job) are logged there with their traceback, so a support request can include them.
* :func:`log_to_console`: progress lines of the command-line tools (``lusapp ...``, ``python -m
  model_training ...``) on stderr, plain text, so stdout stays free for the JSON a tool prints.

Modules log with ``logging.getLogger(__name__)``; both handlers sit on the root logger and are added once.
"""

from __future__ import annotations

import logging
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

from lusapp.resources import user_log_dir

LOG_FILE = "lusapp.log"
MAX_BYTES = 1 << 20
BACKUPS = 3
_FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"


def log_to_file(folder: Path | None = None, level: int = logging.INFO) -> Path | None:
    """Send records of ``level`` and above to ``<folder or user_log_dir()>/lusapp.log`` (rotating).

    Returns the file's path, or None when the folder cannot be created (a read-only profile): the app runs
    on without a log file rather than fail to start. Calling it again adds no second handler.
    """
    path = Path(folder or user_log_dir()) / LOG_FILE
    root = logging.getLogger()
    for h in root.handlers:
        if isinstance(h, RotatingFileHandler) and Path(h.baseFilename) == path.resolve():
            return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True)
    except OSError as exc:
        print(f"lusapp: no log file ({path.parent}: {exc.strerror or exc})", file=sys.stderr)
        return None
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(_FILE_FORMAT))
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    return path


class _ConsoleHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the record (a redirected or captured stderr too);
    its class marks it, so that a second :func:`log_to_console` adds no other."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def log_to_console(verbose: bool = False) -> None:
    """Progress (INFO; DEBUG with ``verbose``) as plain lines on stderr, warnings prefixed with their level."""
    level = logging.DEBUG if verbose else logging.INFO
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, _ConsoleHandler)), None)
    if handler is None:
        handler = _ConsoleHandler()
        handler.setFormatter(_ConsoleFormatter())
        root.addHandler(handler)
    handler.setLevel(level)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)


class _ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.levelno >= logging.WARNING:
            text = f"{record.levelname.lower()}: {text}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text
