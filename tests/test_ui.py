"""The browser chat without a browser: one turn (ui_turns), the Markdown and HTML it renders (ui_render), the
suggestions (ui_suggest), the launched app through gradio_client (sessions kept apart, under load), and the
login. test_browser.py drives chromium."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import statistics
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from assistant.pipeline import Assistant
from assistant.settings import ConfigError
from assistant.store import ChromaUnavailable
from assistant.types import Answer, Chunk, Citation, Passage, SentenceCheck
from assistant.ui import LoginGuard, build_app, credentials, page_options
from assistant.ui_render import Turn, answer_markdown, escape_md, export_markdown, sources_html
from assistant.ui_turns import ALL_SPEAKERS, EXAMPLES, EXTRACTIVE_LABEL, Engines, Frame, _cap, reset, respond

INJECTION = ("![](http://example.invalid/x.png) [点这里](http://example.invalid/page) http://example.invalid/auto "
             "www.example.invalid <img src=http://example.invalid/y.png> <script>alert(1)</script> a@example.invalid。")


class ScriptedModel:
    """A fake LLM: streams fixed pieces, ``delay`` seconds apart, and stops when the request is cancelled."""

    is_llm = True

    def __init__(self, pieces: Sequence[str], delay: float = 0.0, name: str = "scripted-llm") -> None:
        self.pieces, self.delay, self.name = list(pieces), delay, name

    def stream(self, request) -> Iterator[str]:  # type: ignore[no-untyped-def]
        for piece in self.pieces:
            if request.cancel.wait(self.delay) if self.delay else request.cancel.is_set():
                return
            yield piece


@pytest.fixture(scope="module")
def engines(seed_index) -> Engines:  # type: ignore[no-untyped-def]
    e = Engines(seed_index.settings.with_overrides(model="extractive"), pace=0.0)
    e.warm()
    return e


def _last(frames: Iterator[Frame]) -> Frame:
    return deque(frames, maxlen=1)[0]


def _ask(engines: Engines, question: str, turns: Sequence[Turn] = (), speaker: str = ALL_SPEAKERS,
         model: str = EXTRACTIVE_LABEL, session: str = "s") -> Frame:
    return _last(respond(engines, question, model, speaker, list(turns), session))


def _answer(f: Frame) -> str:
    return f.chat[-1]["content"]


# ----------------------------------------------------------------------------- one turn


def test_answer_links_its_own_cards_with_the_cited_sentence_marked(engines) -> None:
    f = _ask(engines, "吕薇认为发展新质生产力的本质是什么？")
    assert f.box == "" and len(f.turns) == 1 and f.chat[-1]["role"] == "assistant"
    assert "[[1]](#t1-s1)" in _answer(f)  # a Markdown link to this answer's card, numbered from 1
    assert 'id="t1-s1"' in f.sources and 'data-speaker="吕薇"' in f.sources and "<mark>" in f.sources
    assert "《发展新质生产力要提高人才素质" in f.sources and 'data-quote="' in f.sources
    # copy gives Markdown with the sources listed: speaker, title, paragraph
    assert re.search(r"来源：\n- \[\[1\]\]\(#t1-s1\) 吕薇 · 《发展新质生产力要提高人才素质.*》 · 第 \d+ 段", _answer(f))
    assert "技术信息" in f.sources and "技术信息" not in _answer(f)  # timings behind a details toggle


def test_three_answers_keep_their_own_sources(engines) -> None:
    turns: list[Turn] = []
    for q in ("吕薇认为发展新质生产力的本质是什么？", "张辉如何看待传统产业？", "任保平怎么看算力？"):
        turns = _ask(engines, q, turns).turns
    f = Frame([], sources_html(turns), turns)
    first = re.search(r'<article class="card" id="t1-s1"[^>]*data-speaker="([^"]+)"', f.sources)
    assert first and first.group(1) == "吕薇"
    assert re.search(r'id="t2-s1"[^>]*data-speaker="张辉"', f.sources)
    assert f.sources.index('id="t3"') < f.sources.index('id="t1"')  # newest first; older ones folded
    assert '<details class="turn" id="t3" open>' in f.sources and '<details class="turn" id="t1">' in f.sources


def test_markers_are_numbered_contiguously_per_answer() -> None:
    def passage(n: int, speaker: str) -> Passage:
        return Passage(Chunk(f"c{n}", f"{speaker}的第{n}段原文。", speaker, "单位", "题目", 1, n, 0, 9), 1.0)

    ps = tuple(passage(n, s) for n, s in ((1, "甲"), (2, "乙"), (3, "甲"), (4, "乙")))
    a = Answer("问", "甲：甲的第3段原文。[3]乙：乙的第4段原文。[4]", (Citation(3, ps[2]), Citation(4, ps[3])), False,
               "extractive", (SentenceCheck("甲：甲的第3段原文。", (3,), "supported"),
                              SentenceCheck("乙：乙的第4段原文。", (4,), "supported")), ps)
    md = answer_markdown(Turn(2, "问", a))
    assert "[[1]](#t2-s1)" in md and "[[2]](#t2-s2)" in md and "[3]" not in md and "[4]" not in md
    # across experts: a table
    assert "| 专家 | 观点 | 出处 |" in md and "| 甲 | 甲的第3段原文。 | [[1]](#t2-s1) |" in md
    panel = sources_html([Turn(1, "问", a)])
    assert re.search(r'id="t1-s1"[^>]*data-speaker="甲"', panel) and "第3段" in panel


def test_markdown_injection_is_inert() -> None:
    markdown_it = pytest.importorskip("markdown_it")
    rendered = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(escape_md(INJECTION))
    assert "<img" not in rendered and "<a " not in rendered and "<script" not in rendered
    assert "![](http" in rendered  # shown as the text it is
    assert "http\\://" in escape_md("http://x") and "www\\." in escape_md("www.x") and "\\@" in escape_md("a@b")


def test_user_and_document_text_stay_markdown_without_html(engines) -> None:
    q = "<script>alert('x')</script><img src=x onerror=alert(1)>吕薇认为发展新质生产力的本质是什么？"
    f = _ask(engines, q)
    assert all("<" not in m["content"].replace("\\<", "") for m in f.chat)
    assert "<script" not in f.sources and "<img" not in f.sources and "&lt;script&gt;" in f.sources


def test_scripted_model_answer_with_image_and_link_is_escaped(seed_index) -> None:
    model = ScriptedModel(["发展新质生产力的本质就是转变发展方式。[2] ", INJECTION])
    eng = Engines(seed_index.settings, pace=0.0, assistant=Assistant(seed_index.settings, generator=model,
                                                                     index=seed_index))
    f = _last(respond(eng, "吕薇认为发展新质生产力的本质是什么？", None, ALL_SPEAKERS, [], "inj"))
    md = _answer(f)
    assert "\\!\\[\\](http\\://example.invalid/x.png)" in md and "（⚠没有出处）" in md
    assert not re.search(r"(?<!\\)\]\(http|(?<!\\)<img|(?<!\\)<script", md)


# ----------------------------------------------------------------------------- the expert filter


def test_filter_is_shown_and_applied(engines) -> None:
    f = _ask(engines, "人工智能有什么影响？", speaker="任保平")
    assert 'data-speaker="任保平"' in f.sources and 'data-speaker="李平"' not in f.sources
    assert "**只看 任保平**" in _answer(f) and "只看 任保平" in f.status


def test_question_naming_another_expert_overrides_the_filter(engines) -> None:
    f = _ask(engines, "张辉如何看待传统产业？", speaker="盛朝迅")
    assert "问题点名了 张辉" in _answer(f) and 'data-speaker="张辉"' in f.sources
    assert 'data-speaker="盛朝迅"' not in f.sources and "**只看" not in _answer(f)


def test_a_name_typed_in_traditional_characters_overrides_the_filter_too(engines) -> None:
    f = _ask(engines, "張輝如何看待傳統產業？", speaker="盛朝迅")
    assert "问题点名了 张辉" in _answer(f) and 'data-speaker="张辉"' in f.sources
    assert 'data-speaker="盛朝迅"' not in f.sources and "理解为" in _answer(f)


def test_refusal_under_a_filter_says_so_and_shows_closest_passages(engines) -> None:
    f = _ask(engines, "张三怎么看新质生产力？", speaker="吕薇")
    a = f.turns[-1].answer
    assert a is not None and a.decision == "refuse"
    md = _answer(f)
    assert "这次只检索了 吕薇 的发言" in md and "最接近的段落" in md and "(#t1-p1)" in md
    assert 'id="t1-p1"' in f.sources and 2 <= len(f.suggestions or []) <= 3


def test_new_chat_resets_chat_sources_filter_and_memory(engines) -> None:
    f = _ask(engines, "吕薇认为发展新质生产力的本质是什么？", speaker="吕薇")
    assert f.turns
    r = reset(engines, "s")
    assert r.chat == [] and r.turns == [] and r.filter == ALL_SPEAKERS and "t1-s1" not in r.sources
    assert r.suggestions == EXAMPLES and r.export is None


# ----------------------------------------------------------------------------- follow-ups and suggestions


def test_follow_up_reading_is_shown_and_editable(engines) -> None:
    turns = _ask(engines, "吕薇认为发展新质生产力的本质是什么？").turns
    f = _ask(engines, "那王蕴怎么看？", turns)
    assert re.search(r"理解为：\[王蕴：.+\]\(#reask-2\)", _answer(f))
    assert 'data-speaker="王蕴"' in f.sources.split('id="t1"')[0]


def test_suggestions_come_from_the_answer(engines) -> None:
    a = _ask(engines, "张辉如何看待传统产业？")
    b = _ask(engines, "哪些专家谈到了人工智能？")
    assert a.suggestions and b.suggestions and a.suggestions != b.suggestions
    assert any("张辉" in s for s in a.suggestions) and any("传统产业" in s for s in a.suggestions)
    assert any("人工智能" in s for s in b.suggestions)


def test_experts_view_claims_are_verbatim_from_the_index(engines) -> None:
    profiles = engines.guide.profiles()
    assert [p.speaker for p in profiles] == engines.get(None).retriever.directory.experts
    chunks = engines.get(None).retriever.chunks
    for p in profiles:
        assert p.affiliation and p.title and len(p.claims) == 3
        for c in p.claims:
            assert c.chunk.speaker == p.speaker and c.text in c.chunk.text and c.chunk in chunks


def test_export_is_markdown_with_sources(engines) -> None:
    f = _ask(engines, "吕薇认为发展新质生产力的本质是什么？", session="export")
    assert f.export and Path(f.export).suffix == ".md"
    md = Path(f.export).read_text(encoding="utf-8")
    assert md.startswith("# ") and "## 问 1：吕薇认为发展新质生产力的本质是什么？" in md
    assert re.search(r"来源：\n- \\\[1\\\] 吕薇（.+）《发展新质生产力要提高人才素质.*》第 \d+ 段", md)
    assert md == export_markdown(f.turns, md.split("导出时间：")[1].split("\n")[0])


# ----------------------------------------------------------------------------- bad input and failures


def test_empty_and_symbol_questions_add_no_bubble(engines) -> None:
    for q, says in (("   ", "请先输入问题"), ("😀🎉", "没有可检索的文字")):
        f = _ask(engines, q)
        assert f.chat == [] and f.turns == [] and says in f.status and f.box is None


def test_long_paste_is_capped_with_a_notice(engines) -> None:
    cap = engines.settings.max_question_chars
    q, notice = _cap("吕薇认为发展新质生产力的本质是什么？" + "很" * 5000, cap)
    assert len(q) == cap and f"只检索了前 {cap} 个字符" in notice
    t0 = time.perf_counter()
    f = _ask(engines, "吕薇认为发展新质生产力的本质是什么？" + "很" * 20_000_000)  # 20 MB pasted
    assert len(f.turns[-1].question) == cap and f"只检索了前 {cap} 个字符" in _answer(f)
    assert time.perf_counter() - t0 < 30  # (searching 2,000 characters takes seconds on 2 cores)


def test_extractive_answer_streams_sentence_by_sentence(engines) -> None:
    frames = list(respond(engines, "哪些专家谈到了人工智能？", EXTRACTIVE_LABEL, ALL_SPEAKERS, [], "stream"))
    partial = [f.chat[-1]["content"] for f in frames[1:-1]]
    assert len(partial) >= len(frames[-1].turns[-1].answer.citations) >= 2  # type: ignore[union-attr]
    assert all(a in b for a, b in zip(partial, partial[1:], strict=False))  # each adds to the last


class _Broken:
    """An assistant whose index fails on the first search, as a stopped Chroma server does."""

    def __init__(self, real: Assistant) -> None:
        self.real = real
        self.generator = real.generator
        self.model_name = real.model_name

    def stream(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        def fail():  # type: ignore[no-untyped-def]
            raise ChromaUnavailable("cannot reach the Chroma server at http://127.0.0.1:9 in 5 s; is it running?")
            yield ""
        from assistant.pipeline import Response
        return Response(fail(), threading.Event())

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        return getattr(self.real, name)


def test_index_outage_is_a_message_in_the_chat(engines, seed_index) -> None:
    broken = Engines(seed_index.settings, pace=0.0, assistant=_Broken(engines.get(None)))  # type: ignore[arg-type]
    f = _last(respond(broken, "吕薇认为发展新质生产力的本质是什么？", None, ALL_SPEAKERS, [], "x"))
    assert "检索原文时出错" in _answer(f) and "cannot reach the Chroma server" in _answer(f)
    assert f.turns[-1].answer is None and f.chat[-2]["role"] == "user"


class _NoModel(_Broken):
    """An assistant whose model cannot be loaded."""

    @property
    def generator(self):  # type: ignore[no-untyped-def]
        from assistant.generate import ModelError
        raise ModelError("/models/missing.gguf: no such file")

    @generator.setter
    def generator(self, value) -> None:  # type: ignore[no-untyped-def]
        pass


def test_a_model_that_cannot_load_is_a_message_in_the_chat(engines, seed_index) -> None:
    eng = Engines(seed_index.settings, pace=0.0, assistant=engines.get(None))
    eng._engines["missing"] = _NoModel(engines.get(None))  # type: ignore[assignment]
    f = _last(respond(eng, "吕薇认为发展新质生产力的本质是什么？", "missing", ALL_SPEAKERS, [], "m"))
    assert "回答时出错（ModelError：/models/missing.gguf: no such file）" in _answer(f) and not f.streaming


def test_stop_ends_a_streaming_model_answer_quickly(seed_index) -> None:
    model = ScriptedModel(["发展新质生产力的本质", "就是转变发展方式。[2]"] + ["继续。"] * 50, delay=0.3)
    eng = Engines(seed_index.settings, pace=0.0, assistant=Assistant(seed_index.settings, generator=model,
                                                                     index=seed_index))
    eng.warm()  # the grounding check's dictionaries load once, not inside the measured second
    frames = respond(eng, "吕薇认为发展新质生产力的本质是什么？", None, ALL_SPEAKERS, [], "stop-me")
    streaming = [next(frames) for _ in range(2)]
    assert streaming[-1].streaming  # the stop button shows while the model streams
    t0 = time.perf_counter()
    assert eng.cancel("stop-me")
    final = _last(frames)
    assert time.perf_counter() - t0 < 2 and not final.streaming and "已停止" in _answer(final)


def test_extractive_answers_do_not_wait_for_a_stalled_model(engines, seed_index) -> None:
    stalled = ScriptedModel(["发展新质生产力的本质"] + ["……"] * 100, delay=5.0)
    eng = Engines(seed_index.settings, pace=0.0, assistant=Assistant(seed_index.settings, generator=stalled,
                                                                     index=seed_index))
    eng._engines[EXTRACTIVE_LABEL] = engines.get(EXTRACTIVE_LABEL)  # the warm extractive engine
    waiting = respond(eng, "吕薇认为发展新质生产力的本质是什么？", None, ALL_SPEAKERS, [], "llm")
    worker = threading.Thread(target=lambda: deque(waiting, maxlen=0))
    worker.start()
    time.sleep(0.5)
    t0 = time.perf_counter()
    f = _last(respond(eng, "张辉如何看待传统产业？", EXTRACTIVE_LABEL, ALL_SPEAKERS, [], "other"))
    assert time.perf_counter() - t0 < 2 and "传统产业" in _answer(f)
    eng.cancel("llm")
    worker.join(timeout=10)
    assert not worker.is_alive()


# ----------------------------------------------------------------------------- login


def test_auth_from_env_or_file_and_rate_limited(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ASSISTANT_AUTH", "alice:s3cret")
    assert credentials(None) == ("alice", "s3cret")
    secret = tmp_path / "auth"
    secret.write_text("bob:pa:ss\n", encoding="utf-8")
    assert credentials(f"@{secret}") == ("bob", "pa:ss")
    for bad in ("nocolon", ":pw", f"@{tmp_path / 'missing'}"):
        with pytest.raises(ConfigError):
            credentials(bad)
    guard = LoginGuard("bob", "pa:ss", limit=3, window=60, lockout=60, delay=0)
    assert asyncio.run(guard.check("bob", "pa:ss"))
    assert not any(asyncio.run(guard.check("bob", f"guess{n}")) for n in range(3))
    assert not asyncio.run(guard.check("bob", "pa:ss"))  # locked, even with the right password


def test_login_through_the_launched_app(engines) -> None:
    import httpx

    guard = LoginGuard("bob", "pa:ss", limit=2, window=60, lockout=60, delay=0)
    app = build_app(engines.settings, engines)
    port = _free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
               auth=guard.check, **page_options())
    try:
        login = f"http://127.0.0.1:{port}/login"
        assert httpx.post(login, data={"username": "bob", "password": "nope"}).status_code == 400
        assert httpx.post(login, data={"username": "bob", "password": "pa:ss"}).status_code == 200
        assert httpx.post(login, data={"username": "bob", "password": "nope2"}).status_code == 400
        assert httpx.post(login, data={"username": "bob", "password": "pa:ss"}).status_code == 400  # locked
    finally:
        app.close()


# ----------------------------------------------------------------------------- the launched app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(engines):  # type: ignore[no-untyped-def]
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    app = build_app(engines.settings, engines)
    app.queue(default_concurrency_limit=16)
    port = _free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **page_options())
    yield f"http://127.0.0.1:{port}/"
    app.close()


def _text(chat) -> str:  # type: ignore[no-untyped-def]
    content = chat[-1]["content"]
    return content[0]["text"] if isinstance(content, list) else str(content)


def test_gradio_client_question_in_answer_out(app_url) -> None:
    from gradio_client import Client

    out = Client(app_url, verbose=False).predict("张辉如何看待传统产业？", EXTRACTIVE_LABEL, ALL_SPEAKERS,
                                                 api_name="/ask")
    chat, panel = out[0], out[1]
    assert "传统产业" in _text(chat) and "(#t1-s1)" in _text(chat) and 'data-speaker="张辉"' in panel


LOAD_QUESTIONS = {"吕薇": ["吕薇认为发展新质生产力的本质是什么？", "吕薇怎么看人才？"],
                  "张辉": ["张辉如何看待传统产业？", "张辉怎么看生产要素？"],
                  "李开孟": ["李开孟认为需要围绕哪四大产业类别开展创新研究？", "李开孟怎么看应用场景？"],
                  "王蕴": ["王蕴认为新质生产力的第一要素是什么？", "王蕴怎么看生产关系？"],
                  "任保平": ["任保平怎么看算力？", "任保平如何看待数据要素？"],
                  "金碚": ["金碚如何看待经济学范式？", "金碚怎么看数字经济？"],
                  "盛朝迅": ["盛朝迅如何看待新型生产关系？", "盛朝迅怎么看超大规模市场？"],
                  "李平": ["李平怎么看新一轮科技革命？", "李平认为新质生产力提出的背景是什么？"]}


def load_check(url: str, sessions: int, questions: int) -> tuple[list[float], list[str]]:
    """``sessions`` gradio_client sessions at once, each asking ``questions`` questions about one expert in
    turn (the session's state carries over). Returns (seconds per question, what went wrong)."""
    from gradio_client import Client

    experts = list(LOAD_QUESTIONS)

    def session(n: int) -> tuple[list[float], list[str]]:
        who = experts[n % len(experts)]
        asked = [LOAD_QUESTIONS[who][i % 2] for i in range(questions)]
        client = Client(url, verbose=False)
        times, wrong = [], []
        for i, q in enumerate(asked):
            t0 = time.perf_counter()
            chat, panel = client.predict(q, EXTRACTIVE_LABEL, ALL_SPEAKERS, api_name="/ask")[:2]
            times.append(time.perf_counter() - t0)
            users = [m["content"] for m in chat if m["role"] == "user"]
            latest = panel.split('<details class="turn" id="t', 2)[1] if "turn" in panel else ""
            speakers = set(re.findall(r'data-speaker="([^"]+)"', latest))
            if len(users) != i + 1 or speakers != {who}:
                wrong.append(f"session {n} question {i + 1}: {len(users)} questions shown, sources {speakers}")
        return times, wrong

    with ThreadPoolExecutor(sessions) as pool:
        results = list(pool.map(session, range(sessions), timeout=600))
    return [t for r in results for t in r[0]], [w for r in results for w in r[1]]


def test_concurrent_sessions_get_their_own_answers(app_url) -> None:
    sessions = int(os.environ.get("ASSISTANT_LOAD_SESSIONS", "4"))
    questions = int(os.environ.get("ASSISTANT_LOAD_QUESTIONS", "3"))
    times, wrong = load_check(app_url, sessions, questions)
    assert not wrong, wrong
    assert len(times) == sessions * questions
    p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
    print(f"\nload: {sessions} sessions x {questions} questions, p50 {statistics.median(times):.2f} s, "
          f"p95 {p95:.2f} s, max {max(times):.2f} s")


# ----------------------------------------------------------------------------- notices in Chinese


def test_every_notice_reads_in_chinese_in_the_chat_and_unknown_text_passes_through() -> None:
    from assistant import notices

    values = {"length": 5012, "limit": 2000, "count": 2, "figures": "5%, 3倍", "text": "张辉 传统 产业",
              "error": "model server at http://x/v1 timed out", "written": "王韵", "name": "王蕴"}
    for n in notices.ALL:
        english = n(**{k: v for k, v in values.items() if "{" + k + "}" in n.en})
        chinese = notices.to_chinese(english)
        assert chinese != english and not re.search(r"\b(the|model's|sentence|passage)\b", chinese.replace(
            str(values["error"]), "")), (english, chinese)
    joined = notices.join(notices.ATTRIBUTED(count=3), notices.PREMISE(figures="5%"), "已是中文", "something new")
    assert notices.to_chinese(joined) == ("模型有 3 句没标出处，已标上支持它的原文；提问中的 5% 在所引原文中找不到，"
                                          "请以原文为准；已是中文；something new")


def test_a_replaced_model_answer_says_so_in_chinese(seed_index) -> None:
    class Nonsense:
        is_llm, name = True, "nonsense"

        def stream(self, request):  # type: ignore[no-untyped-def]
            yield "火星上的企业都在生产量子香蕉。[1]"

    a = Assistant(seed_index.settings.with_overrides(condense="rules"), generator=Nonsense(),
                  index=seed_index).ask("吕薇认为发展新质生产力的本质是什么？")
    assert "not backed by the passages" in a.notice  # JSON and the CLI keep English
    md = answer_markdown(Turn(1, a.question, a))
    assert "注：模型的回答在原文中找不到依据，下面改为直接摘录原文" in md and "not backed" not in md
