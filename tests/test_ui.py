"""The browser chat: handlers directly, the launched app through gradio_client, and a real browser."""

from __future__ import annotations

import os
import shutil
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from assistant.ui import ALL_SPEAKERS, EXTRACTIVE_LABEL, Engines, build_app, render_sources, respond

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@pytest.fixture(scope="module")
def engines(seed_index) -> Engines:  # type: ignore[no-untyped-def]
    return Engines(seed_index.settings.with_overrides(model="extractive"))


def _last(gen):  # type: ignore[no-untyped-def]
    from collections import deque

    return deque(gen, maxlen=1)[0]


def test_handler_answers_with_cards_and_highlights(engines) -> None:
    chat, panel, history, box = _last(respond(engines, "吕薇认为发展新质生产力的本质是什么？", [], [],
                                              EXTRACTIVE_LABEL, ALL_SPEAKERS))
    assert box == "" and len(history) == 1 and chat[-1]["role"] == "assistant"
    assert 'class="cite"' in chat[-1]["content"] and 'id="src-1"' in panel
    assert "吕薇" in panel and "<mark>" in panel and "《发展新质生产力要提高人才素质" in panel


def test_handler_escapes_html(engines) -> None:
    q = "<script>alert('x')</script><img src=x onerror=alert(1)>吕薇认为发展新质生产力的本质是什么？"
    chat, panel, _, _ = _last(respond(engines, q, [], [], EXTRACTIVE_LABEL, ALL_SPEAKERS))
    assert "<script>" not in chat[0]["content"] and "&lt;script&gt;" in chat[0]["content"]
    assert "<img" not in chat[0]["content"] and "<script" not in panel


def test_handler_abstains_plainly_and_reports_bad_input(engines) -> None:
    chat, panel, _, _ = _last(respond(engines, "光刻机的工作原理是什么？", [], [], EXTRACTIVE_LABEL, ALL_SPEAKERS))
    assert "没有涉及" in panel and "src-" not in panel
    chat, _, history, _ = _last(respond(engines, "   ", [], [], EXTRACTIVE_LABEL, ALL_SPEAKERS))
    assert "empty" in chat[-1]["content"] and history == []


def test_speaker_filter(engines) -> None:
    _, panel, _, _ = _last(respond(engines, "人工智能有什么影响？", [], [], EXTRACTIVE_LABEL, "任保平"))
    assert 'data-speaker="任保平"' in panel and 'data-speaker="李平"' not in panel


def test_empty_panel_invites_a_question() -> None:
    assert "提问后" in render_sources(None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(engines):  # type: ignore[no-untyped-def]
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    app = build_app(engines.settings, engines)
    app.queue(default_concurrency_limit=4)
    port = _free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
               footer_links=[])
    yield f"http://127.0.0.1:{port}/"
    app.close()


def test_gradio_client_question_in_answer_out(app_url) -> None:
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    chat, panel, *_ = client.predict("数字经济时代新质生产力的核心价值可以归结为一个什么公式？", [],
                                     EXTRACTIVE_LABEL, ALL_SPEAKERS, api_name="/ask")
    answer = chat[-1]["content"]
    text = answer[0]["text"] if isinstance(answer, list) else str(answer)
    assert "数据+算力+算法" in text and 'class="cite"' in text
    assert 'data-speaker="任保平"' in panel


def test_eight_concurrent_sessions_get_their_own_answers(app_url) -> None:
    from gradio_client import Client

    questions = {"吕薇认为发展新质生产力的本质是什么？": "吕薇", "张辉如何看待传统产业？": "张辉",
                 "李开孟认为需要围绕哪四大产业类别开展创新研究？": "李开孟",
                 "王蕴认为新质生产力的第一要素是什么？": "王蕴"}
    jobs = list(questions.items()) * 2

    def run(item):  # type: ignore[no-untyped-def]
        q, speaker = item
        _, panel, *_ = Client(app_url, verbose=False).predict(q, [], EXTRACTIVE_LABEL, ALL_SPEAKERS, api_name="/ask")
        return speaker, panel

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(run, jobs, timeout=120))
    for speaker, panel in results:
        assert f'data-speaker="{speaker}"' in panel


@pytest.mark.browser
def test_real_browser(app_url) -> None:
    if not shutil.which("chromium") and not os.path.exists("/usr/bin/chromium"):
        pytest.skip("Debian's chromium is not installed (make test installs it as root)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        pages = []
        for q in ("吕薇认为发展新质生产力的本质是什么？", "张辉如何看待传统产业？"):
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = ctx.new_page()
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(
                ("http://127.0.0.1", "data:", "blob:", "about:")) else None)
            page.goto(app_url)
            page.locator("#question textarea").fill(q)
            page.locator("#question textarea").press("Enter")
            pages.append(page)
        page1, page2 = pages
        page1.locator("#sources .card").first.wait_for(timeout=60000)
        page2.locator("#sources .card").first.wait_for(timeout=60000)
        assert page1.locator("#chat a.cite").count() > 0
        assert page1.locator('#sources .card[data-speaker="吕薇"] mark').count() > 0
        assert page2.locator('#sources .card[data-speaker="张辉"]').count() > 0
        assert page1.locator('#sources .card[data-speaker="张辉"]').count() == 0  # sessions are separate
        page1.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)
        browser.close()
    assert not outside, outside
