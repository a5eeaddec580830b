"""Keeping the process alive: exceptions in Qt virtual methods and slots are reported, not fatal.

An exception that escapes a Python override of a Qt virtual method (a model's ``data()``, an
item's ``paint()``) is handed by PySide6 to ``sys.excepthook`` from inside Qt's C++ code; if the
hook then touches widgets, Qt calls the failing method again, and the recursion ends in a
segmentation fault. Two layers keep that from happening:

- :func:`guarded` wraps such a method: an exception is logged (once per method and type) and
  reported later, from the event loop, and the method returns a harmless default;
- :func:`install_excepthook` installs a hook that never re-enters: it logs, and shows the error
  through ``report`` from the event loop (a queued single-shot timer), at most once at a time.
"""

from __future__ import annotations

import functools
import logging
import sys
import traceback
from typing import Any, Callable, TypeVar

from spam_gui.app.qt import QtCore

log = logging.getLogger("spam_gui.app")

F = TypeVar("F", bound=Callable[..., Any])

_reporter: Callable[[str, str], None] | None = None
_pending = False
_seen: set[tuple[str, str]] = set()


def set_reporter(report: Callable[[str, str], None] | None) -> None:
    """Where errors caught by :func:`guarded` and the hook are shown (message, details)."""
    global _reporter
    _reporter = report


def _report_later(message: str, details: str) -> None:
    """Show an error from the event loop, never from inside the call that failed."""
    global _pending
    if _reporter is None or _pending:
        return
    _pending = True

    def show() -> None:
        global _pending
        _pending = False
        try:
            if _reporter is not None:
                _reporter(message, details)
        except Exception:  # noqa: BLE001 - the reporter itself must never take the app down
            log.exception("could not show an error")

    app = QtCore.QCoreApplication.instance()
    if app is None:
        _pending = False
        return
    QtCore.QTimer.singleShot(0, app, show)


def report_exception(exc: BaseException, where: str = "") -> None:
    """Log an exception with its traceback and show it in the window, later."""
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    log.error("%s%s", f"{where}: " if where else "", details)
    _report_later(f"internal error{f' in {where}' if where else ''}: "
                  f"{type(exc).__name__}: {exc}", details)


def guarded(default: Any = None) -> Callable[[F], F]:
    """Decorate a Qt virtual method so that an exception returns ``default`` instead."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - see the module docstring
                key = (fn.__qualname__, type(exc).__name__)
                if key not in _seen:
                    _seen.add(key)
                    report_exception(exc, fn.__qualname__)
                return default

        return inner  # type: ignore[return-value]

    return wrap


def install_excepthook() -> None:
    """An uncaught exception (a slot, a timer) is logged and shown; the app goes on."""
    previous = sys.excepthook

    def hook(etype: type[BaseException], value: BaseException, tb: Any) -> None:
        if issubclass(etype, KeyboardInterrupt):
            previous(etype, value, tb)
            return
        try:
            details = "".join(traceback.format_exception(etype, value, tb))
            log.error("%s", details)
            _report_later(f"{etype.__name__}: {value}", details)
        except Exception:  # noqa: BLE001 - never fail inside the hook
            previous(etype, value, tb)

    sys.excepthook = hook
