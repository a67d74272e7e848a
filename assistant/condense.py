"""Follow-ups -> a standalone query: the first stage of the pipeline.

Rules first, for every engine: an elliptical question that names another expert (那王蕴怎么看？, what about
Wang Yun?) takes the previous topic; a pronoun (他还提到了什么？) or a bare "还有呢？" stays with the previous
answer's expert, avoiding the passages already shown when it asks for more. Only a question that looks
like a follow-up and that the rules cannot resolve goes to an LLM (``prompts/condense.j2``, a short
output limit), and only with an LLM engine (``condense`` = auto) or when asked (``condense`` = llm).

The previous *answered* turn is the one carried over: a refused turn has no topic to inherit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .grounding import MARKER_RE
from .types import Answer

History = Sequence[tuple[str, "Answer | str"]]

# a pronoun or an ellipsis that needs the conversation to be understood
_FOLLOW_UP = re.compile(r"^(那|那么|还有|另外|and\b|what about|how about)|他|她|它|佢|这位|该专家|此人|他们|她们|"
                        r"呢\s*[？?]?\s*$|\b(he|she|his|her|they|their|him)\b", re.IGNORECASE)
_ELLIPTICAL = re.compile(r"^(那|那么|and\b|what about|how about)|呢\s*[？?]?\s*$|怎么看|咋看|怎么说|咋说|观点",
                         re.IGNORECASE)
_MORE = re.compile(r"还|其他|另外|别的|更多|\belse\b|\bother\b|\bmore\b", re.IGNORECASE)
_THING = re.compile(r"(?<!其)它|\bits\b|(?<!\bis )\bit\b(?! is\b)")  # a thing, where 他/她 are a person
_PLURAL = re.compile(r"他们|她们|他俩|两位|佢哋|佢地|\bthey\b|\bboth\b", re.IGNORECASE)  # 佢(哋): Cantonese


@dataclass(frozen=True)
class Query:
    """What retrieval searches for one turn of a chat."""

    text: str  # the search query
    speakers: tuple[str, ...] = ()  # experts to route to (from the conversation)
    avoid: frozenset[str] = field(default_factory=frozenset)  # passages already shown ("还有呢？")
    interpreted: str = ""  # how the question was read, for the reader, when it differs from what they typed
    how: str = ""  # "rules" | "llm" | "context" (the model reads the continued conversation) | "" (standalone)


def looks_like_follow_up(question: str) -> bool:
    return bool(_FOLLOW_UP.search(question))


def _answered(history: History) -> tuple[str, Answer | str] | None:
    """The last turn that was answered (a refusal carries no topic)."""
    for q, a in reversed(list(history)):
        if not isinstance(a, Answer) or (a.decision != "refuse" and not a.abstained):
            return q, a
    return None


def by_rules(question: str, history: History, find: Callable[[str], tuple[str, ...]],
             strip: Callable[[str], str], words: Callable[[str], list[str]]) -> Query | None:
    """The standalone query by rules, or None when the question needs no history or the rules cannot
    resolve it. ``find`` names the experts in a text, ``strip`` removes them, ``words`` gives content words."""
    turn = _answered(history)
    if turn is None:
        return None
    prev_q, prev_a = turn
    named = find(question)
    content = words(strip(question))
    prev_speakers = find(prev_q)
    shown: frozenset[str] = frozenset()
    if isinstance(prev_a, Answer):
        cited = tuple(dict.fromkeys(c.passage.speaker for c in prev_a.citations))
        prev_speakers = prev_speakers or cited
        shown = frozenset(c.passage.id for c in prev_a.citations)
    topic = strip(prev_q).strip(" ？?。.")
    if named and (not content or (_ELLIPTICAL.search(question) and len(content) <= 1)):
        # "那王蕴怎么看？": the previous topic, asked of another expert
        extra = " ".join(content)
        text = f"{' '.join(named)} {topic} {extra}".strip()
        return Query(text, named, frozenset(), f"{'、'.join(named)}：{topic}{('（' + extra + '）') if extra else ''}",
                     "rules")
    if not named and prev_speakers and looks_like_follow_up(question):
        # "他还提到了什么？" / "还有呢？": the same expert(s); new passages when asking for more
        who = prev_speakers if _PLURAL.search(question) else prev_speakers[:1]
        more = bool(_MORE.search(question))
        # 它 (it) stands for a thing of the previous question (那它是哪天开的, after a question about a meeting),
        # not for the expert: the previous topic is searched with it
        thing = bool(_THING.search(question))
        text = question if content and not thing else f"{topic} {question}"
        said = f"{question}（{topic}）" if content and thing else question if content else topic
        reading = f"{'、'.join(who)}：{said}" + ("（其他内容）" if more else "")
        return Query(text, tuple(who), shown if more else frozenset(), reading, "rules")
    if not named and not content and looks_like_follow_up(question):
        # "还有呢？" after an answer that named no one: the same topic, new passages
        return Query(prev_q, (), shown, f"{prev_q}（其他内容）", "rules")
    return None


def llm_prompt_turns(history: History, turns: int) -> list[tuple[str, str]]:
    out = []
    for q, a in list(history)[-max(1, turns):]:
        text = a.text if isinstance(a, Answer) else str(a)
        out.append((q, MARKER_RE.sub("", text)[:300]))
    return out


def clean_rewrite(out: str, question: str) -> str:
    """The model's standalone question, or "" if it gave nothing usable."""
    out = out.strip().splitlines()[0].strip().strip("\"'“”「」") if out.strip() else ""
    out = re.sub(r"^(standalone question|问题|独立问题|改写)\s*[:：]\s*", "", out, flags=re.IGNORECASE)
    if not out or len(out) > 2 * len(question) + 120 or MARKER_RE.search(out):
        return ""
    return out
