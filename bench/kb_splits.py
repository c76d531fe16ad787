"""FAQ-retrieval splits built from the shared question-pair files (fixed seed).

Pairs labelled 1 are joined into paraphrase groups (union-find). Each group of two or more
questions becomes an FAQ entry (standard question + similar questions) after holding one
question out as a query (two for groups of four or more) whose gold answer is that entry.
Questions never labelled as anyone's paraphrase become distractor entries; they are often
the hard negatives of a query (same topic, different meaning). A share of the groups is left
out of the knowledge base altogether: their queries have no answer (gold id "").

Splits: `afqmc-train` (afqmc train pairs) and `lcqmc-train` (half of lcqmc dev, by connected
component of all pairs) fit the re-ranker and the calibration; `afqmc-test` (afqmc dev) and
`lcqmc-test` (the other half) are only measured. Variants of a split rewrite its queries into
traditional script (`trad`), its entries into traditional script (`trad-kb`) or one character
of each query into a homophone (`asr`). Nothing here is written to disk.
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from bench.common import SHARED_DATA
from bot.kb.types import FAQEntry, KBAnswer

FAQ_DATA = SHARED_DATA / "faq"
SEED = 20240611
UNANSWERABLE_SHARE = 0.15

Pair = tuple[str, str, int]


@dataclass(slots=True)
class Split:
    name: str
    entries: list[FAQEntry]
    queries: list[tuple[str, str]]  # (query text, gold entry id or "" when not in the KB)


def read_pairs(path: Path) -> list[Pair]:
    pairs: list[Pair] = []
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader, None)
        for row in reader:
            if len(row) == 3 and row[2].strip() in ("0", "1"):
                a, b = row[0].strip(), row[1].strip()
                if a and b:
                    pairs.append((a, b, int(row[2])))
    return pairs


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)

    def groups(self) -> list[list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for x in self.parent:
            out[self.find(x)].append(x)
        return [sorted(g) for g in out.values()]


def paraphrase_groups(pairs: Iterable[Pair]) -> list[list[str]]:
    """Groups of questions joined by label-1 pairs; singletons for the rest (sorted)."""
    uf = _UnionFind()
    for a, b, label in pairs:
        uf.find(a)
        uf.find(b)
        if label == 1:
            uf.union(a, b)
    return sorted(uf.groups())


def build_split(name: str, pairs: list[Pair], seed: int = SEED) -> Split:
    rng = random.Random(f"{seed}-{name}")
    groups = paraphrase_groups(pairs)
    rng.shuffle(groups)
    entries: list[FAQEntry] = []
    queries: list[tuple[str, str]] = []
    for group in groups:
        rng.shuffle(group)
        entry_id = f"{name}-{len(entries):05d}"
        if len(group) == 1:
            entries.append(_entry(entry_id, group))
            continue
        held = group[: 2 if len(group) >= 4 else 1]
        if rng.random() < UNANSWERABLE_SHARE:
            queries.extend((q, "") for q in held)
            continue
        entries.append(_entry(entry_id, group[len(held) :]))
        queries.extend((q, entry_id) for q in held)
    return Split(name, entries, queries)


def _entry(entry_id: str, questions: list[str]) -> FAQEntry:
    return FAQEntry(
        id=entry_id, question=questions[0], answer=KBAnswer(text=""), similar=questions[1:]
    )


def split_by_component(pairs: list[Pair], seed: int = SEED) -> tuple[list[Pair], list[Pair]]:
    """Halve `pairs` so that no question (nor its hard negatives) is on both sides."""
    uf = _UnionFind()
    for a, b, _ in pairs:
        uf.union(a, b)
    roots = sorted({uf.find(a) for a, _, _ in pairs})
    random.Random(seed).shuffle(roots)
    first = set(roots[: len(roots) // 2])
    left = [p for p in pairs if uf.find(p[0]) in first]
    right = [p for p in pairs if uf.find(p[0]) not in first]
    return left, right


@lru_cache(maxsize=1)
def _lcqmc_halves() -> tuple[list[Pair], list[Pair]]:
    return split_by_component(read_pairs(FAQ_DATA / "lcqmc" / "pairs_dev.tsv"))


_SOURCES: dict[str, Callable[[], list[Pair]]] = {
    "afqmc-train": lambda: read_pairs(FAQ_DATA / "afqmc" / "pairs_train.tsv"),
    "afqmc-test": lambda: read_pairs(FAQ_DATA / "afqmc" / "pairs_dev.tsv"),
    "lcqmc-train": lambda: _lcqmc_halves()[0],
    "lcqmc-test": lambda: _lcqmc_halves()[1],
}
TRAIN_SPLITS = ("afqmc-train", "lcqmc-train")
TEST_SPLITS = ("afqmc-test", "lcqmc-test")


def load_split(name: str) -> Split:
    """A split by name; `<base>+trad`, `<base>+trad-kb` and `<base>+asr` are variants."""
    base, _, variant = name.partition("+")
    split = build_split(base, _SOURCES[base]())
    return _VARIANTS[variant](split) if variant else split


@lru_cache(maxsize=1)
def _s2t() -> Callable[[str], str]:
    import opencc

    converter = opencc.OpenCC("s2t")
    return converter.convert  # type: ignore[no-any-return]


def trad_queries(split: Split) -> Split:
    to_trad = _s2t()
    return Split(f"{split.name}+trad", split.entries, [(to_trad(q), g) for q, g in split.queries])


def trad_entries(split: Split) -> Split:
    to_trad = _s2t()
    entries = [
        replace(e, question=to_trad(e.question), similar=[to_trad(s) for s in e.similar])
        for e in split.entries
    ]
    return Split(f"{split.name}+trad-kb", entries, split.queries)


@lru_cache(maxsize=1)
def _homophones() -> dict[str, list[str]]:
    """Toneless reading -> common characters with that reading (GB2312 level-1 range)."""
    from pypinyin import Style, lazy_pinyin

    by_sound: dict[str, list[str]] = defaultdict(list)
    for code in range(0xB0A1, 0xD7FA):  # GB2312 level-1 hanzi: the common ones
        try:
            char = bytes([code >> 8, code & 0xFF]).decode("gb2312")
        except UnicodeDecodeError:
            continue
        by_sound[lazy_pinyin(char, style=Style.NORMAL)[0]].append(char)
    return by_sound


def asr_queries(split: Split, seed: int = SEED) -> Split:
    """Replace one Chinese character per query by a homophone, as a recogniser might."""
    from pypinyin import Style, lazy_pinyin

    rng = random.Random(f"{seed}-asr-{split.name}")
    sounds = _homophones()
    out: list[tuple[str, str]] = []
    for query, gold in split.queries:
        chars = list(query)
        readings = lazy_pinyin(query, style=Style.NORMAL, errors=lambda s: ["?"] * len(s))
        spots = [
            i
            for i, (c, r) in enumerate(zip(chars, readings, strict=False))
            if len(sounds.get(r, ())) > 1 and c in sounds[r]
        ]
        if spots and len(readings) == len(chars):
            i = rng.choice(spots)
            chars[i] = rng.choice([c for c in sounds[readings[i]] if c != chars[i]])
        out.append(("".join(chars), gold))
    return Split(f"{split.name}+asr", split.entries, out)


_VARIANTS: dict[str, Callable[[Split], Split]] = {
    "trad": trad_queries,
    "trad-kb": trad_entries,
    "asr": asr_queries,
}


def describe(split: Split) -> dict[str, int]:
    return {
        "entries": len(split.entries),
        "questions": sum(len(e.questions()) for e in split.entries),
        "queries": len(split.queries),
        "unanswerable": sum(1 for _, g in split.queries if not g),
    }


if __name__ == "__main__":
    for split_name in (*TRAIN_SPLITS, *TEST_SPLITS, "afqmc-test+trad", "afqmc-test+asr"):
        s = load_split(split_name)
        print(split_name, describe(s), s.queries[:2])
