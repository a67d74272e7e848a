"""Answer, hedge or refuse: the router between retrieval and the answer.

retrieval signals --confidence()--> a probability that the passages answer the question
                  --route()-------> Decision("answer" | "hedge" | "refuse", confidence, reason)

The probability is a logistic model of four signals that do not depend on how a question is
phrased: the specificity-weighted coverage of the question's words (general-language word
frequencies, so an everyday word the document lacks costs little and a missing name or term costs
much), the dense similarity of the best passage, whether the dense and lexical rankings agree,
and whether the question is in English (which has only the dense signal and a dictionary bridge).
Its coefficients and the two cut points are settings, fitted by ``fit()`` on a calibration set
(``assistant calibrate --questions FILE``), never on the questions they are reported on.

A false refusal tells a student the document says nothing, which is worse than a hedged answer,
so the cut points are chosen for few false refusals first: ``refuse_below`` is the highest cut that
refuses at most ``max_false_refusals`` (default 1%) of the calibration set's answerable questions,
and ``answer_above`` the lowest cut above which at most ``max_hedged_unanswerable`` (default 5%) of
what is answered plainly is unanswerable. (With none allowed, two thirds of answerable questions were
hedged: a hedge on every answer tells a student nothing.) Between the two the answer is hedged: the closest passages,
said to be possibly indirect. Below ``refuse_below`` it is refused only when less than ``refuse_coverage_below``
(a half) of the question's words, by specificity, are in the passages: a refusal says the document has nothing on
it, which is not so when its subject is there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .types import Retrieval, Signals, Unsaid

ANSWER, HEDGE, REFUSE = "answer", "hedge", "refuse"


@dataclass(frozen=True)
class Decision:
    outcome: str  # answer | hedge | refuse
    confidence: float
    reason: str
    missing: tuple[str, ...] = ()  # the question's specific words no retrieved passage holds
    unknown_people: tuple[str, ...] = ()  # people the question names who are not speakers of the document
    later: tuple[str, ...] = ()  # years the question asks about that are after the documents' date
    lacks: str = ""  # "number" | "date" | "place" | "organisation" | "person": asked for, and no passage gives one
    unsaid: Unsaid | None = None  # asked of one expert, whose statement never mentions it (others' do)


def features(s: Signals) -> list[float]:
    """The model's inputs, each roughly in [0, 1]. English questions are matched through a dictionary
    bridge, so their word signals get their own coefficients."""
    zh = 0.0 if s.english else 1.0
    en = 1.0 - zh
    return [zh * s.coverage, zh * s.sentence, zh * s.key_found, zh * s.missing, zh * s.answer_type,
            (s.dense - 0.8) * 10, s.agree, float(s.routed), en, en * s.coverage]


FEATURES = ("coverage", "sentence", "key_found", "missing", "answer_type", "dense", "agree", "routed", "english",
            "english_coverage")


def confidence(signals: Signals, settings: Any) -> float:
    """P(the passages answer the question) under the fitted logistic model, in [0, 1]."""
    coef = tuple(settings.decide_coef)
    z = settings.decide_bias + sum(c * x for c, x in zip(coef, features(signals), strict=True))
    return round(1 / (1 + math.exp(-max(min(z, 30.0), -30.0))), 4)


def route(retrieval: Retrieval, settings: Any, missing: Sequence[str] = (), unknown_people: Sequence[str] = (),
          experts: Sequence[str] = (), later: Sequence[str] = (), year: int | None = None,
          lacks: str = "", unsaid: Unsaid | None = None) -> Decision:
    """The call on one retrieval. ``missing`` names the question's specific words no retrieved passage
    holds; ``unknown_people`` the people it names who did not speak (张三怎么看？), which refuses, saying
    who did speak; ``later`` the years it asks about that are after the documents' date ``year`` (2025年…
    of a record of 2024), which refuses too: nothing written then can say; ``lacks`` what the question asks
    for (a number, a date) when no passage sentence that matches the question gives one, which refuses: the
    document does not give it; ``unsaid`` what the one expert a question asks never mentions when other statements
    do (张辉对人口老龄化咋看), which refuses, saying who does."""
    p = retrieval.confidence
    miss, unknown = tuple(missing), tuple(unknown_people)
    if not retrieval.passages:
        return Decision(REFUSE, 0.0, "nothing in the document matches the question", miss, unknown)
    if later:
        return Decision(REFUSE, p, f"the question asks about {'、'.join(later)}, after the document's date "
                        f"({year}), which it never mentions", miss, unknown, tuple(later))
    if unknown and not retrieval.speakers:
        return Decision(REFUSE, p, f"{'、'.join(unknown)} is not one of the speakers; the speakers are "
                        f"{'、'.join(experts)}", miss, unknown)
    if retrieval.about_speakers is not None:  # 几位专家发言, 金碚在哪工作: the bylines say it
        return Decision(ANSWER, p, f"{retrieval.about_speakers.reason} (a question about the speakers themselves)",
                        miss)
    if lacks and not unknown:
        article = "an" if lacks[0] in "aeiou" else "a"
        return Decision(REFUSE, p, f"the question asks for {article} {lacks}, and none of the passages that match it "
                        f"gives one", miss, unknown, lacks=lacks)
    if unsaid is not None:
        return Decision(REFUSE, p, f"{unsaid.speaker}'s statement does not mention {'、'.join(unsaid.words)}; "
                        f"mentioned by {'、'.join(unsaid.said_by)}", miss, unsaid=unsaid)
    gap = f"; not in the document: {'、'.join(miss)}" if miss else ""
    if p >= settings.answer_above:
        return Decision(ANSWER, p, f"the passages match the question (confidence {p:.2f})", miss)
    # a refusal says the document has nothing on it: only when most of the question's words are not there either
    # (新质生产力最早是谁提出的？哪一年？ has a low confidence, and its subject in many passages)
    if p >= settings.refuse_below or retrieval.signals.coverage >= settings.refuse_coverage_below:
        return Decision(HEDGE, p, f"the closest passages match the question only in part (confidence {p:.2f}){gap}",
                        miss)
    return Decision(REFUSE, p, f"no passage matches the question (confidence {p:.2f}){gap}", miss)


# ----------------------------------------------------------------------------- fitting


def fit(rows: Sequence[tuple[Signals, bool]], *, max_false_refusals: float = 0.01,
        max_hedged_unanswerable: float = 0.05, l2: float = 0.001, steps: int = 20000) -> dict[str, Any]:
    """Fit the logistic model and the two cut points on (signals, answerable) pairs.

    Plain gradient descent on the L2-regularised log loss (a handful of parameters, a few hundred rows),
    with the classes weighted equally. Returns the settings to use.
    """
    import numpy as np

    x = np.array([features(s) for s, _ in rows], dtype=float)
    y = np.array([1.0 if a else 0.0 for _, a in rows])
    pos = max(y.sum(), 1.0)
    neg = max(len(y) - y.sum(), 1.0)
    w_row = np.where(y == 1, 0.5 / pos, 0.5 / neg)
    w = np.zeros(x.shape[1])
    b = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        g = (p - y) * w_row
        w -= 5.0 * (x.T @ g + l2 * w)
        b -= 5.0 * g.sum()
    p = 1 / (1 + np.exp(-(x @ w + b)))
    answerable = np.sort(p[y == 1])
    # the highest cut that refuses at most max_false_refusals of the answerable questions
    n_allowed = int(math.floor(max_false_refusals * len(answerable)))
    refuse_below = float(answerable[n_allowed]) if len(answerable) else 0.5
    # the lowest cut (not below refuse_below) above which few answered questions are unanswerable
    answer_above = refuse_below
    for cut in sorted(set(p.tolist())):
        if cut < refuse_below:
            continue
        plain = p >= cut
        if plain.sum() and (y[plain] == 0).sum() <= max_hedged_unanswerable * plain.sum():
            answer_above = cut
            break
    return {"decide_bias": round(float(b), 4), "decide_coef": [round(float(v), 4) for v in w],
            "refuse_below": round(refuse_below - 1e-4, 4), "answer_above": round(max(answer_above, refuse_below), 4)}
