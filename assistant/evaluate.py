"""`assistant eval`: retrieval metrics beside the textbook baseline, and answer metrics.

Question files follow the gold schema: id, type, question, speakers, evidence,
keywords ('a|b' = either), expect ('answer' or 'refuse'). Evidence is compared
after removing all whitespace.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .grounding import MARKER_RE, SUPPORTED, WEAK, check_sentence
from .notices import SEPARATOR
from .text import compact
from .types import BYLINES_ENGINE, Answer

KS = (1, 3, 5)


def _mean(xs: Sequence[float]) -> float:
    return round(sum(xs) / len(xs), 4) if xs else float("nan")


def _by_type(rows: list[dict[str, Any]], keys: Iterable[str]) -> dict[str, dict[str, float]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups["overall"].append(r)
        groups[r["type"]].append(r)
    return {g: {k: _mean([r[k] for r in rs if r.get(k) is not None]) for k in keys} | {"n": len(rs)}
            for g, rs in groups.items()}


def retrieval_row(q: dict[str, Any], passages: Sequence[tuple[str, str]], k: int) -> dict[str, Any]:
    """Metrics of one answerable question; passages are (speaker, text) in rank order."""
    evidence = [compact(e) for e in q.get("evidence", [])]
    texts = [compact(t) for _, t in passages]
    row: dict[str, Any] = {"id": q["id"], "type": q.get("type", "?")}
    for kk in KS:
        row[f"recall@{kk}"] = (sum(any(e in t for t in texts[:kk]) for e in evidence) / len(evidence)
                               if evidence else None)
    first = next((i for i, t in enumerate(texts) if any(e in t for e in evidence)), None)
    row["mrr"] = 1.0 / (first + 1) if first is not None else 0.0
    gold = set(q.get("speakers", []))
    got = {s for s, _ in passages[:k]}
    row["speaker_recall"] = len(gold & got) / len(gold) if gold else None
    return row


RETRIEVAL_KEYS = ("recall@1", "recall@3", "recall@5", "speaker_recall", "mrr")


def evaluate_retrieval(questions: list[dict[str, Any]],
                       search: Callable[[dict[str, Any]], Sequence[tuple[str, str]]],
                       k: int) -> dict[str, dict[str, float]]:
    """``search`` gets the whole question record (a follow-up's ``history`` included)."""
    rows = [retrieval_row(q, search(q), k) for q in questions if q.get("expect", "answer") == "answer"]
    return _by_type(rows, RETRIEVAL_KEYS)


def _keyword_recall(q: dict[str, Any], text: str) -> float | None:
    kws = q.get("keywords") or []
    if not kws:
        return None
    # compared without whitespace, as the evidence is: the document sets numbers apart from Chinese
    # ("3 月 24 日"), which a reader and a gold writer ("3月24日") take for the same text
    low = compact(text).lower()
    return sum(any(compact(alt).lower() in low for alt in kw.split("|")) for kw in kws) / len(kws)


# question types whose answer is one fact: the extractive answer should be short and lead with it
SINGLE_FACT = frozenset({"factoid", "colloquial", "number", "pinyin", "followup", "false_premise"})


def _lead_has_evidence(q: dict[str, Any], a: Answer) -> float | None:
    """1.0 if the answer's first sentence carries most of one gold evidence string."""
    evidence = [compact(e) for e in q.get("evidence", []) if e]
    if not evidence or not a.sentences:
        return None
    lead = compact(a.sentences[0].text)
    def share(e: str) -> float:
        grams = {e[i:i + 2] for i in range(len(e) - 1)}
        return sum(g in lead for g in grams) / (len(grams) or 1)
    return float(max(share(e) for e in evidence) >= 0.6)


def _cut_from_antecedent(a: Answer, frames: Sequence[str]) -> float | None:
    """1.0 if a sentence of the answer opens with a connective (因此, 但, 这…: it leans on the sentence before
    it) and the answer does not give, right before it, the text it follows in its passage. ``frames`` are the
    names an answer's speaker groups open with (吕薇：)."""
    from .extractive import _CONNECTIVE

    if not a.sentences:
        return None
    frame = re.compile(r"^(?:" + "|".join(map(re.escape, frames)) + r")[：:]\s*") if frames else None
    prev = ""
    for s in a.sentences:
        text = compact(frame.sub("", s.text) if frame else s.text)
        if _CONNECTIVE.match(text):
            cited = [compact(a.passages[m - 1].text) for m in s.markers if 1 <= m <= len(a.passages)]
            if not prev or not any(_follows(t, prev, text) for t in cited):
                return 1.0
        prev = text.rstrip("。")  # a run cut at a clause ends in 。 in the answer
    return 0.0


def _follows(passage: str, before: str, text: str) -> bool:
    """``text`` comes right after ``before`` in ``passage`` (a clause mark between them at most)."""
    at, head = passage.find(before), text[:12].rstrip("。")
    return at >= 0 and 0 <= passage.find(head, at + len(before)) - (at + len(before)) <= 1


def answer_row(q: dict[str, Any], a: Answer, experts: Sequence[str]) -> dict[str, Any]:
    refuse = q.get("expect") == "refuse"
    row: dict[str, Any] = {"id": q["id"], "type": q.get("type", "?")}
    refused = a.decision == "refuse" or a.abstained
    hedged = a.decision == "hedge" and not refused
    row["refusal_accuracy"] = float(refused) if refuse else None
    row["false_refusal"] = float(refused) if not refuse else None
    row["hedged"] = float(hedged)
    if refuse or refused:
        return row
    row["keyword_recall"] = _keyword_recall(q, a.text)
    row["answer_chars"] = float(len(MARKER_RE.sub("", a.text)))
    if q.get("type") in SINGLE_FACT:
        row["single_fact_chars"] = row["answer_chars"]
        row["lead_has_evidence"] = _lead_has_evidence(q, a)
    sents = a.sentences
    row["citation_recall"] = _mean([float(s.verdict == SUPPORTED) for s in sents]) if sents else 0.0
    # ALCE-style precision: a citation counts if its passage alone supports or partly supports the sentence
    cited_ok, cited_all = 0, 0
    for s in sents:
        for m in s.markers:
            if 1 <= m <= len(a.passages):
                cited_all += 1
                one = check_sentence(s.text, (1,), [a.passages[m - 1]], experts)
                cited_ok += one.verdict in (SUPPORTED, WEAK)
    row["citation_precision"] = cited_ok / cited_all if cited_all else 0.0
    cited = {c.passage.speaker for c in a.citations}
    gold = set(q.get("speakers", []))
    row["gold_speakers_cited"] = float(gold <= cited) if gold else None
    named_wrong = any(e in compact(s.text) and e not in {a.passages[m - 1].speaker for m in s.markers
                                                          if 1 <= m <= len(a.passages)}
                      for s in sents for e in experts if s.markers)
    row["wrong_speaker"] = float(named_wrong)
    row["supported_share"] = a.supported_share
    row["cut_from_antecedent"] = _cut_from_antecedent(a, [*experts, "编者按", "文中写道"])
    if q.get("type") == "false_premise":
        row["premise_corrected"] = float((row["keyword_recall"] or 0) >= 1.0 and gold <= cited)
    return row


ANSWER_KEYS = ("keyword_recall", "citation_recall", "citation_precision", "gold_speakers_cited",
               "wrong_speaker", "refusal_accuracy", "false_refusal", "hedged", "premise_corrected",
               "supported_share", "lead_has_evidence", "cut_from_antecedent", "single_fact_chars_p50",
               "answer_chars_p50")


def _median(xs: Sequence[float]) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2


def evaluate_answers(questions: list[dict[str, Any]], answers: list[Answer],
                     experts: Sequence[str]) -> dict[str, dict[str, float]]:
    rows = [answer_row(q, a, experts) for q, a in zip(questions, answers, strict=True)]
    table = _by_type(rows, [k for k in ANSWER_KEYS if not k.endswith("_p50")])
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups["overall"].append(r)
        groups[r["type"]].append(r)
    for g, rs in groups.items():
        for key in ("single_fact_chars", "answer_chars"):
            table[g][f"{key}_p50"] = _median([r[key] for r in rs if r.get(key) is not None])
    return table


def _percentile(xs: Sequence[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))] if xs else float("nan")


