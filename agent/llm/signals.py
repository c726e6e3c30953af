"""The one SIGTERM policy: SIGTERM becomes an exception in the main thread, so ``finally``
blocks and ``atexit`` hooks run and a local vLLM server started by this process is stopped
(the default SIGTERM action kills the process without running either).

- :func:`sigterm_raises` (a context manager) for bounded work: ``recchat llm serve`` and eval
  runs turn SIGTERM into :class:`KeyboardInterrupt` while they run, then restore the previous
  handler.
- :func:`exit_on_sigterm` for long-lived front ends (web chat, terminal chat): SIGTERM becomes
  ``SystemExit(128 + signum)`` for the rest of the process, unless a handler is already set.

Off the main thread both do nothing (Python only allows handlers there).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def sigterm_raises(make_exc: Callable[[int], BaseException] = lambda signum: KeyboardInterrupt()) -> Iterator[None]:
    """While active, SIGTERM raises ``make_exc(signum)`` in the main thread; the previous
    handler is restored on exit."""
    if not _in_main_thread():
        yield
        return

    def _raise(signum: int, frame: object) -> None:
        raise make_exc(signum)

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def exit_on_sigterm() -> bool:
    """For the rest of the process, SIGTERM raises ``SystemExit(128 + signum)``, when no
    handler was set before. Returns True when it installed the handler."""
    if not _in_main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return False
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    return True
