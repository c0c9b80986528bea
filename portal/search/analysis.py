"""Chinese text analysis for Whoosh: jieba's segmentation (jieba-rs) with sequential positions.

jieba's own ChineseAnalyzer stores character offsets as positions, which breaks phrase queries;
this tokenizer numbers tokens 0, 1, 2 … and keeps character offsets for highlighting. At index
time it also emits the shorter dictionary words inside long ones ("search" mode), so 松阳 finds
松阳县. Programme words come from userdict.txt.
"""

from __future__ import annotations

import re
import threading
from importlib import resources

import rjieba
from whoosh.analysis import LowercaseFilter, Token, Tokenizer

_WORD = re.compile(r"[\w]", re.UNICODE)
_LOCK = threading.Lock()
_SEGMENTER: rjieba.Jieba | None = None


def segmenter() -> rjieba.Jieba:
    """The jieba-rs segmenter with the programme dictionary loaded (once per process)."""
    global _SEGMENTER
    if _SEGMENTER is None:
        with _LOCK:
            if _SEGMENTER is None:
                jieba = rjieba.Jieba()
                text = resources.files("portal.search").joinpath("userdict.txt").read_text("utf-8")
                for line in text.splitlines():
                    parts = line.split()
                    if parts and not line.startswith("#"):
                        freq = int(parts[1]) if len(parts) > 1 else None
                        jieba.add_word(parts[0], freq, None)
                _SEGMENTER = jieba
    return _SEGMENTER


def cut(text: str, *, for_index: bool = False) -> list[tuple[str, int, int]]:
    """(word, start, end) for each word; punctuation and spaces dropped.

    jieba's guessing of unknown words (its HMM) is off: in context it glues a place name to its
    neighbour (乡金村) while the same word typed alone is cut differently, so it would never
    match. For the index, every dictionary word inside a longer word is added too (农村留守儿童
    also gives 留守儿童, 受委托监护人 gives 委托监护), shorter parts before the whole word.
    """
    jieba = segmenter()
    words = [t for t in jieba.tokenize(text, "default", False) if _WORD.search(t[0])]
    if not for_index:
        return words
    out = []
    for word, start, end in words:
        length = len(word)
        if length > 2:
            for i in range(length - 1):
                for j in range(i + 2, length + (i > 0)):
                    if jieba.has_word(word[i:j]):
                        out.append((word[i:j], start + i, start + j))
        out.append((word, start, end))
    return out


class JiebaTokenizer(Tokenizer):
    """Whoosh tokenizer: sequential positions, character offsets, search-mode sub-words."""

    def __call__(
        self,
        value,
        positions=False,
        chars=False,
        keeporiginal=False,
        removestops=True,
        start_pos=0,
        start_char=0,
        tokenize=True,
        mode="",
        **kwargs,
    ):
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        if not tokenize:
            token.original = token.text = value
            token.boost = 1.0
            if positions:
                token.pos = start_pos
            if chars:
                token.startchar, token.endchar = start_char, start_char + len(value)
            yield token
            return
        position = start_pos
        last_end = -1
        for word, start, end in cut(value, for_index=(mode == "index")):
            token.original = token.text = word.strip()
            token.boost = 1.0
            token.stopped = False
            if positions:
                # Sub-words inside a longer word share its place; a new place starts after it.
                if start >= last_end:
                    position += 1 if last_end >= 0 else 0
                token.pos = position
            last_end = max(last_end, end)
            if chars:
                token.startchar, token.endchar = start_char + start, start_char + end
            yield token


def ChineseAnalyzer():  # noqa: N802 - named like Whoosh's analyzers
    return JiebaTokenizer() | LowercaseFilter()


def query_words(text: str) -> list[str]:
    """The distinct words of a user's query, in order, lower-cased."""
    seen: dict[str, None] = {}
    for word, _start, _end in cut(text):
        seen.setdefault(word.lower(), None)
    return list(seen)