def _shown(a: dict[str, Any]) -> str:
    """Whose answer a saved answer showed: the model's, the extractive one in its place, a refusal, extractive,
    or the speakers' bylines (quoted whatever the engine)."""
    model = a.get("model", "")
    return ("replaced by extractive" if "fallback from" in model else "refused" if a.get("abstained") else
            model if model in ("extractive", BYLINES_ENGINE) else "model")


def handling(answers: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """How an LLM's replies were handled, from ``Answer.to_json()`` dicts (a run's answers, or the lines
    ``eval --save-answers`` wrote): the router's decisions, whose answer was shown (the model's, or the
    extractive one in its place), each kind of notice (numbers folded, so "2 sentence(s)…" and "1
    sentence(s)…" are one kind), the check's verdicts on what was shown, and time to first token and total."""
    out: dict[str, Any] = {"answers": len(answers)}
    decisions = Counter(a.get("decision", "answer") for a in answers)
    out["decisions"] = dict(decisions)
    out["shown"] = dict(Counter(_shown(a) for a in answers))
    out["model_refused"] = sum(1 for a in answers if a.get("abstained") and a.get("model_text")
                               and "fallback from" not in a.get("model", ""))
    notices: Counter[str] = Counter()
    for a in answers:
        for part in re.split(rf"{SEPARATOR}|\n", a.get("notice") or ""):
            if part.strip():
                notices[re.sub(r"\d+(?:\.\d+)?", "N", part.strip())] += 1
    out["notices"] = dict(notices.most_common())
    verdicts: dict[str, Counter[str]] = {"model": Counter(), "replaced by extractive": Counter()}
    for a in answers:
        if not a.get("abstained") and (key := _shown(a)) in verdicts:
            verdicts[key].update(s["verdict"] for s in a.get("sentences") or [])
    out["verdicts"] = {k: dict(v) for k, v in verdicts.items()}
    asked = [a["timings"] for a in answers if a.get("model_text") and a.get("timings", {}).get("first_token_ms")]
    first = [t["first_token_ms"] / 1000 for t in asked]  # only answers the model was asked for
    total = [t["total_ms"] / 1000 for t in asked]

    def stat(xs: list[float], q: float) -> float | None:
        return round(_percentile(xs, q), 1) if xs else None

    out["ttft_s"] = {"p50": stat(first, 0.5), "p95": stat(first, 0.95)}
    out["total_s"] = {"p50": stat(total, 0.5), "p95": stat(total, 0.95)}
    return out


def format_handling(title: str, h: dict[str, Any]) -> str:
    lines = [title, f"answers {h['answers']}: decisions " + ", ".join(f"{k} {v}" for k, v in h["decisions"].items()),
             "shown: " + ", ".join(f"{k} {v}" for k, v in h["shown"].items())
             + f" (the model refused by itself: {h['model_refused']})",
             "verdicts: " + "; ".join(f"{k}: " + ", ".join(f"{v} {n}" for v, n in sorted(c.items()))
                                      for k, c in h["verdicts"].items() if c),
             f"time to first token p50 {h['ttft_s']['p50']} s, p95 {h['ttft_s']['p95']} s; "
             f"whole answer p50 {h['total_s']['p50']} s, p95 {h['total_s']['p95']} s "
             "(answers the model was asked for)",
             "notices:"]
    lines += [f"  {n:4d}  {text}" for text, n in h["notices"].items()] or ["  none"]
    return "\n".join(lines)


def ask_all(assistant: Any, questions: Sequence[dict[str, Any]],
            on_answer: Callable[[dict[str, Any], Answer], None] | None = None) -> list[Answer]:
    """Answer every question as a student would ask it: a question with a ``history`` is asked after
    those earlier questions, in one chat (their answers become the history)."""
    answers = []
    for q in questions:
        history: list[tuple[str, Answer]] = []
        for earlier in q.get("history") or []:
            history.append((earlier, assistant.ask(earlier, history)))
        answers.append(assistant.ask(q["question"], history))
        if on_answer:
            on_answer(q, answers[-1])
    return answers


# ----------------------------------------------------------------------------- baseline


class TextbookBaseline:
    """The LangChain tutorial recipe: RecursiveCharacterTextSplitter 250/50 over the raw text,
    jieba BM25 + multilingual-e5-small, reciprocal-rank fusion. No speakers, no routing."""

    def __init__(self, raw_text: str, embedder: Any, sections: Sequence[tuple[str, int, int]] = ()) -> None:
        import bm25s
        import jieba
        import numpy as np
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        splitter = RecursiveCharacterTextSplitter(chunk_size=250, chunk_overlap=50)
        self.texts = splitter.split_text(raw_text)
        self._jieba = jieba.Tokenizer()
        self._tok = lambda s: [w for w in self._jieba.lcut(s) if w.strip() and any(c.isalnum() for c in w)]
        self._bm25 = bm25s.BM25()
        self._bm25.index([self._tok(t) for t in self.texts], show_progress=False)
        self._emb = embedder
        self._vecs = np.array(embedder.embed_documents(self.texts))
        self._np = np
        # speaker of a baseline chunk: the section whose raw span holds its start (for speaker recall only)
        self._sections = list(sections)
        self._raw = raw_text

    def speaker_of(self, text: str) -> str:
        pos = self._raw.find(text[:40])
        for speaker, start, end in self._sections:
            if start <= pos < end:
                return speaker
        return ""

    def search(self, question: str, k: int = 5) -> list[tuple[str, str]]:
        np = self._np
        dense = self._vecs @ np.array(self._emb.embed_query(question))
        toks = self._tok(question)
        lex = np.array(self._bm25.get_scores(toks)) if toks else np.zeros(len(self.texts))
        fused = np.zeros(len(self.texts))
        for scores in (dense, lex):
            for rank, i in enumerate(np.argsort(-scores)[:30]):
                fused[i] += 1.0 / (60 + rank + 1)
        top = np.argsort(-fused)[:k]
        return [(self.speaker_of(self.texts[i]), self.texts[i]) for i in top]


def section_spans(raw: str, speakers_in_order: Sequence[tuple[str, str]]) -> list[tuple[str, int, int]]:
    """Approximate raw-text spans of each section, located by the title's first characters."""
    starts: list[tuple[str, int]] = []
    pos = 0
    for speaker, title in speakers_in_order:
        key = title[:8]
        found = raw.find(key, pos) if key else -1
        starts.append((speaker, 0 if found < 0 or not starts else found))
        pos = max(pos, found if found >= 0 else pos)
    spans = []
    for i, (speaker, start) in enumerate(starts):
        end = starts[i + 1][1] if i + 1 < len(starts) else len(raw)
        spans.append((speaker, start, end))
    return spans


def format_table(title: str, columns: dict[str, dict[str, dict[str, float]]], keys: Sequence[str]) -> str:
    """Side-by-side table: one block per question type, one column per system."""
    systems = list(columns)
    groups = list(next(iter(columns.values())).keys())
    lines = [title, f"{'type':<14}{'metric':<22}" + "".join(f"{s:>14}" for s in systems)]
    for g in groups:
        for key in keys:
            vals = [columns[s].get(g, {}).get(key) for s in systems]
            if all(v is None or v != v for v in vals):
                continue
            lines.append(f"{g:<14}{key:<22}" + "".join(
                f"{'-' if v is None or v != v else f'{v:.3f}':>14}" for v in vals))
        n = columns[systems[0]].get(g, {}).get("n")
        lines.append(f"{g:<14}{'questions':<22}{n:>14}")
    return "\n".join(lines)


def collect_signals(assistant: Any, questions: Sequence[dict[str, Any]]) -> list[tuple[Any, bool]]:
    """(retrieval signals, answerable?) per question, follow-ups read in their chat, for ``decide.fit``."""
    rows = []
    for q in questions:
        history: list[tuple[str, Answer]] = []
        for earlier in q.get("history") or []:
            history.append((earlier, assistant.ask(earlier, history)))
        query = assistant.condense(q["question"], history)
        rows.append((assistant.retrieve(query).signals, q.get("expect", "answer") == "answer"))
    return rows
