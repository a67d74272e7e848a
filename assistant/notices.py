"""What the pipeline tells the reader about an answer, in English (the CLI, JSON, logs) and Chinese (the
chat in the browser). Each notice is written once here, by the stage that raises it, and ``to_chinese``
turns a joined notice back into Chinese by matching these same templates, so the two cannot drift apart."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

SEPARATOR = "；"  # how the pipeline joins notices


@dataclass(frozen=True)
class Notice:
    en: str
    zh: str

    def __call__(self, **values: object) -> str:
        return self.en.format(**values)

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        parts = re.split(r"\{(\w+)\}", self.en)
        return re.compile("".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts)))


QUESTION_CUT = Notice("the question was {length} characters; only the first {limit} were searched",
                      "问题有 {length} 个字符，只检索了前 {limit} 个字符")
LANGUAGE = Notice("the document is in Chinese; answers are given in Chinese or English, so check the cited passages",
                  "文档是中文的，回答只用中文或英文，请对照所引原文")
TRIMMED = Notice("the model's answer stopped at the length limit; its unfinished last sentence was dropped",
                 "模型的回答写到了长度上限，没写完的最后一句已删去")
ATTRIBUTED = Notice("{count} sentence(s) the model left uncited were matched to the passage that supports them",
                    "模型有 {count} 句没标出处，已标上支持它的原文")
NO_CITATIONS = Notice("the model gave no citations; each sentence was matched to the passage that supports it",
                      "模型没有标出处，每句话已标上支持它的原文")
RECITED = Notice("{count} sentence(s) cited to the wrong passage were re-cited to the one that supports them",
                 "模型有 {count} 句标错了出处，已改标为支持它的原文")
REPEATED = Notice("{count} sentence(s) the model repeated were dropped",
                  "模型有 {count} 句重复了前面的话，已删去")
REPLACED = Notice("the model's answer was not backed by the passages (nothing in it is supported); "
                  "showing the extractive answer instead",
                  "模型的回答在原文中找不到依据，下面改为直接摘录原文")
PREMISE_LED = Notice("the model repeated a figure the passages do not have; the passage comes first",
                     "模型重复了原文中没有的数字，先列出原文的说法")
PREMISE = Notice("the question's {figures} is not in the cited passages; go by what the passages say",
                 "提问中的 {figures} 在所引原文中找不到，请以原文为准")
READ_AS_CHINESE = Notice("the question looks like Chinese typed in pinyin; it was searched as: {text}",
                         "问题像是用拼音打的，已按“{text}”检索")
NAME_READ = Notice("the question's {written} was read as {name}, a speaker whose name sounds the same",
                   "问题里的“{written}”已按发言人“{name}”理解（读音相同）")
MODEL_FAILED = Notice("{error}; showing the extractive answer instead",
                      "模型出错（{error}），下面改为直接摘录原文")

ALL = (QUESTION_CUT, LANGUAGE, TRIMMED, ATTRIBUTED, NO_CITATIONS, RECITED, REPEATED, REPLACED, PREMISE_LED, PREMISE,
       READ_AS_CHINESE, NAME_READ, MODEL_FAILED)


def join(*notices: str) -> str:
    return SEPARATOR.join(n for n in notices if n)


def to_chinese(notice: str) -> str:
    """Each part of a joined notice in Chinese; a part that is Chinese already (or unknown) stays as it is.
    (A model error whose own message holds "；" is split there, and its parts stay English.)"""
    out = []
    for part in notice.split(SEPARATOR):
        for n in ALL:
            m = n.pattern.fullmatch(part.strip())
            if m:
                part = n.zh.format(**m.groupdict())
                break
        out.append(part)
    return SEPARATOR.join(out)
