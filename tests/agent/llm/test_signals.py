"""agent.llm.signals: the one SIGTERM policy (raised in the main thread, previous handler restored)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from agent.llm.signals import exit_on_sigterm, sigterm_raises


def test_sigterm_raises_keyboard_interrupt_then_restores() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with sigterm_raises():
            assert signal.getsignal(signal.SIGTERM) is not before
            signal.raise_signal(signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigterm_raises_custom_exception() -> None:
    with pytest.raises(SystemExit) as info:
        with sigterm_raises(lambda signum: SystemExit(128 + signum)):
            signal.raise_signal(signal.SIGTERM)
    assert info.value.code == 128 + signal.SIGTERM


def test_off_main_thread_is_a_no_op() -> None:
    seen: list[object] = []

    def worker() -> None:
        with sigterm_raises():
            seen.append(signal.getsignal(signal.SIGTERM))
        seen.append(exit_on_sigterm())

    before = signal.getsignal(signal.SIGTERM)
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [before, False]


def test_exit_on_sigterm_runs_atexit_in_a_real_process(tmp_path) -> None:
    marker = tmp_path / "atexit-ran"
    code = (
        "import atexit, os, signal, sys, time\n"
        "from agent.llm.signals import exit_on_sigterm\n"
        f"atexit.register(lambda: open({str(marker)!r}, 'w').write('ok'))\n"
        "assert exit_on_sigterm() is True\n"
        "assert exit_on_sigterm() is False  # a handler is already set: left alone\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "time.sleep(5)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=os.getcwd(), timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert marker.read_text() == "ok"
