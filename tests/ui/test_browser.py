"""The web chat in a real browser: Playwright driving Debian's Chromium against the app served
in-process on 127.0.0.1, with a real ChatAgent over the real ML-100K index and the real vLLM
server (SmolLM2, fixture ``vllm_engine``). Screenshots go to the test's ``tmp_path``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import build_agent

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]
TURN_TIMEOUT_MS = 240_000


def ensure_chromium() -> str:
    """Debian's Chromium: installed with apt when missing and possible, else a clear failure."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
            subprocess.run(cmd, check=False, env=env, timeout=900, capture_output=True)
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: install it with `apt-get install chromium` "
                    "(Debian; as root). Never run `playwright install` here.")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    pytest.importorskip("playwright", reason="pip install playwright")
    from playwright.sync_api import sync_playwright

    path = ensure_chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def app_url(ml100k_store, vllm_engine, tmp_path_factory) -> Iterator[str]:
    """The app on a free port of 127.0.0.1 (real agent, real LLM)."""
    from agent.llm.vllm_server import find_free_port
    from ui.web import build_app, launch

    agent = build_agent(ml100k_store, tmp_path_factory.mktemp("ui-sessions"), vllm_engine,
                        max_candidates=8, permutations=1, explain_top_k=2, chat_k=5)
    app = build_app(agent)
    url = launch(app, host="127.0.0.1", port=find_free_port(), block=False, quiet=True)
    yield url
    app.close()


def open_page(context: Any, url: str) -> Any:
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#msg textarea")
    page.wait_for_function("window.location.search.includes('session=')", timeout=30_000)
    return page


def send(page: Any, text: str) -> None:
    """Type and send ``text``, then wait until the assistant's answer to it is shown."""
    before = page.locator('#chatbot [data-testid="bot"]').count()
    page.fill("#msg textarea", text)
    page.click("#send")
    wait_for_answers(page, before + 1)


def wait_for_answers(page: Any, n: int) -> None:
    page.wait_for_function(f"document.querySelectorAll('#chatbot [data-testid=\"bot\"]').length >= {n}",
                           timeout=TURN_TIMEOUT_MS)
    page.wait_for_timeout(300)  # let the last render land


def cards(page: Any) -> list[dict[str, str]]:
    return page.eval_on_selector_all(
        ".rc-card", "els => els.filter(e => e.offsetParent !== null).map(e => ({id: e.dataset.itemId, "
                    "year: e.dataset.year, text: e.innerText}))")


def test_conversation_like_older_and_filters(browser, app_url, tmp_path: Path):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = open_page(context, app_url)
    send(page, "a funny animated movie for kids")
    first = cards(page)
    assert first, "cards must be shown"
    reasons = page.locator(".rc-card .rc-reason:not(.rc-pending)")
    assert reasons.count() >= 1 and reasons.first.inner_text().strip()
    assert page.locator(".rc-pending", has_text="writing").count() == 0
    page.screenshot(path=str(tmp_path / "1-first-list.png"), full_page=True)

    page.click("#like-0")
    page.wait_for_selector("#card-0 .rc-liked")
    assert first[0]["id"] in page.inner_text("#liked-items") or "like" in page.inner_text("#status").lower()

    send(page, "something older")
    year_max_text = page.input_value("#year-max input")
    assert year_max_text, "'something older' must set the year filter"
    year_max = int(float(year_max_text))
    older = cards(page)
    assert [c["id"] for c in older] != [c["id"] for c in first]
    assert all(int(c["year"]) <= year_max for c in older if c["year"])
    page.screenshot(path=str(tmp_path / "2-older.png"), full_page=True)

    # the person widens the genres directly in the filter panel; the year filter still holds
    bots = page.locator('#chatbot [data-testid="bot"]').count()
    while page.locator("#genres .token-remove").count():
        page.locator("#genres .token-remove").first.click()
    page.click("#apply-profile")
    wait_for_answers(page, bots + 1)
    widened = cards(page)
    assert widened and all(int(c["year"]) <= year_max for c in widened if c["year"])
    assert int(float(page.input_value("#year-max input"))) == year_max
    page.locator("#card-0 .rc-why > summary").first.click()
    page.screenshot(path=str(tmp_path / "3-widened-why.png"), full_page=True)
    assert "rerank score" in page.inner_text("#card-0") or "retrieval similarity" in page.inner_text("#card-0")
    context.close()


def test_two_contexts_keep_separate_conversations(browser, app_url, tmp_path: Path):
    ctx_a = browser.new_context(viewport={"width": 1300, "height": 900})
    ctx_b = browser.new_context(viewport={"width": 1300, "height": 900})
    a, b = open_page(ctx_a, app_url), open_page(ctx_b, app_url)
    sid = lambda page: re.search(r"session=([\w-]+)", page.url).group(1)  # noqa: E731
    assert sid(a) != sid(b)
    a.fill("#msg textarea", "a scary horror movie")
    b.fill("#msg textarea", "a romantic comedy")
    a.click("#send")
    b.click("#send")  # both turns in flight at once
    wait_for_answers(a, 1)
    wait_for_answers(b, 1)
    user_a = a.locator('#chatbot [data-testid="user"]').all_inner_texts()
    user_b = b.locator('#chatbot [data-testid="user"]').all_inner_texts()
    assert user_a == ["a scary horror movie"] and user_b == ["a romantic comedy"]
    assert cards(a) and cards(b) and {c["id"] for c in cards(a)} != {c["id"] for c in cards(b)}
    a.screenshot(path=str(tmp_path / "context-a.png"), full_page=True)
    b.screenshot(path=str(tmp_path / "context-b.png"), full_page=True)

    # resumable by link: a fresh page on A's URL shows A's conversation, not B's
    again = ctx_a.new_page()
    again.goto(a.url)
    again.wait_for_function("document.querySelectorAll('#chatbot [data-testid=\"user\"]').length >= 1",
                            timeout=30_000)
    assert again.locator('#chatbot [data-testid="user"]').all_inner_texts() == ["a scary horror movie"]
    assert sid(again) == sid(a)
    ctx_a.close()
    ctx_b.close()
