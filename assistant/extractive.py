"""The extractive engine: an answer made of the passages' own best sentences, grouped by
speaker and cited, e.g. 「吕薇（国务院发展研究中心…）认为：…[1]」. No LLM, deterministic,
instant; every sentence is verbatim from the passage it cites."""

from __future__ import annotations

from collections.abc import Iterator

from .generate import Request
from .text import sentence_spans
from .text import weighted_overlap as _score
from .types import EDITORIAL_SPEAKER, UNKNOWN_SPEAKER

MAX_SENTENCES = 5
PER_PASSAGE = 2
MAX_PASSAGES = 4


def compose(request: Request) -> str:
    """The answer text. ``request.hints['weights']`` maps question words to IDF weights."""
    weights: dict[str, float] = request.hints.get("weights", {})
    across = bool(request.hints.get("across"))
    picked: list[tuple[int, int, str]] = []  # (passage rank, position in passage, sentence)
    speakers_used: set[str] = set()
    best = 0.0
    for rank, p in enumerate(request.passages[:MAX_PASSAGES + (2 if across else 0)]):
        sents = [p.text[a:b] for a, b in sentence_spans(p.text)]
        if not sents:
            continue
        scored = sorted(((_score(s, weights), -i, s) for i, s in enumerate(sents)), reverse=True)
        top = scored[0][0]
        if rank > 0 and top <= 0:
            continue
        if rank == 0:
            best = top
        elif not across and p.speaker != request.passages[0].speaker and top < best:
            continue  # another expert only when the passage matches as well as the best one
        take = 1 if across and p.speaker in speakers_used else (PER_PASSAGE + 1 if rank == 0 else PER_PASSAGE)
        for sc, neg_i, s in scored[:take]:
            if sc >= 0.5 * top and (sc > 0 or rank == 0) and len(s) >= 6:
                picked.append((rank, -neg_i, s))
        speakers_used.add(p.speaker)
        if len(picked) >= MAX_SENTENCES:
            break
    picked = picked[:MAX_SENTENCES]
    # group by speaker in order of first appearance; keep passage order inside a group
    order: list[str] = []
    for rank, _, _ in picked:
        sp = request.passages[rank].speaker
        if sp not in order:
            order.append(sp)
    parts = []
    for sp in order:
        group = sorted((r, i, s) for r, i, s in picked if request.passages[r].speaker == sp)
        chunk = request.passages[group[0][0]].chunk
        if sp == EDITORIAL_SPEAKER:
            lead = "编者按指出：" if not request.english else "The editors' introduction says: "
        elif sp == UNKNOWN_SPEAKER:
            lead = "文中写道：" if not request.english else "The document says: "
        else:
            who = f"{sp}（{chunk.affiliation}）" if chunk.affiliation else sp
            lead = f"{who}认为：" if not request.english else f"{sp} ({chunk.affiliation}) says: "
        body = "".join(f"{s}[{r + 1}]" for r, _, s in group)
        parts.append(lead + body)
    return "\n".join(parts)


class ExtractiveGenerator:
    name = "extractive"
    is_llm = False

    def stream(self, request: Request) -> Iterator[str]:
        yield compose(request)
